"""The attack script (issue 12): one organization under a scripted attack, against the live server,
watched over a real WebSocket and a real webhook receiver. Each step comes from its own address, as
attackers' steps do. The security engine must raise exactly the threats and the anomaly the steps call
for, suspend as the default policy says, and publish each alert on both channels."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.models import Anomaly, Threat
from tests.delivery.test_websocket import Feed
from tests.identity.test_actions import AUTHORIZE
from tests.security.test_soundness import act
from tests.security.test_threats import LOGIN
from tests.support import (
    CHALLENGE,
    VERIFY,
    VERIFY_OUTCOME,
    Api,
    Org,
    create_agent,
    eventually,
    judged,
    signed_request,
    verify,
)
from tests.webhooks.test_deliveries import CREATE, failing_first

SECURITY = """subscription { securityEvents { kind severity threat { type agent { id } } anomaly { metric }
  agent { id } } }"""
REPORT = """mutation($i: ReportDetectedMCPServersInput!) { reportDetectedMCPServers(input: $i) { agent { id } } }"""
STATUS = "query($id: ID!) { agent(id: $id) { status } }"
ALERTS = ["threat.detected", "anomaly.detected", "agent.suspended"]


async def replay_a_challenge_answer(url: str, agent) -> str:
    """Returns the agent token its own answer earned."""
    attacker = Api(url)
    challenge = (await attacker(CHALLENGE, i={"agentId": agent.id}))["requestVerificationChallenge"]
    answer = {"challengeId": challenge["id"], "signature": agent.sign(base64.b64decode(challenge["message"]))}
    verified = (await attacker(VERIFY, i=answer))["verifyAgent"]  # the agent's own answer
    assert verified["verified"]
    replayed = (await Api(url)(VERIFY_OUTCOME, i=answer))["verifyAgent"]  # captured and sent again
    assert replayed["failureReason"] == "CHALLENGE_ALREADY_USED"
    return verified["agentToken"]


async def learned_history(settings, agent, minutes: int = 90, per_minute: int = 2) -> None:
    """What the agent did before the attack: two reads a minute for an hour and a half."""
    start = datetime.now(UTC) - timedelta(minutes=minutes + 1)
    for minute in range(minutes):
        for i in range(per_minute):
            await act(settings, agent, "db:read", start + timedelta(minutes=minute, seconds=10 + 25 * i))


async def burst(url: str, agent, count: int) -> None:
    sender = Api(url)
    for start in range(0, count, 5):
        answers = await asyncio.gather(
            *(sender(AUTHORIZE, i=signed_request(agent, "db:read")) for _ in range(min(5, count - start)))
        )
        assert all(a["authorizeAction"]["allowed"] for a in answers)


async def test_the_attack_script(org: Org, url, settings, receivers):
    bodies: list[bytes] = []
    receiver = await receivers(failing_first(bodies, failures=0))
    await org.admin.api(CREATE, i={"url": receiver.url, "events": ALERTS})
    replayed = await create_agent(org.admin.api, capabilities=["db:read"])
    busy = await create_agent(org.admin.api, capabilities=["db:read"])
    probed = await create_agent(org.admin.api, capabilities=["db:read"])
    person = await org.member("VIEWER")
    busy_token = (await verify(Api(url), busy))["agentToken"]
    await learned_history(settings, busy)
    await judged(org)

    async with Feed(url, SECURITY, Authorization=f"Bearer {org.admin.api.token}") as feed:
        # 1. A replayed challenge answer.
        replayed_token = await replay_a_challenge_answer(url, replayed)
        # 2. A capability escalation.
        escalation = (await Api(url)(AUTHORIZE, i=signed_request(busy, "iam:roles:escalate")))["authorizeAction"]
        assert not escalation["allowed"] and escalation["threat"]["severity"] == "CRITICAL"
        # 3. A burst of actions at over ten times the agent's learned pace.
        await burst(url, busy, 25)
        # 4. A talk to an MCP server nobody declared.
        await Api(url, token=busy_token)(
            REPORT, i={"agentId": busy.id, "servers": [{"name": "exfil", "url": "https://exfil.example.com/mcp"}]}
        )
        # 5. Twenty failed logins: the account locks after five, and the rest are refused unread.
        guesser = Api(url)
        codes = [await guesser.error(LOGIN, i={"email": person.email, "password": f"guess {i}"}) for i in range(20)]
        assert codes == ["UNAUTHENTICATED"] * settings.login_max_failures + ["RATE_LIMITED"] * (
            20 - settings.login_max_failures
        )
        # 6. A run of failed verifications: answers forged without the agent's key.
        forger = Api(url)
        for _ in range(5):
            assert (await verify(forger, probed, signer=SigningKey.generate()))["failureReason"] == "BAD_SIGNATURE"
        await judged(org)

        organization_id = ids.decode(org.id, "Organization")
        threats = await Threat.filter(organization_id=organization_id).order_by("detected_at")
        found = {(t.type.value, ids.encode("Agent", t.agent_id) if t.agent_id else None) for t in threats}
        assert found == {
            ("CREDENTIAL_MISUSE", replayed.id),
            ("CAPABILITY_VIOLATION", busy.id),
            ("ANOMALOUS_ACTIVITY", busy.id),
            ("CONFIGURATION_DRIFT", busy.id),
            ("BRUTE_FORCE", None),
            ("VERIFICATION_FAILURES", probed.id),
        }
        assert len(threats) == len(found)
        by_type = {t.type.value: t for t in threats}
        assert by_type["BRUTE_FORCE"].evidence["email"] == person.email
        assert by_type["BRUTE_FORCE"].evidence["failures"] == settings.login_max_failures
        assert by_type["VERIFICATION_FAILURES"].evidence["repeats"][-1]["failures"] == 5
        assert by_type["VERIFICATION_FAILURES"].occurrences == 3

        (anomaly,) = await Anomaly.filter(organization_id=organization_id)
        assert anomaly.metric == "action_rate" and anomaly.expected < 2.5 and anomaly.observed >= 10
        assert by_type["ANOMALOUS_ACTIVITY"].evidence["anomalyId"] == ids.encode("Anomaly", anomaly.id)

        # The default policy suspends on credential misuse, and only alerts on the rest.
        statuses = {a.id: (await org.admin.api(STATUS, id=a.id))["agent"]["status"] for a in (replayed, busy, probed)}
        assert statuses == {replayed.id: "SUSPENDED", busy.id: "VERIFIED", probed.id: "PENDING"}
        # The suspended agent's token, good a moment ago, fails at its next use; the others' work.
        assert await Api(url, token=replayed_token).error(STATUS, id=replayed.id) == "UNAUTHENTICATED"
        assert (await Api(url, token=busy_token)(STATUS, id=busy.id))["agent"]["status"] == "VERIFIED"

        # Every alert reached the WebSocket subscriber...
        heard: list[dict] = []

        async def all_heard() -> bool:
            heard.extend(e["securityEvents"] for e in await feed.quiet(0.1))
            return sum(e["kind"] == "threat.detected" for e in heard) >= len(found)

        await eventually(all_heard)
        detected = {
            (e["threat"]["type"], (e["threat"]["agent"] or {}).get("id"))
            for e in heard
            if e["kind"] == "threat.detected"
        }
        assert detected == found
        assert [e["anomaly"]["metric"] for e in heard if e["kind"] == "anomaly.detected"] == ["action_rate"]
        assert [e["agent"]["id"] for e in heard if e["kind"] == "agent.suspended"] == [replayed.id]

    # ...and the webhook, each delivery once.
    async def all_delivered() -> bool:
        return len(bodies) >= len(found) + 2

    await eventually(all_delivered)
    delivered = [json.loads(b) for b in bodies]
    assert sorted(d["kind"] for d in delivered) == sorted(
        ["threat.detected"] * len(found) + ["anomaly.detected", "agent.suspended"]
    )
    assert {d["threatId"] for d in delivered if d["kind"] == "threat.detected"} == {
        ids.encode("Threat", t.id) for t in threats
    }
