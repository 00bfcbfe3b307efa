"""An MCP server proves its key by challenge-response (PROTOCOL.md, `aim/mcp-challenge/v1`): single use,
300 s, the current key only; every answer recorded, audited and scored, and only the server's own
signatures count."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.auth.keyring import Keyring
from aim_identity.identity import challenges
from aim_identity.models import AuditLogEntry, MCPVerificationEvent, Threat, ThreatType
from tests.conftest import TEST_SECRET
from tests.support import Api, Org, create_agent

REGISTER = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"""
CHALLENGE = """mutation($i: RequestMCPChallengeInput!) {
  requestMCPServerChallenge(input: $i) { id nonce message expiresAt } }"""
VERIFY = """mutation($i: VerifyMCPServerInput!) { verifyMCPServer(input: $i) {
  verified failureReason mcpServer { id status } } }"""
SERVER = """query($id: ID!) { mcpServer(id: $id) { status verifiedAt trustScore
  trust { score confidence factors { name value weight contribution explanation } } } }"""
SUSPEND = "mutation($i: MCPServerInput!) { suspendMCPServer(input: $i) { mcpServer { status } } }"
REACTIVATE = "mutation($i: MCPServerInput!) { reactivateMCPServer(input: $i) { mcpServer { status } } }"
KEY = Keyring.derive(TEST_SECRET).challenge_key
UPDATE = "mutation($i: UpdateMCPServerInput!) { updateMCPServer(input: $i) { mcpServer { status } } }"


def b64(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


async def new_server(org: Org, key: SigningKey | None = None) -> str:
    name = f"mcp-{uuid.uuid4().hex[:8]}"
    variables = {"name": name, "url": f"https://{name}.example/mcp", **({"publicKey": b64(key)} if key else {})}
    return (await org.admin.api(REGISTER, i=variables))["registerMCPServer"]["mcpServer"]["id"]


async def challenge(api: Api, server_id: str) -> dict:
    return (await api(CHALLENGE, i={"mcpServerId": server_id}))["requestMCPServerChallenge"]


def signed(issued: dict, key: SigningKey) -> dict:
    signature = key.sign(base64.b64decode(issued["message"])).signature
    return {"challengeId": issued["id"], "signature": base64.b64encode(signature).decode()}


async def answer(api: Api, issued: dict, key: SigningKey) -> dict:
    return (await api(VERIFY, i=signed(issued, key)))["verifyMCPServer"]


async def test_the_server_proves_its_key_and_becomes_verified(org: Org, anonymous: Api):
    key = SigningKey.generate()
    server_id = await new_server(org, key)
    before = (await org.admin.api(SERVER, id=server_id))["mcpServer"]
    issued = await challenge(anonymous, server_id)
    lines = base64.b64decode(issued["message"]).decode().split("\n")
    assert lines[:4] == ["aim/mcp-challenge/v1", server_id, issued["id"], issued["nonce"]]
    expires = datetime.fromisoformat(issued["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(seconds=295) < expires - datetime.now(UTC) <= timedelta(seconds=300)

    outcome = await answer(anonymous, issued, key)
    assert outcome == {"verified": True, "failureReason": None, "mcpServer": {"id": server_id, "status": "VERIFIED"}}
    after = (await org.admin.api(SERVER, id=server_id))["mcpServer"]
    assert after["verifiedAt"] is not None
    verification = next(f for f in after["trust"]["factors"] if f["name"] == "verification")
    assert (verification["value"], verification["explanation"]) == (1.0, "1 of the last 1 challenge answers verified")
    assert after["trustScore"] == after["trust"]["score"] > before["trustScore"]
    assert abs(sum(f["contribution"] for f in after["trust"]["factors"]) - after["trustScore"]) < 1e-9
    event = await MCPVerificationEvent.get(mcp_server_id=ids.decode(server_id, "MCPServer"))
    assert (event.result.value, event.proven, event.trust_score_after) == ("VERIFIED", True, after["trustScore"])
    audited = await AuditLogEntry.filter(target_id=server_id, action="mcp_server.verify").values_list(
        "metadata", flat=True
    )
    assert [m["result"] for m in audited] == ["VERIFIED"]


async def test_every_wrong_answer_fails_with_its_reason(org: Org, anonymous: Api):
    key, stranger = SigningKey.generate(), SigningKey.generate()
    server_id = await new_server(org, key)
    pk = ids.decode(server_id, "MCPServer")

    # Another key, or garbage that still parses as a signature: BAD_SIGNATURE, recorded but not the server's.
    assert (await answer(anonymous, await challenge(anonymous, server_id), stranger))[
        "failureReason"
    ] == "BAD_SIGNATURE"
    # A challenge the service never made (its HMAC is wrong): CHALLENGE_NOT_FOUND.
    forged = challenges.mint(b"\0" * 32, pk, datetime.now(UTC) + timedelta(minutes=5), "MCPServer")
    forged_issued = {"id": forged.id, "message": base64.b64encode(forged.message(b"\0" * 32)).decode()}
    assert (await answer(anonymous, forged_issued, key))["failureReason"] == "CHALLENGE_NOT_FOUND"
    # An agent's challenge is no MCP server's: it names no server.
    agent = await create_agent(org.admin.api)
    agents = (
        await anonymous(
            "mutation($i: RequestChallengeInput!) { requestVerificationChallenge(input: $i) { id message } }",
            i={"agentId": agent.id},
        )
    )["requestVerificationChallenge"]
    assert await anonymous.error(VERIFY, i=signed(agents, agent.signing_key)) == "NOT_FOUND"
    # Expired: signed correctly, too late.
    late = challenges.mint(KEY, pk, datetime.now(UTC) - timedelta(seconds=1), "MCPServer")
    late_issued = {"id": late.id, "message": base64.b64encode(late.message(KEY)).decode()}
    assert (await answer(anonymous, late_issued, key))["failureReason"] == "CHALLENGE_EXPIRED"

    rows = await MCPVerificationEvent.filter(mcp_server_id=pk).order_by("created_at")
    assert [(r.failure_reason.value, r.proven) for r in rows] == [
        ("BAD_SIGNATURE", False),
        ("CHALLENGE_NOT_FOUND", False),
        ("CHALLENGE_EXPIRED", True),
    ]
    status = (await org.admin.api(SERVER, id=server_id))["mcpServer"]
    verification = next(f for f in status["trust"]["factors"] if f["name"] == "verification")
    # Only the answer its key signed counts towards its score.
    assert (status["status"], verification["explanation"]) == ("PENDING", "0 of the last 1 challenge answers verified")


async def test_a_second_answer_is_credential_misuse(org: Org, anonymous: Api):
    key = SigningKey.generate()
    server_id = await new_server(org, key)
    issued = await challenge(anonymous, server_id)
    assert (await answer(anonymous, issued, key))["verified"] is True
    assert (await answer(anonymous, issued, key))["failureReason"] == "CHALLENGE_ALREADY_USED"
    threats = await Threat.filter(mcp_server_id=ids.decode(server_id, "MCPServer"))
    assert [(t.type, t.severity.value) for t in threats] == [(ThreatType.CREDENTIAL_MISUSE, "HIGH")]
    # A stranger replaying garbage raises nothing: misuse needs the server's own signature.
    await answer(anonymous, issued, SigningKey.generate())
    assert await Threat.filter(mcp_server_id=ids.decode(server_id, "MCPServer")).count() == 1


async def test_only_the_current_key_is_accepted(org: Org, anonymous: Api):
    old, new = SigningKey.generate(), SigningKey.generate()
    server_id = await new_server(org, old)
    assert (await answer(anonymous, await challenge(anonymous, server_id), old))["verified"] is True
    # A new key has not proved itself: the server is PENDING again, and the old key no longer answers.
    assert (await org.admin.api(UPDATE, i={"id": server_id, "publicKey": b64(new)}))["updateMCPServer"][
        "mcpServer"
    ] == {"status": "PENDING"}
    assert (await answer(anonymous, await challenge(anonymous, server_id), old))["failureReason"] == "BAD_SIGNATURE"
    assert (await answer(anonymous, await challenge(anonymous, server_id), new))["verified"] is True


async def test_a_suspended_server_cannot_verify(org: Org, anonymous: Api):
    key = SigningKey.generate()
    server_id = await new_server(org, key)
    assert (await org.admin.api(SUSPEND, i={"id": server_id}))["suspendMCPServer"]["mcpServer"]["status"] == "SUSPENDED"
    outcome = await answer(anonymous, await challenge(anonymous, server_id), key)
    assert (outcome["verified"], outcome["failureReason"]) == (False, "AGENT_NOT_ACTIVE")
    score = (await org.admin.api(SERVER, id=server_id))["mcpServer"]["trust"]["factors"][0]
    assert (score["value"], score["explanation"]) == (0.0, "server is suspended")
    assert await org.admin.api.error(SUSPEND, i={"id": server_id}) == "CONFLICT"
    assert (await org.admin.api(REACTIVATE, i={"id": server_id}))["reactivateMCPServer"]["mcpServer"] == {
        "status": "PENDING"
    }
    assert (await answer(anonymous, await challenge(anonymous, server_id), key))["verified"] is True


async def test_bad_input_writes_nothing(org: Org, anonymous: Api):
    key = SigningKey.generate()
    server_id = await new_server(org, key)
    issued = await challenge(anonymous, server_id)
    for signature in ("not base64!", base64.b64encode(b"short").decode()):
        assert (
            await anonymous.error(VERIFY, i={"challengeId": issued["id"], "signature": signature}) == "BAD_USER_INPUT"
        )
    assert await anonymous.error(VERIFY, i={**signed(issued, key), "challengeId": "garbage"}) in (
        "BAD_USER_INPUT",
        "NOT_FOUND",
    )
    assert await MCPVerificationEvent.filter(mcp_server_id=ids.decode(server_id, "MCPServer")).count() == 0
    # A server without a key has nothing to prove; an unknown one is not found.
    keyless = await new_server(org)
    assert await anonymous.error(CHALLENGE, i={"mcpServerId": keyless}) == "CONFLICT"
    assert await anonymous.error(CHALLENGE, i={"mcpServerId": ids.encode("MCPServer", uuid.uuid4())}) == "NOT_FOUND"


async def test_an_anonymous_failure_shows_only_the_id_and_status(org: Org, anonymous: Api):
    key = SigningKey.generate()
    server_id = await new_server(org, key)
    document = """mutation($i: VerifyMCPServerInput!) {
      verifyMCPServer(input: $i) { verified mcpServer { id status name } } }"""
    issued = await challenge(anonymous, server_id)
    assert await anonymous.error(document, i=signed(issued, SigningKey.generate())) == "FORBIDDEN"
    # The server itself, having proved its key, reads its own record.
    proved = (await anonymous(document, i=signed(await challenge(anonymous, server_id), key)))["verifyMCPServer"]
    assert proved["mcpServer"]["name"].startswith("mcp-")
    # Who talks to it stays for people to see.
    who = (
        """mutation($i: VerifyMCPServerInput!) { verifyMCPServer(input: $i) { mcpServer { agents { totalCount } } } }"""
    )
    assert await anonymous.error(who, i=signed(await challenge(anonymous, server_id), key)) == "FORBIDDEN"
