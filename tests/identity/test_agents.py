"""The agent lifecycle over the live API: registration with the caller's key or a server-made pair
(ARCHITECTURE decision 2), updates, status changes, capability grants, key rotation (PROTOCOL.md,
Key rotation), input validation, and the audit entries and atomicity of every mutation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from tortoise import Tortoise

from aim_identity import ids
from aim_identity.models import Agent, AuditLogEntry, OutboxEvent, Threat, VerificationEvent
from tests.support import CHALLENGE, VERIFY_OUTCOME, AgentKeys, create_agent, verify

AGENT_FIELDS = """id name displayName description agentType status publicKey keyFingerprint
  capabilities { name grantedAt grantedBy { id } } createdBy { id }"""
CREATE = f"""mutation($i: CreateAgentInput!) {{ createAgent(input: $i) {{ privateKey agent {{ {AGENT_FIELDS} }} }} }}"""
UPDATE = f"""mutation($i: UpdateAgentInput!) {{ updateAgent(input: $i) {{ agent {{ {AGENT_FIELDS} }} }} }}"""
DELETE = """mutation($i: DeleteAgentInput!) { deleteAgent(input: $i) { deletedId } }"""
SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { id status } } }"""
REACTIVATE = """mutation($i: SetAgentStatusInput!) { reactivateAgent(input: $i) { agent { id status } } }"""
REVOKE = """mutation($i: SetAgentStatusInput!) { revokeAgent(input: $i) { agent { id status } } }"""
GRANT = """mutation($i: GrantCapabilityInput!) { grantCapability(input: $i) { agent { capabilities { name } } } }"""
UNGRANT = """mutation($i: RevokeCapabilityInput!) { revokeCapability(input: $i) { agent { capabilities { name } } } }"""
ROTATE = (
    """mutation($i: RotateAgentKeyInput!) { rotateAgentKey(input: $i) { agent { id publicKey keyFingerprint } } }"""
)
FEEDBACK = """mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) { agent { id } } }"""
AGENT = f"""query($id: ID!) {{ agent(id: $id) {{ {AGENT_FIELDS} }} }}"""
NODE = """query($id: ID!) { node(id: $id) { id ... on Agent { name } } }"""
THREATS = """query($id: ID!) { agent(id: $id) { threats { totalCount edges { node { type severity } } } } }"""


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unique_name(tag: str = "agent") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def pk(gid: str) -> uuid.UUID:
    return ids.decode(gid, "Agent")


def org_pk(org) -> uuid.UUID:
    return ids.decode(org.id, "Organization")


def rotation_message(agent_id: str, new_public_key: str) -> bytes:
    """PROTOCOL.md, Key rotation: exactly three lines, no trailing newline."""
    return f"aim/key-rotation/v1\n{agent_id}\n{new_public_key}".encode()


async def audit_actions(agent_id: str) -> list[str]:
    return (
        await AuditLogEntry.filter(target_type="Agent", target_id=agent_id)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


async def threat_types(api, agent_id: str) -> list[str]:
    agent = (await api(THREATS, id=agent_id))["agent"]
    return [edge["node"]["type"] for edge in agent["threats"]["edges"]]


async def rotate(api, agent: AgentKeys, new_key: SigningKey, signer: SigningKey | None = None) -> dict:
    new_public = b64(bytes(new_key.verify_key))
    signature = b64((signer or agent.signing_key).sign(rotation_message(agent.id, new_public)).signature)
    return await api(ROTATE, i={"agentId": agent.id, "newPublicKey": new_public, "signature": signature})


# ---- registration


async def test_create_agent_with_a_client_key_stores_that_key(org):
    key = SigningKey.generate()
    raw = bytes(key.verify_key)
    data = (
        await org.admin.api(
            CREATE,
            i={
                "name": unique_name(),
                "displayName": "Billing bot",
                "description": "Reads invoices",
                "agentType": "LANGCHAIN",
                "publicKey": b64(raw),
                "capabilities": ["db:read", "file:*"],
            },
        )
    )["createAgent"]

    assert data["privateKey"] is None  # the caller holds its own key; there is nothing to hand back
    agent = data["agent"]
    assert agent["publicKey"] == b64(raw)
    assert agent["keyFingerprint"] == hashlib.sha256(raw).hexdigest()
    assert agent["status"] == "PENDING"
    assert agent["agentType"] == "LANGCHAIN"
    assert (agent["displayName"], agent["description"]) == ("Billing bot", "Reads invoices")
    assert sorted(c["name"] for c in agent["capabilities"]) == ["db:read", "file:*"]
    assert {c["grantedBy"]["id"] for c in agent["capabilities"]} == {org.admin.user_id}
    assert agent["createdBy"] == {"id": org.admin.user_id}

    row = await Agent.get(id=pk(agent["id"]))
    assert (row.public_key, row.key_fingerprint) == (b64(raw), hashlib.sha256(raw).hexdigest())
    assert (await org.admin.api(AGENT, id=agent["id"]))["agent"] == agent


async def test_create_agent_defaults(org):
    data = await org.admin.api(
        CREATE, i={"name": unique_name(), "publicKey": b64(bytes(SigningKey.generate().verify_key))}
    )
    agent = data["createAgent"]["agent"]
    assert agent["agentType"] == "AI_AGENT"
    assert agent["capabilities"] == []
    assert agent["displayName"] is None and agent["description"] is None


def _needles(seed: bytes) -> dict[str, bytes]:
    return {
        "raw": seed,
        "base64": base64.b64encode(seed),
        "base64 unpadded": base64.b64encode(seed).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(seed).rstrip(b"="),
        "hex": seed.hex().encode(),
        "HEX": seed.hex().upper().encode(),
    }


def _blob(value) -> bytes:
    """A cell as bytes, whatever type the driver gave it, so every form of the seed can be searched."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str).encode()
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (datetime, date, uuid.UUID)):
        return str(value).encode()
    return repr(value).encode()


def _hits(cells, needles: dict[str, bytes]) -> list[str]:
    return [f"{where}: {form}" for where, value in cells for form, needle in needles.items() if needle in _blob(value)]


async def _orm_cells():
    """Every column of every row of every model Tortoise knows."""
    cells = []
    for app in Tortoise.apps.values():
        for name, model in app.items():
            for row in await model.all().values():
                cells += [(f"{name}.{column}", value) for column, value in row.items()]
    return cells


async def _raw_cells():
    """Every column of every table in the database itself, including tables no model maps."""
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "sqlite":
        tables = [
            r["name"] for r in await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    else:
        tables = [
            r["table_name"]
            for r in await conn.execute_query_dict(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]
    assert "agents" in tables
    cells = []
    for table in tables:
        for row in await conn.execute_query_dict(f'SELECT * FROM "{table}"'):
            cells += [(f"{table}.{column}", value) for column, value in row.items()]
    return cells


async def test_server_generated_key_pair_returns_the_seed_once_and_keeps_no_copy(org, anonymous, settings):
    data = (await org.admin.api(CREATE, i={"name": unique_name("keyless")}))["createAgent"]
    seed = base64.b64decode(data["privateKey"], validate=True)
    assert len(seed) == 32
    agent = data["agent"]
    signing_key = SigningKey(seed)
    public = bytes(signing_key.verify_key)
    assert agent["publicKey"] == b64(public)
    assert agent["keyFingerprint"] == hashlib.sha256(public).hexdigest()

    # The seed really is the agent's key: it answers a challenge.
    assert (await verify(anonymous, AgentKeys(agent["id"], signing_key)))["verified"] is True

    # No later read hands the seed out again.
    assert "privateKey" not in (await org.admin.api(AGENT, id=agent["id"]))["agent"]

    needles = _needles(seed)
    # The searches work: they find the public key that is stored.
    assert _hits(await _orm_cells(), _needles(public)), "the ORM search found not even the public key"
    assert _hits(await _raw_cells(), _needles(public)), "the raw search found not even the public key"

    assert _hits(await _orm_cells(), needles) == []
    assert _hits(await _raw_cells(), needles) == []
    if settings.database_url.startswith("sqlite://"):
        path = Path(settings.database_url.removeprefix("sqlite://"))
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")):
            if file.exists():
                content = file.read_bytes()
                assert [form for form, needle in needles.items() if needle in content] == [], file


async def test_each_server_generated_pair_is_new(org):
    first = (await org.admin.api(CREATE, i={"name": unique_name()}))["createAgent"]
    second = (await org.admin.api(CREATE, i={"name": unique_name()}))["createAgent"]
    assert first["privateKey"] != second["privateKey"]
    assert first["agent"]["publicKey"] != second["agent"]["publicKey"]


# ---- validation


@pytest.mark.parametrize(
    "public_key",
    [
        "not base64!",
        "AAAA====",
        b64(bytes(31)),
        b64(bytes(33)),
        b64(bytes(64)),
        "",
    ],
    ids=["garbage", "bad-padding", "31-bytes", "33-bytes", "64-bytes", "empty"],
)
async def test_create_agent_refuses_a_malformed_public_key(org, public_key):
    name = unique_name()
    assert await org.admin.api.error(CREATE, i={"name": name, "publicKey": public_key}) == "BAD_USER_INPUT"
    assert not await Agent.exists(organization_id=org_pk(org), name=name)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_create_agent_refuses_a_bad_name(org, name):
    before = await Agent.filter(organization_id=org_pk(org)).count()
    assert await org.admin.api.error(CREATE, i={"name": name}) == "BAD_USER_INPUT"
    assert await Agent.filter(organization_id=org_pk(org)).count() == before


@pytest.mark.parametrize(
    "capability",
    [
        "",
        "DB:read",
        "db read",
        "db:*:write",
        "db:re*d",
        "*db",
        ":read",
        "db:",
        "x" * 201,
    ],
)
async def test_invalid_capability_names_are_bad_user_input(org, capability):
    name = unique_name()
    assert (
        await org.admin.api.error(CREATE, i={"name": name, "capabilities": ["db:read", capability]}) == "BAD_USER_INPUT"
    )
    assert not await Agent.exists(organization_id=org_pk(org), name=name)

    agent = await create_agent(org.admin.api)
    assert await org.admin.api.error(GRANT, i={"agentId": agent.id, "capability": capability}) == "BAD_USER_INPUT"
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["capabilities"] == []


async def test_duplicate_name_in_one_organization_conflicts(org):
    name = unique_name()
    await create_agent(org.admin.api, name=name)
    assert await org.admin.api.error(CREATE, i={"name": name}) == "CONFLICT"
    # Surrounding blanks do not make a different name.
    assert await org.admin.api.error(CREATE, i={"name": f"  {name} "}) == "CONFLICT"
    assert await Agent.filter(organization_id=org_pk(org), name=name).count() == 1


async def test_the_same_name_in_another_organization_is_fine(org, other_org):
    name = unique_name()
    mine = await create_agent(org.admin.api, name=name)
    theirs = await create_agent(other_org.admin.api, name=name)
    assert mine.id != theirs.id
    assert (await other_org.admin.api(AGENT, id=theirs.id))["agent"]["name"] == name


async def test_a_failed_mutation_writes_nothing(org):
    name = unique_name()
    await create_agent(org.admin.api, name=name)
    org_id = org_pk(org)
    agents = await Agent.filter(organization_id=org_id).count()
    audit = await AuditLogEntry.filter(organization_id=org_id).count()
    outbox = await OutboxEvent.filter(organization_id=org_id).count()

    assert await org.admin.api.error(CREATE, i={"name": name, "capabilities": ["db:read"]}) == "CONFLICT"
    assert await org.admin.api.error(CREATE, i={"name": unique_name(), "publicKey": "nope"}) == "BAD_USER_INPUT"
    assert await org.admin.api.error(CREATE, i={"name": unique_name(), "displayName": "d" * 201}) == "BAD_USER_INPUT"

    assert await Agent.filter(organization_id=org_id).count() == agents
    assert await AuditLogEntry.filter(organization_id=org_id).count() == audit
    assert await OutboxEvent.filter(organization_id=org_id).count() == outbox


async def test_racing_creates_of_one_name_leave_exactly_one_agent(org):
    """Both may pass the early check; the unique index makes the loser a CONFLICT, rolled back whole."""
    name = unique_name("race")
    org_id = org_pk(org)
    audit = await AuditLogEntry.filter(organization_id=org_id, action="agent.create").count()
    created = await OutboxEvent.filter(organization_id=org_id, kind="agent.created").count()

    results = await asyncio.gather(*(org.admin.api(CREATE, i={"name": name}) for _ in range(2)), return_exceptions=True)
    outcomes = sorted("created" if isinstance(r, dict) else getattr(r, "code", repr(r)) for r in results)
    assert outcomes == ["CONFLICT", "created"], results

    assert await Agent.filter(organization_id=org_id, name=name).count() == 1
    assert await AuditLogEntry.filter(organization_id=org_id, action="agent.create").count() == audit + 1
    assert await OutboxEvent.filter(organization_id=org_id, kind="agent.created").count() == created + 1


# ---- updates, deletion


async def test_update_agent_changes_only_the_given_fields(org):
    data = (
        await org.admin.api(
            CREATE, i={"name": unique_name(), "displayName": "Old", "description": "Keep me", "agentType": "CREWAI"}
        )
    )["createAgent"]["agent"]
    updated = (await org.admin.api(UPDATE, i={"id": data["id"], "displayName": "New name", "agentType": "CLAUDE"}))[
        "updateAgent"
    ]["agent"]
    assert updated["displayName"] == "New name"
    assert updated["agentType"] == "CLAUDE"
    assert updated["description"] == "Keep me"
    assert updated["name"] == data["name"]
    assert updated["publicKey"] == data["publicKey"]
    assert (await org.admin.api(AGENT, id=data["id"]))["agent"] == updated


async def test_update_agent_refuses_overlong_text_and_unknown_agents(org, other_org):
    agent = await create_agent(org.admin.api)
    assert await org.admin.api.error(UPDATE, i={"id": agent.id, "description": "d" * 5001}) == "BAD_USER_INPUT"
    assert (
        await org.admin.api.error(UPDATE, i={"id": ids.encode("Agent", uuid.uuid4()), "displayName": "x"})
        == "NOT_FOUND"
    )
    # Another organization's agent is exactly as unknown.
    assert await other_org.admin.api.error(UPDATE, i={"id": agent.id, "displayName": "x"}) == "NOT_FOUND"
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["displayName"] is None


EVIDENCE = """query($id: ID!) { node(id: $id) { id
  ... on VerificationEvent { result agent { id name status deletedAt } }
  ... on Threat { type suspect: agent { id name status deletedAt } } } }"""
AGENTS = """query { agents(first: 100) { totalCount edges { node { id } } } }"""


async def test_deleting_an_agent_leaves_a_tombstone_that_keeps_its_evidence(org, anonymous):
    name = unique_name()
    agent = await create_agent(org.admin.api, name=name, capabilities=["db:read"])
    verified = await verify(anonymous, agent)
    event_id, token = verified["event"]["id"], verified["agentToken"]
    # A replayed answer raises a CREDENTIAL_MISUSE threat against the agent.
    challenge = (await anonymous(CHALLENGE, i={"agentId": agent.id}))["requestVerificationChallenge"]
    answer = {"challengeId": challenge["id"], "signature": agent.sign(base64.b64decode(challenge["message"]))}
    await anonymous(VERIFY_OUTCOME, i=answer)
    await anonymous(VERIFY_OUTCOME, i=answer)
    [threat_id] = [t.id for t in await Threat.filter(agent_id=pk(agent.id))]

    data = await org.admin.api(DELETE, i={"id": agent.id})
    assert data["deleteAgent"]["deletedId"] == agent.id

    # Gone from every live read, and from every credential and signature path.
    assert (await org.admin.api(AGENT, id=agent.id))["agent"] is None
    assert (await org.admin.api(NODE, id=agent.id))["node"] is None
    assert agent.id not in {e["node"]["id"] for e in (await org.admin.api(AGENTS))["agents"]["edges"]}
    assert await org.admin.api.error(DELETE, i={"id": agent.id}) == "NOT_FOUND"
    assert await anonymous.error(CHALLENGE, i={"agentId": agent.id}) == "NOT_FOUND"
    assert await anonymous.as_token(token).error(AGENT, id=agent.id) == "UNAUTHENTICATED"

    # Its evidence stays readable, naming the agent as the tombstone it is.
    tombstone = {"id": agent.id, "name": name, "status": "REVOKED"}
    event = (await org.admin.api(EVIDENCE, id=event_id))["node"]
    threat = (await org.admin.api(EVIDENCE, id=ids.encode("Threat", threat_id)))["node"]
    assert (event["result"], threat["type"]) == ("VERIFIED", "CREDENTIAL_MISUSE")
    for shown in (event["agent"], threat["suspect"]):
        assert {k: shown[k] for k in tombstone} == tombstone and shown["deletedAt"]
    assert await VerificationEvent.filter(agent_id=pk(agent.id)).count() == 3
    assert (await audit_actions(agent.id))[-1] == "agent.delete"
    assert "agent.verify" in await audit_actions(agent.id)

    # The name is free for a new agent; the tombstone keeps its own.
    again = await create_agent(org.admin.api, name=name)
    assert again.id != agent.id
    assert (await org.admin.api(EVIDENCE, id=event_id))["node"]["agent"]["id"] == agent.id


async def test_delete_needs_a_manager(org):
    agent = await create_agent(org.admin.api)
    member = await org.member("MEMBER")
    assert await member.api.error(DELETE, i={"id": agent.id}) == "FORBIDDEN"
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["id"] == agent.id


# ---- status


async def test_suspend_and_reactivate_a_pending_agent_returns_it_to_pending(org):
    agent = await create_agent(org.admin.api)
    assert (await org.admin.api(SUSPEND, i={"id": agent.id, "reason": "audit"}))["suspendAgent"]["agent"][
        "status"
    ] == "SUSPENDED"
    assert await org.admin.api.error(SUSPEND, i={"id": agent.id}) == "CONFLICT"
    assert (await org.admin.api(REACTIVATE, i={"id": agent.id}))["reactivateAgent"]["agent"]["status"] == "PENDING"
    assert await org.admin.api.error(REACTIVATE, i={"id": agent.id}) == "CONFLICT"


async def test_reactivating_a_verified_agent_returns_it_to_verified(org, anonymous):
    agent = await create_agent(org.admin.api)
    assert (await verify(anonymous, agent))["agent"]["status"] == "VERIFIED"
    await org.admin.api(SUSPEND, i={"id": agent.id})
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["status"] == "SUSPENDED"
    assert (await org.admin.api(REACTIVATE, i={"id": agent.id}))["reactivateAgent"]["agent"]["status"] == "VERIFIED"


async def test_a_revoked_agent_stays_revoked(org):
    agent = await create_agent(org.admin.api)
    assert (await org.admin.api(REVOKE, i={"id": agent.id, "reason": "leaked"}))["revokeAgent"]["agent"][
        "status"
    ] == "REVOKED"
    assert await org.admin.api.error(REACTIVATE, i={"id": agent.id}) == "CONFLICT"
    assert await org.admin.api.error(SUSPEND, i={"id": agent.id}) == "CONFLICT"
    assert await org.admin.api.error(REVOKE, i={"id": agent.id}) == "CONFLICT"
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["status"] == "REVOKED"


async def test_a_suspended_agent_can_be_revoked(org):
    agent = await create_agent(org.admin.api)
    await org.admin.api(SUSPEND, i={"id": agent.id})
    assert (await org.admin.api(REVOKE, i={"id": agent.id}))["revokeAgent"]["agent"]["status"] == "REVOKED"


async def test_status_changes_need_a_manager(org):
    agent = await create_agent(org.admin.api)
    member = await org.member("MEMBER")
    for mutation in (SUSPEND, REVOKE):
        assert await member.api.error(mutation, i={"id": agent.id}) == "FORBIDDEN"
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["status"] == "PENDING"


# ---- capabilities


async def test_grant_and_revoke_capabilities(org):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    granted = (await org.admin.api(GRANT, i={"agentId": agent.id, "capability": "file:*"}))["grantCapability"]
    assert sorted(c["name"] for c in granted["agent"]["capabilities"]) == ["db:read", "file:*"]
    # Granting what it already holds changes nothing.
    again = (await org.admin.api(GRANT, i={"agentId": agent.id, "capability": "file:*"}))["grantCapability"]
    assert sorted(c["name"] for c in again["agent"]["capabilities"]) == ["db:read", "file:*"]

    revoked = (await org.admin.api(UNGRANT, i={"agentId": agent.id, "capability": "db:read"}))["revokeCapability"]
    assert [c["name"] for c in revoked["agent"]["capabilities"]] == ["file:*"]
    assert [c["name"] for c in (await org.admin.api(AGENT, id=agent.id))["agent"]["capabilities"]] == ["file:*"]


async def test_revoking_a_capability_the_agent_does_not_hold_is_not_found(org):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    assert await org.admin.api.error(UNGRANT, i={"agentId": agent.id, "capability": "db:write"}) == "NOT_FOUND"
    # A grant is not a prefix of a narrower capability.
    assert await org.admin.api.error(UNGRANT, i={"agentId": agent.id, "capability": "db:*"}) == "NOT_FOUND"
    assert [c["name"] for c in (await org.admin.api(AGENT, id=agent.id))["agent"]["capabilities"]] == ["db:read"]


async def test_capability_changes_need_a_manager(org):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    member = await org.member("MEMBER")
    assert await member.api.error(GRANT, i={"agentId": agent.id, "capability": "db:write"}) == "FORBIDDEN"
    assert await member.api.error(UNGRANT, i={"agentId": agent.id, "capability": "db:read"}) == "FORBIDDEN"


# ---- key rotation


async def test_rotate_agent_key_with_a_signature_by_the_current_key(org, anonymous):
    agent = await create_agent(org.admin.api)
    old = agent.signing_key
    new = SigningKey.generate()
    rotated = (await rotate(org.admin.api, agent, new))["rotateAgentKey"]["agent"]
    new_raw = bytes(new.verify_key)
    assert rotated["publicKey"] == b64(new_raw)
    assert rotated["keyFingerprint"] == hashlib.sha256(new_raw).hexdigest()

    # The old key no longer verifies anything, and its use is credential misuse.
    stale = await verify(anonymous, agent, signer=old)
    assert (stale["verified"], stale["failureReason"], stale["agentToken"]) == (False, "KEY_REVOKED", None)
    assert "CREDENTIAL_MISUSE" in await threat_types(org.admin.api, agent.id)
    # Which suspends the agent (the default policy) until a person reactivates it.
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["status"] == "SUSPENDED"
    await org.admin.api(REACTIVATE, i={"id": agent.id})

    agent.signing_key = new
    fresh = await verify(anonymous, agent)
    assert (fresh["verified"], fresh["failureReason"]) == (True, None)
    assert (await audit_actions(agent.id)).count("agent.key_rotate") == 1


async def test_a_rotation_signed_by_a_wrong_key_is_forbidden(org, anonymous):
    agent = await create_agent(org.admin.api)
    before = (await org.admin.api(AGENT, id=agent.id))["agent"]
    assert (
        await org.admin.api.error(
            ROTATE,
            i={
                "agentId": agent.id,
                "newPublicKey": b64(bytes(SigningKey.generate().verify_key)),
                "signature": b64(SigningKey.generate().sign(b"anything").signature),
            },
        )
        == "FORBIDDEN"
    )
    intruder = SigningKey.generate()
    new_public = b64(bytes(intruder.verify_key))
    # Signed by the new key itself, not the current one.
    assert (
        await org.admin.api.error(
            ROTATE,
            i={
                "agentId": agent.id,
                "newPublicKey": new_public,
                "signature": b64(intruder.sign(rotation_message(agent.id, new_public)).signature),
            },
        )
        == "FORBIDDEN"
    )
    # The current key's signature over another agent's rotation message does not carry over.
    other = await create_agent(org.admin.api)
    assert (
        await org.admin.api.error(
            ROTATE,
            i={
                "agentId": agent.id,
                "newPublicKey": new_public,
                "signature": agent.sign(rotation_message(other.id, new_public)),
            },
        )
        == "FORBIDDEN"
    )
    # The current key's signature over the bare new key, without the context line, is not a rotation.
    assert (
        await org.admin.api.error(
            ROTATE,
            i={"agentId": agent.id, "newPublicKey": new_public, "signature": agent.sign(bytes(intruder.verify_key))},
        )
        == "FORBIDDEN"
    )

    assert (await org.admin.api(AGENT, id=agent.id))["agent"] == before
    assert (await verify(anonymous, agent))["verified"] is True
    # A key that was never the agent's is a wrong signature, not misuse of a retired key.
    assert "CREDENTIAL_MISUSE" not in await threat_types(org.admin.api, agent.id)
    assert "agent.key_rotate" not in await audit_actions(agent.id)


async def test_a_rotation_signed_by_the_retired_key_is_forbidden_and_misuse(org):
    agent = await create_agent(org.admin.api)
    old = agent.signing_key
    second = SigningKey.generate()
    await rotate(org.admin.api, agent, second)
    agent.signing_key = second
    assert await threat_types(org.admin.api, agent.id) == []

    try:
        await rotate(org.admin.api, agent, SigningKey.generate(), signer=old)
    except Exception as exc:
        assert getattr(exc, "code", None) == "FORBIDDEN", exc
    else:
        raise AssertionError("a rotation signed by the retired key was accepted")

    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["publicKey"] == agent.public_key
    assert await threat_types(org.admin.api, agent.id) == ["CREDENTIAL_MISUSE"]
    # The current key still rotates.
    third = SigningKey.generate()
    assert (await rotate(org.admin.api, agent, third))["rotateAgentKey"]["agent"]["publicKey"] == b64(
        bytes(third.verify_key)
    )


async def test_rotation_input_is_validated(org):
    agent = await create_agent(org.admin.api)
    new_public = b64(bytes(SigningKey.generate().verify_key))
    good_signature = agent.sign(rotation_message(agent.id, new_public))
    for new_key, signature in [
        ("not base64", good_signature),
        (b64(bytes(16)), good_signature),
        (new_public, "not base64"),
        (new_public, b64(bytes(63))),
    ]:
        assert (
            await org.admin.api.error(ROTATE, i={"agentId": agent.id, "newPublicKey": new_key, "signature": signature})
            == "BAD_USER_INPUT"
        )
    # Rotating to the key it already holds is no rotation.
    assert (
        await org.admin.api.error(
            ROTATE,
            i={
                "agentId": agent.id,
                "newPublicKey": agent.public_key,
                "signature": agent.sign(rotation_message(agent.id, agent.public_key)),
            },
        )
        == "BAD_USER_INPUT"
    )
    assert (
        await org.admin.api.error(
            ROTATE,
            i={"agentId": ids.encode("Agent", uuid.uuid4()), "newPublicKey": new_public, "signature": good_signature},
        )
        == "NOT_FOUND"
    )
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["publicKey"] == agent.public_key


async def test_an_agent_may_rotate_its_own_key_with_its_agent_token(org, anonymous):
    agent = await create_agent(org.admin.api)
    token = (await verify(anonymous, agent))["agentToken"]
    new = SigningKey.generate()
    rotated = (await rotate(anonymous.as_token(token), agent, new))["rotateAgentKey"]["agent"]
    assert rotated["publicKey"] == b64(bytes(new.verify_key))


# ---- the audit trail


async def test_every_agent_mutation_leaves_an_audit_entry(org):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    await org.admin.api(UPDATE, i={"id": agent.id, "description": "updated"})
    await org.admin.api(GRANT, i={"agentId": agent.id, "capability": "db:write"})
    await org.admin.api(UNGRANT, i={"agentId": agent.id, "capability": "db:read"})
    await org.admin.api(FEEDBACK, i={"agentId": agent.id, "rating": 4})
    new = SigningKey.generate()
    await rotate(org.admin.api, agent, new)
    await org.admin.api(SUSPEND, i={"id": agent.id, "reason": "investigation"})
    await org.admin.api(REACTIVATE, i={"id": agent.id})
    await org.admin.api(REVOKE, i={"id": agent.id})
    await org.admin.api(DELETE, i={"id": agent.id})

    assert await audit_actions(agent.id) == [
        "agent.create",
        "agent.update",
        "agent.capability_grant",
        "agent.capability_revoke",
        "agent.feedback",
        "agent.key_rotate",
        "agent.suspend",
        "agent.reactivate",
        "agent.revoke",
        "agent.delete",
    ]
    entries = await AuditLogEntry.filter(target_id=agent.id).order_by("sequence")
    for entry in entries:
        assert entry.organization_id == org_pk(org)
        assert (entry.actor_type, entry.actor_id, entry.target_type) == ("user", org.admin.user_id, "Agent")
    by_action = {e.action: e.metadata for e in entries}
    assert by_action["agent.suspend"]["reason"] == "investigation"
    assert by_action["agent.suspend"]["previous"] == "PENDING"
    assert by_action["agent.capability_grant"]["capability"] == "db:write"
    assert by_action["agent.create"]["capabilities"] == ["db:read"]
    assert by_action["agent.key_rotate"]["fingerprint"] == hashlib.sha256(bytes(new.verify_key)).hexdigest()
    # The entries are links of the organization's chain: consecutive sequences hash onto each other.
    chain = await AuditLogEntry.filter(organization_id=org_pk(org)).order_by("sequence")
    assert [e.sequence for e in chain] == list(range(1, len(chain) + 1))
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(chain))


async def test_audit_entries_never_carry_a_private_seed(org):
    data = (await org.admin.api(CREATE, i={"name": unique_name()}))["createAgent"]
    entry = await AuditLogEntry.get(target_id=data["agent"]["id"], action="agent.create")
    assert entry.metadata["serverGeneratedKey"] is True
    assert data["privateKey"] not in json.dumps(entry.metadata)
