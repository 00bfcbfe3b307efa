"""Challenge-response exactly as PROTOCOL.md describes it, one rule per test: the signed bytes, each
failure reason, the recorded verification events (proven or not), and the agent token a success earns
(checked offline against the JWKS, as an MCP server would)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gql.transport.exceptions import TransportError
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.auth.keyring import Keyring
from aim_identity.identity import challenges
from aim_identity.models import AuditLogEntry, VerificationChallenge, VerificationEvent
from tests.conftest import TEST_SECRET
from tests.support import CHALLENGE, VERIFY, AgentKeys, Api, GraphQLError, alert_only, create_agent, verify

REACTIVATE = """mutation($i: SetAgentStatusInput!) { reactivateAgent(input: $i) { agent { status } } }"""

CONTEXT = "aim/agent-challenge/v1"
RFC3339_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EVENTS = """query($id: ID!) { agent(id: $id) { trustScore { score } verificationEvents(first: 50) { totalCount
  edges { node { id result failureReason proven trustScoreBefore trustScoreAfter ipAddress agent { id } } } } } }"""
# What an anonymous caller may read of any answer, failed ones included.
ANSWER = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) {
  verified failureReason agentToken agentTokenExpiresAt agent { id status } event { id result failureReason } } }"""
KEY = Keyring.derive(TEST_SECRET).challenge_key
THREATS = """query($id: ID!) { agent(id: $id) { threats { edges { node { type severity status } } } } }"""
SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""
REVOKE = """mutation($i: SetAgentStatusInput!) { revokeAgent(input: $i) { agent { status } } }"""
ROTATE = """mutation($i: RotateAgentKeyInput!) { rotateAgentKey(input: $i) { agent { publicKey } } }"""
GRANT = """mutation($i: GrantCapabilityInput!) { grantCapability(input: $i) { agent { id } } }"""
OWN_AGENT = """query($id: ID!) { agent(id: $id) { id name status publicKey trustScore { score } } }"""


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def challenge(anonymous: Api, agent: AgentKeys) -> dict:
    return (await anonymous(CHALLENGE, i={"agentId": agent.id}))["requestVerificationChallenge"]


async def answer(anonymous: Api, challenge_id: str, signature: str) -> dict:
    return (await anonymous(ANSWER, i={"challengeId": challenge_id, "signature": signature}))["verifyAgent"]


def signed(key: SigningKey, issued: dict) -> str:
    return b64(key.sign(base64.b64decode(issued["message"])).signature)


def ticket(agent: AgentKeys, expires_in: timedelta, key: bytes = KEY) -> challenges.Ticket:
    """A challenge as the service makes one (or, with another key, as a forger would)."""
    return challenges.mint(key, ids.decode(agent.id, "Agent"), datetime.now(UTC) + expires_in)


async def events(api: Api, agent: AgentKeys) -> dict:
    return (await api(EVENTS, id=agent.id))["agent"]


async def threat_types(api: Api, agent: AgentKeys) -> list[str]:
    return [e["node"]["type"] for e in (await api(THREATS, id=agent.id))["agent"]["threats"]["edges"]]


async def assert_recorded(
    api: Api, agent: AgentKeys, outcome: dict, *, count: int, score_before: float, proven: bool = True
) -> None:
    """The answer is the newest verification event; a proven one moved the score from `score_before`,
    an unproven one left it where it was."""
    data = await events(api, agent)
    assert data["verificationEvents"]["totalCount"] == count
    newest = data["verificationEvents"]["edges"][0]["node"]
    assert newest["id"] == outcome["event"]["id"]
    expected = "VERIFIED" if outcome["verified"] else "FAILED"
    assert (newest["result"], newest["failureReason"], newest["proven"]) == (expected, outcome["failureReason"], proven)
    assert newest["agent"]["id"] == agent.id
    assert newest["trustScoreBefore"] == pytest.approx(score_before, abs=1e-9)
    assert newest["trustScoreAfter"] == pytest.approx(data["trustScore"]["score"], abs=1e-9)
    if not proven:
        assert data["trustScore"]["score"] == pytest.approx(score_before, abs=1e-9)
    # Every answer is also audited.
    audited = (
        await AuditLogEntry.filter(action="agent.verify", target_id=agent.id)
        .order_by("-sequence")
        .values_list("metadata", flat=True)
    )
    assert len(audited) == count
    assert (audited[0]["result"], audited[0]["failureReason"], audited[0]["proven"]) == (
        expected,
        outcome["failureReason"],
        proven,
    )


async def score(api: Api, agent: AgentKeys) -> float:
    return (await events(api, agent))["trustScore"]["score"]


# ---- the signed bytes


async def test_challenge_message_is_exactly_the_protocol_bytes(org, anonymous):
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    message = base64.b64decode(issued["message"], validate=True)
    text = message.decode("utf-8")
    assert not text.endswith("\n")
    lines = text.split("\n")
    assert len(lines) == 5
    assert lines == [CONTEXT, agent.id, issued["id"], issued["nonce"], issued["expiresAt"]]
    assert message == "\n".join(lines).encode()

    assert len(base64.b64decode(issued["nonce"], validate=True)) == 32
    assert RFC3339_SECONDS.match(issued["expiresAt"]), issued["expiresAt"]
    expires = datetime.strptime(issued["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    ahead = (expires - datetime.now(UTC)).total_seconds()
    assert 295 <= ahead <= 301, ahead

    other = await challenge(anonymous, agent)
    assert other["id"] != issued["id"] and other["nonce"] != issued["nonce"]


async def test_success(org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    before = await score(org.admin.api, agent)
    issued = await challenge(anonymous, agent)
    # A success proves who is asking, so the whole answer may be read.
    outcome = (
        await anonymous(VERIFY, i={"challengeId": issued["id"], "signature": signed(agent.signing_key, issued)})
    )["verifyAgent"]

    assert outcome["verified"] is True
    assert outcome["failureReason"] is None
    assert outcome["agent"] == {"id": agent.id, "status": "VERIFIED"}
    assert outcome["event"]["result"] == "VERIFIED"
    assert outcome["event"]["trustScoreBefore"] == pytest.approx(before, abs=1e-9)
    assert outcome["event"]["trustScoreAfter"] > before
    assert outcome["agentToken"]
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before)
    assert (await org.admin.api(OWN_AGENT, id=agent.id))["agent"]["status"] == "VERIFIED"
    assert await threat_types(org.admin.api, agent) == []


async def test_the_event_records_the_callers_address(org):
    agent = await create_agent(org.admin.api)
    caller = Api(org.url)
    await verify(caller, agent)
    assert (await events(org.admin.api, agent))["verificationEvents"]["edges"][0]["node"]["ipAddress"] == caller.ip


# ---- failures are outcomes, recorded; only what the agent's keys signed is scored


async def test_bad_signature(org, anonymous):
    agent = await create_agent(org.admin.api)
    before = await score(org.admin.api, agent)
    issued = await challenge(anonymous, agent)
    outcome = await answer(anonymous, issued["id"], b64(secrets.token_bytes(64)))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "BAD_SIGNATURE")
    assert outcome["agentToken"] is None and outcome["agentTokenExpiresAt"] is None
    assert outcome["agent"]["status"] == "PENDING"
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before, proven=False)


async def test_signature_by_another_agents_key(org, anonymous):
    agent = await create_agent(org.admin.api)
    other = await create_agent(org.admin.api)
    before = await score(org.admin.api, agent)
    issued = await challenge(anonymous, agent)
    outcome = await answer(anonymous, issued["id"], signed(other.signing_key, issued))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "BAD_SIGNATURE")
    assert outcome["agentToken"] is None
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before, proven=False)
    assert (await events(org.admin.api, other))["verificationEvents"]["totalCount"] == 0


async def test_signature_over_other_bytes(org, anonymous):
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    # The right key over the nonce alone, or over another challenge's bytes, is no answer to this one.
    nonce_only = b64(agent.signing_key.sign(base64.b64decode(issued["nonce"])).signature)
    assert (await answer(anonymous, issued["id"], nonce_only))["failureReason"] == "BAD_SIGNATURE"
    first, second = await challenge(anonymous, agent), await challenge(anonymous, agent)
    assert (await answer(anonymous, second["id"], signed(agent.signing_key, first)))["failureReason"] == "BAD_SIGNATURE"


async def test_expired_challenge(org, anonymous):
    agent = await create_agent(org.admin.api)
    before = await score(org.admin.api, agent)
    late = ticket(agent, timedelta(seconds=-1))
    outcome = await answer(anonymous, late.id, agent.sign(late.message(KEY)))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "CHALLENGE_EXPIRED")
    assert outcome["agentToken"] is None
    assert outcome["agent"]["status"] == "PENDING"
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before)


async def test_a_challenge_answers_once_and_a_replay_is_misuse(org, anonymous):
    await alert_only(org)  # the suspension that follows by default would move the score again
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    signature = signed(agent.signing_key, issued)
    first = await answer(anonymous, issued["id"], signature)
    assert first["verified"] is True
    before = await score(org.admin.api, agent)

    replay = await answer(anonymous, issued["id"], signature)
    assert (replay["verified"], replay["failureReason"]) == (False, "CHALLENGE_ALREADY_USED")
    assert replay["agentToken"] is None
    await assert_recorded(org.admin.api, agent, replay, count=2, score_before=before)
    assert await threat_types(org.admin.api, agent) == ["CREDENTIAL_MISUSE"]
    # An open misuse threat costs trust.
    assert await score(org.admin.api, agent) < before


async def test_racing_answers_to_one_challenge_verify_once(org, anonymous):
    await alert_only(org)  # each replay is answered as a replay, not as the suspension it would cause
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    signature = signed(agent.signing_key, issued)
    outcomes = await asyncio.gather(*(answer(Api(org.url), issued["id"], signature) for _ in range(4)))
    assert sorted(str(o["failureReason"]) for o in outcomes) == ["CHALLENGE_ALREADY_USED"] * 3 + ["None"]
    assert sum(1 for o in outcomes if o["agentToken"]) == 1
    assert (await events(org.admin.api, agent))["verificationEvents"]["totalCount"] == 4


async def test_an_answer_no_key_of_the_agent_signed_does_not_spend_the_challenge(org, anonymous):
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    assert (await answer(anonymous, issued["id"], b64(bytes(64))))["failureReason"] == "BAD_SIGNATURE"
    retry = await answer(anonymous, issued["id"], signed(agent.signing_key, issued))
    assert (retry["verified"], retry["failureReason"]) == (True, None)


async def test_a_challenge_the_service_did_not_make(org, anonymous):
    agent = await create_agent(org.admin.api)
    before = await score(org.admin.api, agent)
    forged = ticket(agent, timedelta(minutes=5), key=secrets.token_bytes(32))
    outcome = await answer(anonymous, forged.id, agent.sign(forged.message(KEY)))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "CHALLENGE_NOT_FOUND")
    assert outcome["agent"]["id"] == agent.id
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before, proven=False)


async def test_another_agents_challenge_is_not_found(org, anonymous):
    agent = await create_agent(org.admin.api)
    other = await create_agent(org.admin.api)
    issued = await challenge(anonymous, other)
    # A real challenge, presented under the wrong agent: its HMAC no longer matches.
    _, real = challenges.read(KEY, issued["id"])
    borrowed = challenges.Ticket(ids.decode(agent.id, "Agent"), real.expires_at, real.salt, real.tag)
    outcome = await answer(anonymous, borrowed.id, agent.sign(borrowed.message(KEY)))
    assert outcome["failureReason"] == "CHALLENGE_NOT_FOUND"
    # The other agent's challenge is unspent.
    assert (await answer(anonymous, issued["id"], signed(other.signing_key, issued)))["verified"] is True


@pytest.mark.parametrize(
    "challenge_id",
    [
        "garbage",
        "!!!",
        b64(b"VerificationChallenge:not-a-uuid/also-not"),
        b64(f"VerificationChallenge:{uuid.uuid4()}".encode()),
        b64(f"Agent:{uuid.uuid4()}".encode()),
        b64(f"VerificationChallenge:{uuid.uuid4()}/{uuid.uuid4()}".encode()),  # no such agent
    ],
    ids=["garbage", "not-base64", "not-uuids", "no-challenge-part", "wrong-type", "unknown-agent"],
)
async def test_a_garbage_challenge_id_is_not_found(anonymous, challenge_id):
    code = await anonymous.error(VERIFY, i={"challengeId": challenge_id, "signature": b64(bytes(64))})
    assert code == "NOT_FOUND"


async def test_suspended_agent(org, anonymous):
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    await org.admin.api(SUSPEND, i={"id": agent.id})
    before = await score(org.admin.api, agent)
    outcome = await answer(anonymous, issued["id"], signed(agent.signing_key, issued))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "AGENT_NOT_ACTIVE")
    assert outcome["agentToken"] is None
    assert outcome["agent"]["status"] == "SUSPENDED"
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before)


async def test_revoked_agent(org, anonymous):
    agent = await create_agent(org.admin.api)
    await verify(anonymous, agent)
    await org.admin.api(REVOKE, i={"id": agent.id})
    issued = await challenge(anonymous, agent)
    outcome = await answer(anonymous, issued["id"], signed(agent.signing_key, issued))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "AGENT_NOT_ACTIVE")
    assert outcome["agent"]["status"] == "REVOKED"
    assert outcome["agentToken"] is None


async def test_revoked_key(org, anonymous):
    agent = await create_agent(org.admin.api)
    old = agent.signing_key
    new = SigningKey.generate()
    new_public = b64(bytes(new.verify_key))
    await org.admin.api(
        ROTATE,
        i={
            "agentId": agent.id,
            "newPublicKey": new_public,
            "signature": agent.sign(f"aim/key-rotation/v1\n{agent.id}\n{new_public}".encode()),
        },
    )
    before = await score(org.admin.api, agent)
    issued = await challenge(anonymous, agent)
    outcome = await answer(anonymous, issued["id"], signed(old, issued))
    assert (outcome["verified"], outcome["failureReason"]) == (False, "KEY_REVOKED")
    assert outcome["agentToken"] is None
    await assert_recorded(org.admin.api, agent, outcome, count=1, score_before=before)
    assert await threat_types(org.admin.api, agent) == ["CREDENTIAL_MISUSE"]
    # The default policy suspends an agent whose retired key is used: the current key verifies again
    # once a person has looked and reactivated it.
    refused = await verify(anonymous, agent, signer=new)
    assert (refused["verified"], refused["failureReason"]) == (False, "AGENT_NOT_ACTIVE")
    await org.admin.api(REACTIVATE, i={"id": agent.id})
    assert (await verify(anonymous, agent, signer=new))["verified"] is True


@pytest.mark.parametrize(
    "signature",
    [
        "not base64!",
        "AAAA===",
        b64(bytes(63)),
        b64(bytes(65)),
        b64(bytes(32)),
        "",
    ],
    ids=["garbage", "bad-padding", "63-bytes", "65-bytes", "32-bytes", "empty"],
)
async def test_malformed_signature_is_bad_user_input(org, anonymous, signature):
    agent = await create_agent(org.admin.api)
    issued = await challenge(anonymous, agent)
    assert await anonymous.error(VERIFY, i={"challengeId": issued["id"], "signature": signature}) == "BAD_USER_INPUT"
    # Not an answer: nothing is recorded and the challenge is still good.
    assert (await events(org.admin.api, agent))["verificationEvents"]["totalCount"] == 0
    assert (await answer(anonymous, issued["id"], signed(agent.signing_key, issued)))["verified"] is True


async def test_a_challenge_for_an_unknown_agent_is_not_found(anonymous):
    assert await anonymous.error(CHALLENGE, i={"agentId": ids.encode("Agent", uuid.uuid4())}) == "NOT_FOUND"
    assert await anonymous.error(CHALLENGE, i={"agentId": "garbage"}) == "NOT_FOUND"


async def test_a_caller_from_another_organization_cannot_see_the_agent(org, other_org):
    agent = await create_agent(org.admin.api)
    assert await other_org.admin.api.error(CHALLENGE, i={"agentId": agent.id}) == "NOT_FOUND"


async def test_every_answer_is_a_verification_event(org, anonymous):
    agent = await create_agent(org.admin.api)
    await verify(anonymous, agent)
    stranger = await challenge(anonymous, agent)
    await answer(anonymous, stranger["id"], signed(SigningKey.generate(), stranger))
    issued = await challenge(anonymous, agent)
    await answer(anonymous, issued["id"], signed(agent.signing_key, issued))
    # The agent's score is where its latest answer left it; read before the replay, whose threat may
    # suspend the agent and so move its score outside any verification event.
    verified = await events(org.admin.api, agent)
    latest = verified["verificationEvents"]["edges"][0]["node"]
    assert latest["trustScoreAfter"] == pytest.approx(verified["trustScore"]["score"], abs=1e-9)
    await answer(anonymous, issued["id"], signed(agent.signing_key, issued))

    data = await events(org.admin.api, agent)
    nodes = [e["node"] for e in data["verificationEvents"]["edges"]]
    assert data["verificationEvents"]["totalCount"] == 4
    assert [(n["result"], n["failureReason"], n["proven"]) for n in nodes] == [
        ("FAILED", "CHALLENGE_ALREADY_USED", True),
        ("VERIFIED", None, True),
        ("FAILED", "BAD_SIGNATURE", False),
        ("VERIFIED", None, True),
    ]
    # The scores chain: each event starts where the one before it ended.
    oldest_first = nodes[::-1]
    for earlier, later in itertools.pairwise(oldest_first):
        assert later["trustScoreBefore"] == pytest.approx(earlier["trustScoreAfter"], abs=1e-9)
    assert await VerificationEvent.filter(agent_id=ids.decode(agent.id, "Agent")).count() == 4


# ---- the agent token


async def jwks(server: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{server}/.well-known/jwks.json") as response:
        assert response.status == 200
        return await response.json()


def verify_offline(token: str, key_set: dict) -> dict:
    """What an MCP server does: pick the key by kid from the JWKS, pin EdDSA, check aud and iss."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["typ"] == "aim-agent+jwt"
    jwk = next(k for k in key_set["keys"] if k["kid"] == header["kid"])
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    key = jwt.PyJWK(jwk, algorithm="EdDSA").key
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience="aim-agent",
        issuer="aim",
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


async def test_agent_token_verifies_offline_against_the_jwks(org, anonymous, server):
    agent = await create_agent(org.admin.api, capabilities=["db:read", "file:*"])
    await org.admin.api(GRANT, i={"agentId": agent.id, "capability": "api:call"})
    outcome = await verify(anonymous, agent)
    token = outcome["agentToken"]

    claims = verify_offline(token, await jwks(server))
    assert claims["sub"] == agent.id
    assert claims["org"] == org.id
    assert claims["iss"] == "aim" and claims["aud"] == "aim-agent"
    assert sorted(claims["capabilities"]) == ["api:call", "db:read", "file:*"]
    assert claims["trust_score"] == pytest.approx(outcome["trustScore"]["score"], abs=1e-4)
    raw_public = bytes(agent.signing_key.verify_key)
    assert claims["cnf"] == {
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw_public).rstrip(b"=").decode()}
    }
    now = time.time()
    assert claims["iat"] <= now + 5
    assert claims["exp"] - claims["iat"] == 600
    expires_at = datetime.fromisoformat(outcome["agentTokenExpiresAt"].replace("Z", "+00:00"))
    assert abs(expires_at.timestamp() - claims["exp"]) < 1

    # Pinned verification refuses what it should.
    key_set = await jwks(server)
    with pytest.raises(jwt.InvalidAudienceError):
        header = jwt.get_unverified_header(token)
        key = jwt.PyJWK(next(k for k in key_set["keys"] if k["kid"] == header["kid"]), algorithm="EdDSA").key
        jwt.decode(token, key, algorithms=["EdDSA"], audience="aim-api", issuer="aim")
    forged = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": jwt.get_unverified_header(token)["kid"], "typ": "aim-agent+jwt"},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verify_offline(forged, key_set)


async def test_agent_token_reads_its_own_agent(org, anonymous):
    agent = await create_agent(org.admin.api)
    other = await create_agent(org.admin.api)
    token = (await verify(anonymous, agent))["agentToken"]
    as_agent = anonymous.as_token(token)
    own = (await as_agent(OWN_AGENT, id=agent.id))["agent"]
    assert (own["id"], own["status"], own["publicKey"]) == (agent.id, "VERIFIED", agent.public_key)
    # Only its own.
    assert (await as_agent(OWN_AGENT, id=other.id))["agent"] is None


async def test_an_agent_token_signed_for_another_organization_reads_nothing(org, other_org, anonymous):
    """Signed with AIM's own key, the agent's claims with the organization swapped: authentication
    reads the agent in the organization the token names, finds none, and refuses it."""
    agent = await create_agent(org.admin.api)
    token = (await verify(anonymous, agent))["agentToken"]
    claims, header = jwt.decode(token, options={"verify_signature": False}), jwt.get_unverified_header(token)
    key = Keyring.derive(TEST_SECRET).current.private_key

    def resigned(**changes) -> Api:
        return anonymous.as_token(jwt.encode({**claims, **changes}, key, algorithm="EdDSA", headers=header))

    assert (await resigned()(OWN_AGENT, id=agent.id))["agent"]["id"] == agent.id  # the control
    for forged in (resigned(org=other_org.id), resigned(org=None)):
        assert await refusal(forged, OWN_AGENT, id=agent.id) == "UNAUTHENTICATED"


async def refusal(api: Api, query: str, **variables) -> str:
    """How a call is refused: its GraphQL error code, or the HTTP status if it never got that far."""
    try:
        data = await api(query, **variables)
    except GraphQLError as exc:
        return exc.code
    except TransportError as exc:
        return f"HTTP {getattr(exc, 'code', '?')}"
    raise AssertionError(f"expected a refusal, got {data}")


async def test_agent_token_stops_working_after_suspension(org, anonymous):
    agent = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    assert (await as_agent(OWN_AGENT, id=agent.id))["agent"]["id"] == agent.id
    await org.admin.api(SUSPEND, i={"id": agent.id})
    assert await refusal(as_agent, OWN_AGENT, id=agent.id)  # no data for the suspended agent


async def test_agent_token_stops_working_after_key_rotation(org, anonymous):
    agent = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    new = SigningKey.generate()
    new_public = b64(bytes(new.verify_key))
    await org.admin.api(
        ROTATE,
        i={
            "agentId": agent.id,
            "newPublicKey": new_public,
            "signature": agent.sign(f"aim/key-rotation/v1\n{agent.id}\n{new_public}".encode()),
        },
    )
    # The token is bound (cnf) to the key it was issued for.
    assert await refusal(as_agent, OWN_AGENT, id=agent.id)


async def test_a_dead_agent_token_is_unauthenticated(org, anonymous):
    agent = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    await org.admin.api(SUSPEND, i={"id": agent.id})
    assert await refusal(as_agent, OWN_AGENT, id=agent.id) == "UNAUTHENTICATED"


async def test_asking_for_a_challenge_stores_nothing(org, anonymous):
    agent = await create_agent(org.admin.api)
    issued = [await challenge(anonymous, agent) for _ in range(30)]
    assert len({c["id"] for c in issued}) == 30
    assert not await VerificationChallenge.filter(agent_id=ids.decode(agent.id, "Agent")).exists()
    # Any of them answers, once; answering spends it.
    assert (await answer(anonymous, issued[17]["id"], signed(agent.signing_key, issued[17])))["verified"]
    assert await VerificationChallenge.filter(agent_id=ids.decode(agent.id, "Agent")).count() == 1


async def test_spent_challenges_are_purged_a_day_after_they_expire_and_late_answers_are_told_expired(org, anonymous):
    agent = await create_agent(org.admin.api)
    spent = [await challenge(anonymous, agent) for _ in range(2)]
    for issued in spent:
        assert (await answer(anonymous, issued["id"], signed(agent.signing_key, issued)))["verified"]
    now = datetime.now(UTC)
    rows = await VerificationChallenge.filter(agent_id=ids.decode(agent.id, "Agent")).order_by("expires_at")
    await VerificationChallenge.filter(id=rows[0].id).update(expires_at=now - timedelta(days=2))
    assert await challenges.purge_expired() >= 1
    assert [r.id for r in await VerificationChallenge.filter(agent_id=ids.decode(agent.id, "Agent"))] == [rows[1].id]
    # A late answer, however late, is told expired: the expiry travels in the challenge itself.
    long_gone = ticket(agent, timedelta(days=-3))
    outcome = await answer(anonymous, long_gone.id, agent.sign(long_gone.message(KEY)))
    assert outcome["failureReason"] == "CHALLENGE_EXPIRED"
