"""Nobody can grief an agent without its key. Anyone who knows an agent's ID may ask for challenges,
answer them and send signed requests; only what one of the agent's keys signed counts as the agent's.
The rest is recorded apart (`proven: false`), moves nothing, and is throttled by its source address."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from aim_identity import ids
from aim_identity.auth.keyring import Keyring
from aim_identity.identity import challenges
from aim_identity.models import Threat, ThreatType, VerificationEvent
from tests.conftest import TEST_SECRET
from tests.support import CHALLENGE, VERIFY, Api, GraphQLError, Org, create_agent, judged, signed_request, verify

AUTHORIZE = "mutation($i: AuthorizeActionInput!) { authorizeAction(input: $i) { allowed reason } }"
STANDING = """query($id: ID!) { agent(id: $id) { status trustScore { score factors { name value } } } }"""
ANONYMOUS_VIEW = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) {
  verified failureReason agent { id status } event { id result failureReason } } }"""
LEAKY_VIEW = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) { verified agent { id name publicKey } } }"""
GARBAGE = base64.b64encode(bytes(64)).decode()
ATTEMPTS = 200


async def standing(api: Api, agent) -> dict:
    shown = (await api(STANDING, id=agent.id))["agent"]
    return {
        "status": shown["status"],
        "score": shown["trustScore"]["score"],
        "factors": {f["name"]: f["value"] for f in shown["trustScore"]["factors"] if f["name"] != "age"},
    }


async def outcomes(calls) -> list[str]:
    """Each call's failure reason or error code, one call after another."""
    seen = []
    for call in calls:
        try:
            (result,) = (await call).values()
        except GraphQLError as exc:
            seen.append(exc.code)
        else:
            seen.append(result.get("failureReason") or result.get("reason"))
    return seen


def forged_challenge(agent_id: str) -> str:
    """A challenge ID of the right shape for the agent, minted under a key that is not the service's."""
    return challenges.mint(
        secrets.token_bytes(32), ids.decode(agent_id, "Agent"), datetime.now(UTC) + timedelta(minutes=5)
    ).id


async def test_two_hundred_forged_calls_of_each_kind_leave_the_agent_as_it_was(org: Org, url: str, settings):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    assert (await verify(Api(url), agent))["verified"]
    before = await standing(org.admin.api, agent)
    attacker = Api(url)  # one address, for every call below

    # Challenges, as many as anyone likes: they are not stored, so none is held open against the agent.
    issued = await asyncio.gather(*(attacker(CHALLENGE, i={"agentId": agent.id}) for _ in range(ATTEMPTS)))
    assert len({c["requestVerificationChallenge"]["id"] for c in issued}) == ATTEMPTS
    # Forged challenge IDs, garbage answers to real challenges (twice each), badly signed requests.
    forged = [
        attacker(ANONYMOUS_VIEW, i={"challengeId": forged_challenge(agent.id), "signature": GARBAGE})
        for _ in range(ATTEMPTS)
    ]
    real = [c["requestVerificationChallenge"]["id"] for c in issued]
    garbage = [attacker(ANONYMOUS_VIEW, i={"challengeId": real[n // 2], "signature": GARBAGE}) for n in range(ATTEMPTS)]
    unsigned = [
        attacker(
            AUTHORIZE,
            i={
                "agentId": agent.id,
                "capability": "db:read",
                "timestamp": _now(),
                "nonce": base64.b64encode(secrets.token_bytes(16)).decode(),
                "signature": GARBAGE,
            },
        )
        for _ in range(ATTEMPTS)
    ]
    seen = await outcomes(forged + garbage + unsigned)

    # Each failed once, recorded apart, until the address was throttled.
    limit = settings.login_ip_max_failures
    assert seen[:limit] == ["CHALLENGE_NOT_FOUND"] * limit
    assert set(seen[limit:]) == {"RATE_LIMITED"}
    unproven = await VerificationEvent.filter(agent_id=ids.decode(agent.id, "Agent"), proven=False).count()
    assert unproven == limit
    # Nothing the attacker sent moved the agent or kept it from verifying; the attack is visible as one
    # VERIFICATION_FAILURES threat, which the default policy only alerts on.
    await judged(org)
    assert await standing(org.admin.api, agent) == before | {"score": pytest.approx(before["score"], abs=1e-6)}
    (threat,) = await Threat.filter(agent_id=ids.decode(agent.id, "Agent"))
    assert threat.type == ThreatType.VERIFICATION_FAILURES and threat.evidence["repeats"][-1]["forged"] == limit
    assert threat.evidence["ipAddresses"] == [attacker.ip]
    assert (await verify(Api(url), agent))["verified"]
    # The throttle is on forgeries: a request the agent signed is answered even from that address.
    assert (await attacker(AUTHORIZE, i=signed_request(agent, "db:read")))["authorizeAction"]["allowed"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_replay_is_misuse_only_when_its_signature_verifies(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api)
    issued = (await anonymous(CHALLENGE, i={"agentId": agent.id}))["requestVerificationChallenge"]
    for _ in range(2):  # garbage, twice: no threat
        answer = await anonymous(ANONYMOUS_VIEW, i={"challengeId": issued["id"], "signature": GARBAGE})
        assert answer["verifyAgent"]["failureReason"] == "BAD_SIGNATURE"
    assert not await Threat.exists(agent_id=ids.decode(agent.id, "Agent"))
    signature = agent.sign(base64.b64decode(issued["message"]))
    assert (await anonymous(VERIFY, i={"challengeId": issued["id"], "signature": signature}))["verifyAgent"]["verified"]
    replay = await anonymous(ANONYMOUS_VIEW, i={"challengeId": issued["id"], "signature": signature})
    assert replay["verifyAgent"]["failureReason"] == "CHALLENGE_ALREADY_USED"
    await judged(org)
    # The replay is misuse; with the two forgeries it is also a third failed answer.
    threats = await Threat.filter(agent_id=ids.decode(agent.id, "Agent")).order_by("detected_at")
    assert [t.type.value for t in threats] == ["CREDENTIAL_MISUSE", "VERIFICATION_FAILURES"]


async def test_a_failed_anonymous_answer_shows_no_more_of_the_agent_than_its_id_and_status(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api, name=f"secretive-{secrets.token_hex(4)}")
    shown = await anonymous(ANONYMOUS_VIEW, i={"challengeId": forged_challenge(agent.id), "signature": GARBAGE})
    assert shown["verifyAgent"]["agent"] == {"id": agent.id, "status": "PENDING"}
    assert shown["verifyAgent"]["event"]["failureReason"] == "CHALLENGE_NOT_FOUND"
    with pytest.raises(GraphQLError) as refused:
        await anonymous(LEAKY_VIEW, i={"challengeId": forged_challenge(agent.id), "signature": GARBAGE})
    assert refused.value.code == "FORBIDDEN"
    assert "secretive" not in str(refused.value.errors)


async def test_an_expired_challenge_made_by_the_service_is_told_expired(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api)
    key = Keyring.derive(TEST_SECRET).challenge_key
    late = challenges.mint(key, ids.decode(agent.id, "Agent"), datetime.now(UTC) - timedelta(seconds=1))
    signature = agent.sign(late.message(key))
    answer = await anonymous(ANONYMOUS_VIEW, i={"challengeId": late.id, "signature": signature})
    assert answer["verifyAgent"]["failureReason"] == "CHALLENGE_EXPIRED"
