"""Tenancy (ARCHITECTURE.md, decision 1): everything is scoped to the caller's organization, and an ID
from another organization behaves exactly like an ID that never existed.

Two organizations, A and B, each with agents (verified, with capabilities, trust history and
verification events), a threat, an MCP server linked to an agent, API keys and users. A's
administrator then tries every list, `node(id:)`, `agent(id:)`, nested field and mutation on B's IDs
and must get what a random unknown ID of the same type gets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import rfc8785
from nacl.signing import SigningKey
from tortoise import fields as tortoise_fields

from aim_identity import ids
from aim_identity import models as m
from aim_identity.identity import challenges
from aim_identity.tenancy import _ORG_PATH
from tests.support import CHALLENGE, AgentKeys, Api, GraphQLError, Org, Person, create_agent, register, verify

PACKAGE = Path(__file__).resolve().parent.parent / "aim_identity"


@dataclass
class Side:
    """One organization and what it holds."""

    org: Org
    member: Person
    verified: AgentKeys  # verified, with capabilities, trust history and verification events
    other: AgentKeys  # a second agent of the same organization
    event_id: str  # a verification event of `verified`
    key_id: str  # an API key made by the admin
    threat_id: str  # a threat about `verified`
    mcp_id: str  # an MCP server `verified` talks to
    agent_token: str  # `verified`'s own agent token
    decisions: dict[str, str]  # an allowed action decision of each agent: "verified", "other"
    webhook_id: str  # a webhook of the organization

    @property
    def pk(self) -> uuid.UUID:
        return ids.decode(self.org.id, "Organization")


@dataclass
class World:
    url: str
    a: Side
    b: Side
    cross: AgentKeys  # an agent of A whose rows were made to point into B (see `cross_links`)
    cross_threat_id: str  # a threat of A about B's agent and B's MCP server
    cross_event_id: str  # a verification event of A about B's agent


def gid(type_name: str, pk: uuid.UUID) -> str:
    return ids.encode(type_name, pk)


def pk(global_id: str, type_name: str) -> uuid.UUID:
    return ids.decode(global_id, type_name)


def unknown(type_name: str) -> str:
    return gid(type_name, uuid.uuid4())


async def outcome(api: Api, query: str, **variables) -> dict:
    """The whole answer, data or errors, for comparing a foreign ID with an unknown one."""
    try:
        return {"data": await api(query, **variables)}
    except GraphQLError as exc:
        return {"errors": exc.errors}


async def side(url: str, prefix: str) -> Side:
    org = await register(url, f"Tenant {prefix} {uuid.uuid4().hex[:6]}")
    member = await org.member("MEMBER")
    verified = await create_agent(org.admin.api, f"{prefix}-verified-{uuid.uuid4().hex[:6]}", ["db:read", "file:*"])
    other = await create_agent(org.admin.api, f"{prefix}-other-{uuid.uuid4().hex[:6]}", ["db:read"])
    anonymous = Api(url)
    await verify(anonymous, verified, signer=SigningKey.generate())  # a failed attempt, recorded too
    result = await verify(anonymous, verified)
    await org.admin.api(
        "mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) { agent { id } } }",
        i={"agentId": verified.id, "rating": 5},
    )
    decisions = {}
    for name, agent in (("verified", verified), ("other", other)):
        decision = await anonymous(AUTHORIZE, i=action_request(agent.id, agent.signing_key, "db:read"))
        decisions[name] = decision["authorizeAction"]["id"]
    key = await org.admin.api(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
        i={"name": f"{prefix} key", "role": "MEMBER"},
    )
    org_pk = pk(org.id, "Organization")
    # Made directly, so that no worker discovers or checks it while the tests compare its state (its key
    # is the verified agent's: the tests sign for both with one key).
    mcp = await m.MCPServer.create(
        organization_id=org_pk,
        name=f"{prefix} files",
        url=f"https://{prefix}.example/mcp",
        public_key=verified.public_key,
    )
    await m.AgentMCPServer.create(agent_id=pk(verified.id, "Agent"), mcp_server=mcp)
    await m.AgentMCPServer.create(agent_id=pk(other.id, "Agent"), mcp_server=mcp)
    threat = await m.Threat.create(
        organization_id=org_pk,
        agent_id=pk(verified.id, "Agent"),
        mcp_server=mcp,
        type=m.ThreatType.CAPABILITY_VIOLATION,
        severity=m.Severity.HIGH,
        title=f"{prefix} threat",
        description="made by the tenancy test",
    )
    webhook = await org.admin.api(
        "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }",
        i={"url": f"https://{prefix}.example/hooks", "events": ["*"]},
    )
    # Out of the webhook worker's way: the tests compare its row.
    await m.Webhook.filter(organization_id=org_pk).update(active=False)
    # The allowed actions wait for the trust worker; the tests compare agents' rows, so let it finish first.
    deadline = asyncio.get_running_loop().time() + 10
    while await m.Agent.filter(organization_id=org_pk, trust_due_at__isnull=False).exists():
        assert asyncio.get_running_loop().time() < deadline, "the trust worker did not rescore the agents"
        await asyncio.sleep(0.05)
    return Side(
        org,
        member,
        verified,
        other,
        result["event"]["id"],
        key["createApiKey"]["apiKey"]["id"],
        gid("Threat", threat.id),
        gid("MCPServer", mcp.id),
        result["agentToken"],
        decisions,
        webhook["createWebhook"]["webhook"]["id"],
    )


async def cross_links(a: Side, b: Side) -> tuple[AgentKeys, str, str]:
    """Rows that point across the boundary, as a bug or a bad import might leave them: every nested
    field must still show only the caller's own organization."""
    cross = await create_agent(a.org.admin.api, f"a-cross-{uuid.uuid4().hex[:6]}")
    cross_pk, b_agent_pk = pk(cross.id, "Agent"), pk(b.verified.id, "Agent")
    b_admin_pk, b_mcp_pk = pk(b.org.admin.user_id, "User"), pk(b.mcp_id, "MCPServer")
    await m.Agent.filter(id=cross_pk).update(created_by_id=b_admin_pk)
    await m.CapabilityGrant.create(agent_id=cross_pk, name="cross:read", granted_by_id=b_admin_pk)
    await m.AgentMCPServer.create(agent_id=cross_pk, mcp_server_id=b_mcp_pk)
    await m.AgentMCPServer.create(agent_id=b_agent_pk, mcp_server_id=pk(a.mcp_id, "MCPServer"))
    await m.Threat.create(
        organization_id=b.pk,
        agent_id=cross_pk,
        type=m.ThreatType.ANOMALOUS_ACTIVITY,
        severity=m.Severity.LOW,
        title="B's row about A's agent",
        description="cross",
    )
    await m.VerificationEvent.create(
        organization_id=b.pk,
        agent_id=cross_pk,
        result=m.VerificationResult.VERIFIED,
        trust_score_before=0.1,
        trust_score_after=0.2,
    )
    threat = await m.Threat.create(
        organization_id=a.pk,
        agent_id=b_agent_pk,
        mcp_server_id=b_mcp_pk,
        type=m.ThreatType.ANOMALOUS_ACTIVITY,
        severity=m.Severity.LOW,
        title="A's row about B's agent",
        description="cross",
    )
    event = await m.VerificationEvent.create(
        organization_id=a.pk,
        agent_id=b_agent_pk,
        result=m.VerificationResult.VERIFIED,
        trust_score_before=0.1,
        trust_score_after=0.2,
    )
    return cross, gid("Threat", threat.id), gid("VerificationEvent", event.id)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(url: str) -> World:
    a, b = await side(url, "a"), await side(url, "b")
    return World(url, a, b, *await cross_links(a, b))


def ids_of(world: World, s: Side) -> dict[str, str]:
    """One ID of each Node type held by `s`."""
    return {
        "Agent": s.verified.id,
        "User": s.member.user_id,
        "ApiKey": s.key_id,
        "VerificationEvent": s.event_id,
        "Threat": s.threat_id,
        "MCPServer": s.mcp_id,
        "Organization": s.org.id,
        "Webhook": s.webhook_id,
    }


AUTHORIZE = "mutation($i: AuthorizeActionInput!) { authorizeAction(input: $i) { id allowed } }"
NODE = "query($id: ID!) { node(id: $id) { id __typename } }"
AGENT = "query($id: ID!) { agent(id: $id) { id name } }"
NODE_TYPES = ["Agent", "User", "ApiKey", "VerificationEvent", "Threat", "MCPServer", "Organization", "Webhook"]


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_of_a_foreign_id_is_an_unknown_id(world: World, type_name: str) -> None:
    api = world.a.org.admin.api
    own = ids_of(world, world.a)[type_name]
    assert (await api(NODE, id=own))["node"] == {"id": own, "__typename": type_name}  # the loader works
    foreign = await outcome(api, NODE, id=ids_of(world, world.b)[type_name])
    assert foreign == await outcome(api, NODE, id=unknown(type_name)) == {"data": {"node": None}}


@pytest.mark.parametrize("which", ["verified", "other"])
async def test_agent_of_a_foreign_id_is_an_unknown_id(world: World, which: str) -> None:
    api = world.a.org.admin.api
    assert (await api(AGENT, id=getattr(world.a, which).id))["agent"]["id"] == getattr(world.a, which).id
    foreign = await outcome(api, AGENT, id=getattr(world.b, which).id)
    assert foreign == await outcome(api, AGENT, id=unknown("Agent")) == {"data": {"agent": None}}


async def test_lists_hold_only_the_callers_rows(world: World) -> None:
    api, a, b = world.a.org.admin.api, world.a, world.b
    data = await api("""{ agents(first: 100) { totalCount edges { node { id } } }
                          users(first: 100) { totalCount edges { node { id } } }
                          apiKeys { id } organization { id } }""")
    a_agents = {gid("Agent", x) for x in await m.Agent.filter(organization_id=a.pk).values_list("id", flat=True)}
    a_users = {gid("User", x) for x in await m.User.filter(organization_id=a.pk).values_list("id", flat=True)}
    a_keys = {gid("ApiKey", x) for x in await m.ApiKey.filter(organization_id=a.pk).values_list("id", flat=True)}
    assert {e["node"]["id"] for e in data["agents"]["edges"]} == a_agents
    assert data["agents"]["totalCount"] == len(a_agents)
    assert {e["node"]["id"] for e in data["users"]["edges"]} == a_users
    assert data["users"]["totalCount"] == len(a_users)
    assert {k["id"] for k in data["apiKeys"]} == a_keys
    assert data["organization"] == {"id": a.org.id}

    search = "query($s: String) { agents(filter: {search: $s}) { totalCount edges { node { id } } } }"
    assert (await api(search, s="b-verified"))["agents"] == {"totalCount": 0, "edges": []}
    # A cursor made in B moves through A's rows only.
    cursor = (await b.org.admin.api("{ agents(first: 1) { edges { cursor } } }"))["agents"]["edges"][0]["cursor"]
    after = await api("query($c: String) { agents(first: 100, after: $c) { edges { node { id } } } }", c=cursor)
    assert {e["node"]["id"] for e in after["agents"]["edges"]} <= a_agents


AGENT_NESTED = """query($id: ID!) { agent(id: $id) {
  id createdBy { id } capabilities { name grantedBy { id } } trustHistory { score }
  mcpServers { totalCount edges { node { id agents { totalCount edges { node { id } } } } } }
  threats { totalCount edges { node { id agent { id } mcpServer { id } } } }
  verificationEvents { totalCount edges { node { id agent { id } } } } } }"""


async def test_nested_fields_hold_only_the_callers_rows(world: World) -> None:
    api, a = world.a.org.admin.api, world.a
    agent = (await api(AGENT_NESTED, id=a.verified.id))["agent"]
    verified_pk = pk(a.verified.id, "Agent")
    assert agent["createdBy"] == {"id": a.org.admin.user_id}
    assert {c["name"] for c in agent["capabilities"]} == {"db:read", "file:*"}
    assert len(agent["trustHistory"]) == await m.TrustScoreRecord.filter(agent_id=verified_pk).count()
    assert agent["mcpServers"]["totalCount"] == 1
    # The server also talks to B's agent (a cross link): A sees only its own two.
    server_agents = agent["mcpServers"]["edges"][0]["node"]["agents"]
    assert {e["node"]["id"] for e in server_agents["edges"]} == {a.verified.id, a.other.id}
    assert server_agents["totalCount"] == 2
    threats = {
        gid("Threat", t)
        for t in await m.Threat.filter(organization_id=a.pk, agent_id=verified_pk).values_list("id", flat=True)
    }
    assert {e["node"]["id"] for e in agent["threats"]["edges"]} == threats and a.threat_id in threats
    assert agent["threats"]["totalCount"] == len(threats)
    ours = next(e["node"] for e in agent["threats"]["edges"] if e["node"]["id"] == a.threat_id)
    assert ours == {"id": a.threat_id, "agent": {"id": a.verified.id}, "mcpServer": {"id": a.mcp_id}}
    events = await m.VerificationEvent.filter(organization_id=a.pk, agent_id=verified_pk).count()
    assert agent["verificationEvents"]["totalCount"] == events >= 2  # one failed, one verified

    cross = (await api(AGENT_NESTED, id=world.cross.id))["agent"]
    assert cross["createdBy"] is None  # made by B's admin
    assert cross["capabilities"][0]["grantedBy"] is None  # granted by B's admin
    assert cross["mcpServers"] == {"totalCount": 0, "edges": []}  # linked to B's server
    assert cross["threats"] == {"totalCount": 0, "edges": []}  # B's threat about it
    assert cross["verificationEvents"] == {"totalCount": 0, "edges": []}  # B's event about it

    threat = await api(
        "query($id: ID!) { node(id: $id) { ... on Threat { id agent { id } mcpServer { id } } } }",
        id=world.cross_threat_id,
    )
    assert threat["node"] == {"id": world.cross_threat_id, "agent": None, "mcpServer": None}
    # An event names its agent (non-null); one about B's agent is not A's to see.
    never = await outcome(api, NODE, id=unknown("VerificationEvent"))
    assert await outcome(api, NODE, id=world.cross_event_id) == never
    user = await api("query($id: ID!) { node(id: $id) { ... on User { organization { id } } } }", id=a.member.user_id)
    assert user["node"]["organization"] == {"id": a.org.id}


def action_request(target: str, signer: SigningKey, capability: str) -> dict:
    # PROTOCOL.md, "Action authorization"; no resource, no context (hashed as {}).
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    context = hashlib.sha256(rfc8785.dumps({})).hexdigest()
    signed = "\n".join(["aim/action/v1", target, capability, "", timestamp, nonce, context]).encode()
    return {
        "agentId": target,
        "capability": capability,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": AgentKeys(target, signer).sign(signed),
    }


def rotation(target: str, signer: SigningKey) -> dict:
    new_key = AgentKeys(target, SigningKey.generate())
    old_key = AgentKeys(target, signer)
    return {
        "agentId": target,
        "newPublicKey": new_key.public_key,
        "signature": old_key.sign(f"aim/key-rotation/v1\n{target}\n{new_key.public_key}".encode()),
    }


# Mutation, the type of ID it takes, and its input for a target ID (and the target's signing key).
MUTATIONS = {
    "updateAgent": ("Agent", lambda t, k: {"id": t, "description": "hijacked"}),
    "deleteAgent": ("Agent", lambda t, k: {"id": t}),
    "suspendAgent": ("Agent", lambda t, k: {"id": t, "reason": "hijack"}),
    "reactivateAgent": ("Agent", lambda t, k: {"id": t}),
    "revokeAgent": ("Agent", lambda t, k: {"id": t}),
    "grantCapability": ("Agent", lambda t, k: {"agentId": t, "capability": "admin:*"}),
    "revokeCapability": ("Agent", lambda t, k: {"agentId": t, "capability": "db:read"}),
    "rotateAgentKey": ("Agent", lambda t, k: rotation(t, k)),
    "submitAgentFeedback": ("Agent", lambda t, k: {"agentId": t, "rating": 1, "comment": "hijack"}),
    "requestVerificationChallenge": ("Agent", lambda t, k: {"agentId": t}),
    "authorizeAction": ("Agent", lambda t, k: action_request(t, k, "db:read")),
    "reportActionResult": ("ActionDecision", lambda t, k: {"decisionId": t, "success": False}),
    "updateUserRole": ("User", lambda t, k: {"userId": t, "role": "ADMIN"}),
    "revokeApiKey": ("ApiKey", lambda t, k: {"id": t}),
    "updateMCPServer": ("MCPServer", lambda t, k: {"id": t, "name": "hijacked", "url": "https://evil.example"}),
    "deleteMCPServer": ("MCPServer", lambda t, k: {"id": t}),
    "suspendMCPServer": ("MCPServer", lambda t, k: {"id": t}),
    "createMCPServerCredentials": ("MCPServer", lambda t, k: {"id": t}),
    "deleteWebhook": ("Webhook", lambda t, k: {"id": t}),
    "reactivateMCPServer": ("MCPServer", lambda t, k: {"id": t}),
    "discoverMCPServer": ("MCPServer", lambda t, k: {"id": t}),
    "requestMCPServerChallenge": ("MCPServer", lambda t, k: {"mcpServerId": t}),
}
INPUT_TYPES = {
    "updateAgent": "UpdateAgentInput",
    "deleteAgent": "DeleteAgentInput",
    "suspendAgent": "SetAgentStatusInput",
    "reactivateAgent": "SetAgentStatusInput",
    "revokeAgent": "SetAgentStatusInput",
    "grantCapability": "GrantCapabilityInput",
    "revokeCapability": "RevokeCapabilityInput",
    "rotateAgentKey": "RotateAgentKeyInput",
    "submitAgentFeedback": "AgentFeedbackInput",
    "requestVerificationChallenge": "RequestChallengeInput",
    "updateUserRole": "UpdateUserRoleInput",
    "revokeApiKey": "RevokeApiKeyInput",
    "authorizeAction": "AuthorizeActionInput",
    "reportActionResult": "ReportActionResultInput",
    "updateMCPServer": "UpdateMCPServerInput",
    "deleteMCPServer": "DeleteMCPServerInput",
    "suspendMCPServer": "MCPServerInput",
    "createMCPServerCredentials": "MCPServerInput",
    "deleteWebhook": "DeleteWebhookInput",
    "reactivateMCPServer": "MCPServerInput",
    "discoverMCPServer": "MCPServerInput",
    "requestMCPServerChallenge": "RequestMCPChallengeInput",
}


def mutation_text(name: str) -> str:
    return f"mutation($i: {INPUT_TYPES[name]}!) {{ {name}(input: $i) {{ __typename }} }}"


async def state_of(s: Side) -> dict:
    """Everything of B a foreign mutation could touch."""
    org = s.pk
    return {
        "agents": await m.Agent.filter(organization_id=org).order_by("id").values(),
        "users": await m.User.filter(organization_id=org).order_by("id").values("id", "role"),
        "keys": await m.ApiKey.filter(organization_id=org).order_by("id").values("id", "revoked_at"),
        "grants": await m.CapabilityGrant.filter(agent__organization_id=org).order_by("id").values("id", "name"),
        "agent keys": await m.AgentKey.filter(agent__organization_id=org).order_by("id").values(),
        "feedback": await m.AgentFeedback.filter(agent__organization_id=org).count(),
        "challenges": await m.VerificationChallenge.filter(agent__organization_id=org).count(),
        "decisions": await m.ActionDecision.filter(organization_id=org).order_by("id").values("id", "reported_at"),
        "mcp servers": await m.MCPServer.filter(organization_id=org)
        .order_by("id")
        .values("id", "name", "url", "status", "deleted_at", "discovery_error", "discovered_at", "client_secret_hash"),
        "mcp links": await m.AgentMCPServer.filter(mcp_server__organization_id=org).count(),
        "webhooks": await m.Webhook.filter(organization_id=org).order_by("id").values("id", "url", "events"),
    }


@pytest.mark.parametrize("name", list(MUTATIONS))
async def test_mutations_on_foreign_ids_are_not_found(world: World, name: str) -> None:
    api, b = world.a.org.admin.api, world.b
    type_name, make_input = MUTATIONS[name]
    target = {
        "Agent": b.verified.id,
        "User": b.member.user_id,
        "ApiKey": b.key_id,
        "ActionDecision": b.decisions["verified"],
        "MCPServer": b.mcp_id,
        "Webhook": b.webhook_id,
    }[type_name]
    before = await state_of(b)
    foreign = await outcome(api, mutation_text(name), i=make_input(target, b.verified.signing_key))
    never = await outcome(api, mutation_text(name), i=make_input(unknown(type_name), SigningKey.generate()))
    assert foreign == never
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await state_of(b) == before


async def test_verify_mcp_server_with_a_foreign_challenge_is_not_found(world: World) -> None:
    api, b = world.a.org.admin.api, world.b
    challenge = (
        await Api(world.url)(
            "mutation($i: RequestMCPChallengeInput!) { requestMCPServerChallenge(input: $i) { id message } }",
            i={"mcpServerId": b.mcp_id},
        )
    )["requestMCPServerChallenge"]
    signature = b.verified.sign(base64.b64decode(challenge["message"]))
    verify_text = "mutation($i: VerifyMCPServerInput!) { verifyMCPServer(input: $i) { verified } }"
    before = await state_of(b)
    foreign = await outcome(api, verify_text, i={"challengeId": challenge["id"], "signature": signature})
    nobody = challenges.mint(
        secrets.token_bytes(32), uuid.uuid4(), datetime.now(UTC) + timedelta(minutes=5), "MCPServer"
    )
    never = await outcome(api, verify_text, i={"challengeId": nobody.id, "signature": signature})
    assert foreign == never
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await state_of(b) == before


async def test_verify_agent_with_a_foreign_challenge_is_not_found(world: World) -> None:
    """Anyone may answer a challenge; a caller who sends a credential is held to its organization."""
    api, b = world.a.org.admin.api, world.b
    challenge = (await Api(world.url)(CHALLENGE, i={"agentId": b.verified.id}))["requestVerificationChallenge"]
    signature = b.verified.sign(base64.b64decode(challenge["message"]))
    verify_text = "mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) { verified } }"
    before = await state_of(b)
    foreign = await outcome(api, verify_text, i={"challengeId": challenge["id"], "signature": signature})
    nobody = challenges.mint(secrets.token_bytes(32), uuid.uuid4(), datetime.now(UTC) + timedelta(minutes=5))
    never = await outcome(api, verify_text, i={"challengeId": nobody.id, "signature": signature})
    assert foreign == never
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await state_of(b) == before
    # Not spent: the agent may still answer it itself.
    assert (await Api(world.url)(verify_text, i={"challengeId": challenge["id"], "signature": signature}))[
        "verifyAgent"
    ]["verified"]


async def test_an_agent_token_reads_only_its_own_agent(world: World) -> None:
    a, b = world.a, world.b
    api = Api(world.url, token=a.agent_token)
    own = await api(AGENT, id=a.verified.id)
    assert own["agent"]["id"] == a.verified.id
    assert (await api(NODE, id=a.verified.id))["node"]["id"] == a.verified.id
    for query in (AGENT, NODE):
        never = await outcome(api, query, id=unknown("Agent"))
        for other in (a.other.id, b.verified.id, b.other.id):
            assert await outcome(api, query, id=other) == never, other
    # Mutations on another agent answer exactly as for an unknown one.
    rotate = mutation_text("rotateAgentKey")
    never = await outcome(api, rotate, i=rotation(unknown("Agent"), SigningKey.generate()))
    for other in (a.other, b.verified):
        assert await outcome(api, rotate, i=rotation(other.id, other.signing_key)) == never
    # It reports on its own decisions only.
    report = mutation_text("reportActionResult")
    never = await outcome(api, report, i={"decisionId": unknown("ActionDecision"), "success": True})
    assert never["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for decision in (a.decisions["other"], b.decisions["verified"]):
        assert await outcome(api, report, i={"decisionId": decision, "success": True}) == never
    assert await api(report, i={"decisionId": a.decisions["verified"], "success": True}) == {
        "reportActionResult": {"__typename": "ReportActionResultPayload"}
    }


async def test_an_agent_token_reaches_no_other_agent_through_nested_fields(world: World) -> None:
    a = world.a
    api = Api(world.url, token=a.agent_token)
    agent = (await api(AGENT_NESTED, id=a.verified.id))["agent"]
    # Its MCP server also talks to `a.other`, which this agent has no business reading.
    server_agents = agent["mcpServers"]["edges"][0]["node"]["agents"]
    assert {e["node"]["id"] for e in server_agents["edges"]} == {a.verified.id}
    assert server_agents["totalCount"] == 1
    other_threat = await m.Threat.create(
        organization_id=a.pk,
        agent_id=pk(a.other.id, "Agent"),
        type=m.ThreatType.ANOMALOUS_ACTIVITY,
        severity=m.Severity.LOW,
        title="about the other agent",
        description="agent-token probe",
    )
    probe = await api(
        "query($id: ID!) { node(id: $id) { ... on Threat { agent { id } } } }", id=gid("Threat", other_threat.id)
    )
    assert probe["node"] in (None, {"agent": None})
    other_event = (await verify(Api(world.url), a.other))["event"]["id"]
    assert (await api(NODE, id=other_event))["node"] is None


# ---- the filtering lives in one place

SCANNED = sorted([*PACKAGE.glob("resolvers/**/*.py"), *PACKAGE.glob("schema/**/*.py")])
# An organization condition written by hand in a query: `.filter(organization_id=...)`, `organization=`, ...
ORG_CONDITION = re.compile(
    r"\.(?:filter|exclude|get|get_or_none|exists|count|update|delete)\("
    r"[^)]*\borganization(?:_id)?(?:__\w+)?\s*="
)
TENANT_MODELS = {model.__name__ for model in _ORG_PATH}
# A query started straight from a tenant model, which would skip `scoped()`.
UNSCOPED_START = re.compile(
    r"\b(?:m\.)?(\w+?)(?:Row)?\.(?:filter|all|get|get_or_none|exclude|first|exists|"
    r"select_for_update|annotate|raw|count)\("
)


def test_resolvers_and_types_filter_tenants_only_through_scoped() -> None:
    assert SCANNED
    offenders = []
    for path in SCANNED:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
            if ORG_CONDITION.search(line):
                offenders.append(where)
            offenders += [where for model in UNSCOPED_START.findall(line) if model in TENANT_MODELS]
    assert not offenders, "tenant queries must start from aim_identity.tenancy.scoped():\n" + "\n".join(offenders)
    assert any("scoped(" in path.read_text() for path in SCANNED)


# Bookkeeping the API never reads: the head of an audit chain.
NOT_SERVED = {"AuditChainHead"}


def test_scoped_knows_every_tenant_model() -> None:
    """Each model holding an organization, or an agent (and so an organization), has its path in scoped()."""
    for name in sorted(set(m.__all__) - NOT_SERVED):
        model = getattr(m, name)
        if not hasattr(model, "_meta"):
            continue  # an enum
        targets = {
            f.model_name
            for f in model._meta.fields_map.values()
            if isinstance(f, tortoise_fields.relational.ForeignKeyFieldInstance)
        }
        if targets & {"aim.Organization", "aim.Agent"}:
            assert model in _ORG_PATH, f"{name} holds tenant data but tenancy.scoped() does not know it"
