"""The rules that read the event stream, each fired by real requests to the live server and judged by
the detector the server runs: failed verifications, trust drops and failed logins, per subject and per
address, quiet below their thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.auth.keyring import Keyring
from aim_identity.identity import challenges
from aim_identity.models import DetectionCursor, OutboxEvent, Threat, ThreatType
from aim_identity.unit_of_work import atomic
from tests.conftest import TEST_SECRET
from tests.security.test_threats import LOGIN, listed, violate
from tests.support import VERIFY_OUTCOME, Api, Org, create_agent, judged, verify

KEY = Keyring.derive(TEST_SECRET).challenge_key

POLICY = """mutation($i: UpdateSecurityPolicyInput!) { updateSecurityPolicy(input: $i) { threshold windowSeconds } }"""
SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""


async def forge(anonymous: Api, agent, times: int) -> None:
    for _ in range(times):
        outcome = await verify(anonymous, agent, signer=SigningKey.generate())
        assert outcome["failureReason"] == "BAD_SIGNATURE"


async def test_failed_verifications_for_one_agent_raise_one_threat_once_past_the_threshold(org: Org, anonymous):
    agent = await create_agent(org.admin.api)
    await forge(anonymous, agent, 2)
    await judged(org)
    assert await listed(org.admin.api, type=["VERIFICATION_FAILURES"]) == []  # below the threshold of 3

    await forge(anonymous, agent, 2)
    await judged(org)
    (threat,) = await listed(org.admin.api, type=["VERIFICATION_FAILURES"])
    assert threat["agent"]["id"] == agent.id and threat["severity"] == "MEDIUM"
    assert threat["occurrences"] == 2  # the third failure raised it, the fourth joined it
    assert threat["evidence"]["failures"] == 3 and threat["evidence"]["forged"] == 3
    assert threat["evidence"]["ipAddresses"] == [anonymous.ip]
    # Forged answers cannot hurt the agent: the default policy alerts, and the agent stays as it was.
    assert (await org.admin.api("query($id: ID!) { agent(id: $id) { status } }", id=agent.id))["agent"] == {
        "status": "PENDING"
    }


async def test_one_address_failing_across_agents_is_a_threat_of_its_own(org: Org, anonymous):
    agents = [await create_agent(org.admin.api) for _ in range(3)]
    for agent in agents:
        await forge(anonymous, agent, 1)
    await judged(org)
    (threat,) = await listed(org.admin.api, type=["VERIFICATION_FAILURES"])
    assert threat["agent"] is None
    assert threat["evidence"] | {"repeats": None} == {
        "failures": 3,
        "agents": 3,
        "ipAddress": anonymous.ip,
        "key": "",
        "at": threat["evidence"]["at"],
        "repeats": None,
    }


async def late_answer(anonymous: Api, agent) -> None:
    """An answer the agent signed to a challenge that had expired: a failure that lowers its score."""
    late = challenges.mint(KEY, ids.decode(agent.id, "Agent"), datetime.now(UTC) - timedelta(seconds=1))
    answer = {"challengeId": late.id, "signature": agent.sign(late.message(KEY))}
    assert (await anonymous(VERIFY_OUTCOME, i=answer))["verifyAgent"]["failureReason"] == "CHALLENGE_EXPIRED"


async def test_a_trust_drop_past_the_threshold_is_a_threat_and_a_rise_is_not(org: Org, anonymous):
    await org.admin.api(
        POLICY,
        i={"threatType": "TRUST_SCORE_DROP", "minSeverity": "LOW", "action": "ALERT", "enabled": True}
        | {"threshold": 0.05},
    )
    agent = await create_agent(org.admin.api)
    await verify(anonymous, agent)  # a rise
    await judged(org)
    assert await listed(org.admin.api, type=["TRUST_SCORE_DROP"]) == []

    for _ in range(2):  # fewer than VERIFICATION_FAILURES needs, which would explain the drop
        await late_answer(anonymous, agent)
    await judged(org)
    (threat,) = await listed(org.admin.api, type=["TRUST_SCORE_DROP"])
    evidence = threat["evidence"]
    assert threat["agent"]["id"] == agent.id
    assert evidence["drop"] >= 0.05 and abs(evidence["peak"] - evidence["current"] - evidence["drop"]) < 1e-6
    assert evidence["reason"] == "verification failed: CHALLENGE_EXPIRED"


async def test_a_drop_another_threat_explains_or_a_suspension_causes_is_not_raised_again(org: Org, anonymous):
    await org.admin.api(
        POLICY,
        i={"threatType": "TRUST_SCORE_DROP", "minSeverity": "LOW", "action": "ALERT", "enabled": True}
        | {"threshold": 0.01},
    )
    violator, suspended = [await create_agent(org.admin.api, capabilities=["db:read"]) for _ in range(2)]
    for agent in (violator, suspended):
        await verify(anonymous, agent)
    await violate(anonymous, violator, "db:drop")  # a CAPABILITY_VIOLATION, and a lower score
    await org.admin.api(SUSPEND, i={"id": suspended.id, "reason": "test"})
    await judged(org)
    assert [t["type"] for t in await listed(org.admin.api)] == ["CAPABILITY_VIOLATION"]


async def test_failed_logins_for_one_account_raise_one_brute_force_threat(org: Org, url, settings):
    target = await org.member("VIEWER")
    attacker = Api(url)
    for i in range(settings.login_max_failures - 1):
        await attacker.error(LOGIN, i={"email": target.email, "password": f"guess {i}"})
    await judged(org)
    assert await listed(org.admin.api, type=["BRUTE_FORCE"]) == []
    await attacker.error(LOGIN, i={"email": target.email, "password": "one more"})
    await judged(org)
    (threat,) = await listed(org.admin.api, type=["BRUTE_FORCE"])
    assert threat["evidence"]["email"] == target.email and threat["evidence"]["failures"] == 5
    assert threat["evidence"]["userId"] == target.user_id


async def test_failed_logins_from_one_address_across_accounts_are_a_threat_against_the_address(org: Org, url):
    people = [await org.member("VIEWER") for _ in range(5)]
    attacker = Api(url)
    for person in people:
        await attacker.error(LOGIN, i={"email": person.email, "password": "guess"})
    await judged(org)
    (threat,) = await listed(org.admin.api, type=["BRUTE_FORCE"])
    assert threat["evidence"]["ipAddress"] == attacker.ip and threat["evidence"]["accounts"] == 5


async def test_a_disabled_rule_raises_nothing(org: Org, anonymous):
    await org.admin.api(
        POLICY, i={"threatType": "VERIFICATION_FAILURES", "minSeverity": "LOW", "action": "ALERT", "enabled": False}
    )
    agent = await create_agent(org.admin.api)
    await forge(anonymous, agent, 4)
    await judged(org)
    assert await listed(org.admin.api, type=["VERIFICATION_FAILURES"]) == []


async def test_a_policy_may_suspend_on_failed_verifications(org: Org, anonymous):
    await org.admin.api(
        POLICY,
        i={"threatType": "VERIFICATION_FAILURES", "minSeverity": "LOW", "action": "ALERT_AND_SUSPEND", "enabled": True},
    )
    agent = await create_agent(org.admin.api)
    await forge(anonymous, agent, 3)
    await judged(org)
    status = (await org.admin.api("query($id: ID!) { agent(id: $id) { status } }", id=agent.id))["agent"]
    assert status == {"status": "SUSPENDED"}


async def test_the_detector_judges_each_event_once(org: Org, anonymous):
    """Its cursor moves with what it wrote: judging again finds nothing to raise twice."""
    agent = await create_agent(org.admin.api)
    await forge(anonymous, agent, 3)
    await judged(org)
    organization_id = ids.decode(org.id, "Organization")
    cursor = await DetectionCursor.get(organization_id=organization_id)
    last = await OutboxEvent.filter(organization_id=organization_id).order_by("-id").first()
    assert last is not None and cursor.cursor == last.id
    threats = await Threat.filter(organization_id=organization_id, type=ThreatType.VERIFICATION_FAILURES)
    assert [t.occurrences for t in threats] == [1]


async def test_an_event_the_rules_cannot_read_is_passed_over_and_the_rest_are_judged(org: Org, anonymous):
    organization_id = ids.decode(org.id, "Organization")
    async with atomic(Actor(organization_id, "system", "test")) as work:
        work.emit("agent.trust_changed", agentId="not an agent", previous=0.9, current=0.1)
    agent = await create_agent(org.admin.api)
    await forge(anonymous, agent, 3)
    await judged(org)
    (threat,) = await listed(org.admin.api)
    assert threat["type"] == "VERIFICATION_FAILURES" and threat["agent"]["id"] == agent.id
