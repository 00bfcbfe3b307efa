"""The composed API (aim_identity/api.py): its permission map, and its schema against the contract.

Role-based access: every role-gated query and every mutation, run as VIEWER, MEMBER, MANAGER,
ADMIN and anonymously. A role at or above the operation's minimum succeeds and the effect happens;
below it the answer is FORBIDDEN and nothing changes; with no credential it is UNAUTHENTICATED.

The permission map is one table (operation, minimum role, case). Each case prepares fresh targets of
its own, so cases never interfere, and reuses one organization with one person per role."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pyotp
import pytest
import pytest_asyncio
import rfc8785
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.auth.api_keys import digest
from aim_identity.models import (
    ActionDecision,
    AgentFeedback,
    AgentStatus,
    ApiKey,
    CapabilityGrant,
    MCPServerStatus,
    Organization,
    RegistrationCode,
    RevokedAccessToken,
    Role,
    ThreatStatus,
    ThreatType,
    User,
)
from aim_identity.models import Agent as AgentRow
from aim_identity.models import AgentMCPServer as AgentMCPServerRow
from aim_identity.models import AuditLogEntry as AuditLogEntryRow
from aim_identity.models import MCPServer as MCPServerRow
from aim_identity.models import SecurityPolicy as SecurityPolicyRow
from aim_identity.models import Threat as ThreatRow
from aim_identity.models import Webhook as WebhookRow
from tests.support import (
    CHALLENGE,
    PASSWORD,
    REPO,
    AgentKeys,
    Api,
    GraphQLError,
    Org,
    aimctl,
    create_agent,
    login,
    register,
    verify,
)

ROLES = ["VIEWER", "MEMBER", "MANAGER", "ADMIN"]
PUBLIC = None  # needs no credential at all


@dataclass
class Env:
    url: str
    org: Org
    users: dict[str, tuple[str, str]]  # role -> (user id, email)
    key_secrets: dict[str, str]  # role -> an API key with that role, made by the admin

    async def agent(self, capabilities: list[str] | None = None) -> AgentKeys:
        return await create_agent(self.org.admin.api, capabilities=capabilities)

    async def invite(self, role: str = "VIEWER") -> str:
        data = await self.org.admin.api(INVITE, i=new_person(role))
        return data["inviteUser"]["user"]["id"]


@dataclass
class Caller:
    """One principal running one case. Calling it runs an operation and checks the verdict: data when
    the principal is allowed, else the denial code (and None back, so the case checks nothing happened)."""

    api: Api
    allowed: bool
    denial: str  # FORBIDDEN, or UNAUTHENTICATED for anonymous callers
    kind: str  # user | api_key | anonymous
    role: str | None
    user_id: str | None  # the person behind the credential (an API key's creator)

    async def __call__(self, query: str, **variables) -> dict | None:
        try:
            data = await self.api(query, **variables)
        except GraphQLError as exc:
            assert not self.allowed, f"expected success, got {exc.errors}"
            assert exc.code == self.denial, exc.errors
            return None
        assert self.allowed, f"expected {self.denial}, got {data}"
        return data

    def using(self, api: Api) -> Caller:
        return Caller(api, self.allowed, self.denial, self.kind, self.role, self.user_id)


def new_person(role: str = "VIEWER") -> dict:
    return {"email": f"rbac-{uuid.uuid4().hex[:10]}@example.com", "name": "Someone", "role": role, "password": PASSWORD}


def pk(global_id: str, type_name: str) -> uuid.UUID:
    return ids.decode(global_id, type_name)


async def agent_row(agent: AgentKeys) -> AgentRow | None:
    """The live agent; a deleted one stays only as a tombstone."""
    return await AgentRow.get_or_none(id=pk(agent.id, "Agent"), deleted_at=None)


def rotation_signature(agent: AgentKeys, new_public_key: str) -> str:
    # PROTOCOL.md, "Key rotation": signed by the CURRENT key.
    return agent.sign(f"aim/key-rotation/v1\n{agent.id}\n{new_public_key}".encode())


def action_request(agent: AgentKeys, capability: str) -> dict:
    # PROTOCOL.md, "Action authorization"; no resource, no context (hashed as {}).
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    context = hashlib.sha256(rfc8785.dumps({})).hexdigest()
    signed = "\n".join(["aim/action/v1", agent.id, capability, "", timestamp, nonce, context]).encode()
    return {
        "agentId": agent.id,
        "capability": capability,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": agent.sign(signed),
    }


AUTHORIZE = "mutation($i: AuthorizeActionInput!) { authorizeAction(input: $i) { id allowed reason } }"
INVITE = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { user { id } } }"
AGENT_PAYLOAD = "{ agent { id status } }"


# ---- the cases: prepare fresh targets, run the operation through `call`, check the effect


async def q_users(call: Caller, env: Env) -> None:
    data = await call("{ users { totalCount edges { node { id role } } } }")
    if data:
        assert env.org.admin.user_id in {e["node"]["id"] for e in data["users"]["edges"]}
        assert data["users"]["totalCount"] >= len(ROLES)


async def q_agents(call: Caller, env: Env) -> None:
    agent = await env.agent()
    name = (await agent_row(agent)).name
    data = await call("query($s: String) { agents(filter: {search: $s}) { totalCount edges { node { id } } } }", s=name)
    if data:
        assert [e["node"]["id"] for e in data["agents"]["edges"]] == [agent.id]


async def q_agent(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call("query($id: ID!) { agent(id: $id) { id } }", id=agent.id)
    if data:
        assert data["agent"]["id"] == agent.id


async def q_node(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call("query($id: ID!) { node(id: $id) { id __typename } }", id=agent.id)
    if data:
        assert data["node"] == {"id": agent.id, "__typename": "Agent"}


async def q_viewer(call: Caller, env: Env) -> None:
    data = await call("{ viewer { id } }")
    if data:
        assert data["viewer"]["id"] == call.user_id


async def q_organization(call: Caller, env: Env) -> None:
    data = await call("{ organization { id } }")
    if data:
        assert data["organization"]["id"] == env.org.id


async def q_api_keys(call: Caller, env: Env) -> None:
    data = await call("{ apiKeys { id } }")
    if data:
        # Administrators see the organization's keys, everyone else the keys they made.
        expected = ApiKey.filter(organization_id=pk(env.org.id, "Organization"))
        if call.role != "ADMIN":
            expected = expected.filter(created_by_id=pk(call.user_id, "User"))
        expected_ids = await expected.values_list("id", flat=True)
        assert {k["id"] for k in data["apiKeys"]} == {ids.encode("ApiKey", k) for k in expected_ids}


async def m_register(call: Caller, env: Env) -> None:
    email = f"rbac-reg-{uuid.uuid4().hex[:10]}@example.com"
    data = await call(
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }",
        i={"email": email, "password": PASSWORD, "name": "New", "organizationName": "Elsewhere"},
    )
    assert await User.exists(email=email) == bool(data)


async def m_request_registration(call: Caller, env: Env) -> None:
    email = f"rbac-req-{uuid.uuid4().hex[:10]}@example.com"
    data = await call(
        "mutation($i: RequestRegistrationInput!) { requestRegistration(input: $i) { ok } }", i={"email": email}
    )
    assert await RegistrationCode.exists(email=email) == bool(data)


async def m_login(call: Caller, env: Env) -> None:
    data = await call(
        "mutation($i: LoginInput!) { login(input: $i) { accessToken user { id } } }",
        i={"email": env.org.admin.email, "password": PASSWORD},
    )
    if data:
        assert data["login"]["user"]["id"] == env.org.admin.user_id


async def m_refresh_token(call: Caller, env: Env) -> None:
    session = await login(env.url, env.org.admin.email)
    data = await call(
        "mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken refreshToken } }",
        i={"refreshToken": session.refresh_token},
    )
    if data:
        assert data["refreshToken"]["refreshToken"] != session.refresh_token


async def own_person(call: Caller, env: Env) -> Caller:
    """A person of the caller's own role, new to this case, so what the case changes touches no one else."""
    if call.kind != "user":
        return call
    person = new_person(call.role)
    await env.org.admin.api(INVITE, i=person)
    return call.using((await login(env.url, person["email"])).api)


async def m_enable_mfa(call: Caller, env: Env) -> None:
    own = await own_person(call, env)
    data = await own("mutation { enableMfa { secret otpauthUri } }")
    if data:
        assert pyotp.parse_uri(data["enableMfa"]["otpauthUri"]).secret == data["enableMfa"]["secret"]


CONFIRM_MFA = "mutation($i: ConfirmMfaInput!) { confirmMfa(input: $i) { recoveryCodes user { mfaEnabled } } }"


async def m_confirm_mfa(call: Caller, env: Env) -> None:
    own = await own_person(call, env)
    secret = (await own.api("mutation { enableMfa { secret } }"))["enableMfa"]["secret"] if own.allowed else "A" * 32
    data = await own(CONFIRM_MFA, i={"totpCode": pyotp.TOTP(secret).now()})
    if data:
        assert data["confirmMfa"]["user"]["mfaEnabled"] is True and len(data["confirmMfa"]["recoveryCodes"]) == 10


async def m_disable_mfa(call: Caller, env: Env) -> None:
    own = await own_person(call, env)
    code = "000000"
    if own.allowed:
        secret = (await own.api("mutation { enableMfa { secret } }"))["enableMfa"]["secret"]
        await own.api(CONFIRM_MFA, i={"totpCode": pyotp.TOTP(secret).now()})
        code = pyotp.TOTP(secret).at(datetime.now(UTC).timestamp() + 30)  # this step's code is spent
    data = await own(
        "mutation($i: DisableMfaInput!) { disableMfa(input: $i) { user { mfaEnabled } } }", i={"totpCode": code}
    )
    if data:
        assert data["disableMfa"]["user"]["mfaEnabled"] is False


async def m_update_organization(call: Caller, env: Env) -> None:
    name = f"Renamed {uuid.uuid4().hex[:6]}"
    data = await call(
        "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { name } } }",
        i={"name": name},
    )
    organization = await Organization.get(id=pk(env.org.id, "Organization"))
    assert (organization.name == name) == bool(data)


async def m_logout(call: Caller, env: Env) -> None:
    # A session of its own, so ending it leaves the shared one alive.
    own, refresh = call, None
    if call.kind == "user":
        person = await login(env.url, env.users[call.role][1])
        own, refresh = call.using(person.api), person.refresh_token
    data = await own("mutation($i: LogoutInput!) { logout(input: $i) { ok } }", i={"refreshToken": refresh})
    if data:
        assert data["logout"]["ok"] is True
    if data and own.kind == "user":
        jti = jwt.decode(own.api.token, options={"verify_signature": False})["jti"]
        assert await RevokedAccessToken.exists(jti=jti)
        assert await own.api.error("{ viewer { id } }") == "UNAUTHENTICATED"
        assert (
            await Api(env.url).error(
                "mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken } }", i={"refreshToken": refresh}
            )
            == "UNAUTHENTICATED"
        )


async def m_invite_user(call: Caller, env: Env) -> None:
    person = new_person("MEMBER")
    data = await call(INVITE, i=person)
    assert await User.exists(email=person["email"]) == bool(data)


CREATE_WEBHOOK = """mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } secret } }"""


async def q_webhooks(call: Caller, env: Env) -> None:
    made = await env.org.admin.api(CREATE_WEBHOOK, i={"url": "https://hooks.example.com/aim", "events": ["*"]})
    data = await call("{ webhooks { id url } }")
    if data:
        assert made["createWebhook"]["webhook"]["id"] in {w["id"] for w in data["webhooks"]}


async def m_create_webhook(call: Caller, env: Env) -> None:
    url = f"https://hooks.example.com/{uuid.uuid4().hex}"
    data = await call(CREATE_WEBHOOK, i={"url": url, "events": ["threat.detected"]})
    assert await WebhookRow.exists(url=url) == bool(data)


async def m_delete_webhook(call: Caller, env: Env) -> None:
    made = await env.org.admin.api(CREATE_WEBHOOK, i={"url": "https://hooks.example.com/gone", "events": ["*"]})
    webhook = made["createWebhook"]["webhook"]["id"]
    data = await call("mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { deletedId } }", i={"id": webhook})
    assert (not await WebhookRow.exists(id=pk(webhook, "Webhook"))) == bool(data)


async def m_update_user_role(call: Caller, env: Env) -> None:
    user_id = await env.invite("VIEWER")
    data = await call(
        "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { id role } } }",
        i={"userId": user_id, "role": "MANAGER"},
    )
    role = (await User.get(id=pk(user_id, "User"))).role
    assert role == (Role.MANAGER if data else Role.VIEWER)


async def m_create_api_key(call: Caller, env: Env) -> None:
    name = f"rbac-key-{uuid.uuid4().hex[:8]}"
    data = await call(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id role } } }",
        i={"name": name, "role": "VIEWER"},
    )
    assert await ApiKey.exists(name=name) == bool(data)


async def m_revoke_api_key(call: Caller, env: Env) -> None:
    # The caller's own key (made in the database: a VIEWER may not create keys but may revoke its own).
    owner = call.user_id or env.org.admin.user_id
    secret = f"aim_live_{uuid.uuid4().hex}"
    key = await ApiKey.create(
        organization_id=pk(env.org.id, "Organization"),
        created_by_id=pk(owner, "User"),
        name=f"rbac-own-{uuid.uuid4().hex[:8]}",
        prefix=secret[:12],
        key_hash=digest(secret),
        role=Role.VIEWER,
    )
    data = await call(
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { id revokedAt } } }",
        i={"id": ids.encode("ApiKey", key.id)},
    )
    await key.refresh_from_db()
    assert (key.revoked_at is not None) == bool(data)


async def m_create_agent(call: Caller, env: Env) -> None:
    name = f"rbac-agent-{uuid.uuid4().hex[:8]}"
    data = await call(
        "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } privateKey } }", i={"name": name}
    )
    assert await AgentRow.exists(name=name, organization_id=pk(env.org.id, "Organization")) == bool(data)


async def m_update_agent(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call(
        "mutation($i: UpdateAgentInput!) { updateAgent(input: $i) { agent { id description } } }",
        i={"id": agent.id, "description": "changed by rbac"},
    )
    assert ((await agent_row(agent)).description == "changed by rbac") == bool(data)


async def m_delete_agent(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call("mutation($i: DeleteAgentInput!) { deleteAgent(input: $i) { deletedId } }", i={"id": agent.id})
    assert (await agent_row(agent) is None) == bool(data)


def status_case(mutation: str, before: AgentStatus | None, after: AgentStatus):
    """suspendAgent, reactivateAgent, revokeAgent: from `before` (set by the admin first) to `after`."""

    async def run(call: Caller, env: Env) -> None:
        agent = await env.agent()
        if before is AgentStatus.SUSPENDED:
            await env.org.admin.api(
                f"mutation($i: SetAgentStatusInput!) {{ suspendAgent(input: $i) {AGENT_PAYLOAD} }}", i={"id": agent.id}
            )
        start = (await agent_row(agent)).status
        data = await call(
            f"mutation($i: SetAgentStatusInput!) {{ {mutation}(input: $i) {AGENT_PAYLOAD} }}",
            i={"id": agent.id, "reason": "rbac"},
        )
        assert (await agent_row(agent)).status == (after if data else start)

    return run


async def m_grant_capability(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call(
        "mutation($i: GrantCapabilityInput!) { grantCapability(input: $i) { agent { id } } }",
        i={"agentId": agent.id, "capability": "db:read"},
    )
    assert await CapabilityGrant.exists(agent_id=pk(agent.id, "Agent"), name="db:read") == bool(data)


async def m_revoke_capability(call: Caller, env: Env) -> None:
    agent = await env.agent(capabilities=["db:read"])
    data = await call(
        "mutation($i: RevokeCapabilityInput!) { revokeCapability(input: $i) { agent { id } } }",
        i={"agentId": agent.id, "capability": "db:read"},
    )
    assert await CapabilityGrant.exists(agent_id=pk(agent.id, "Agent"), name="db:read") != bool(data)


async def m_rotate_agent_key(call: Caller, env: Env) -> None:
    agent = await env.agent()
    new_key = AgentKeys(agent.id, SigningKey.generate())
    data = await call(
        "mutation($i: RotateAgentKeyInput!) { rotateAgentKey(input: $i) { agent { publicKey } } }",
        i={
            "agentId": agent.id,
            "newPublicKey": new_key.public_key,
            "signature": rotation_signature(agent, new_key.public_key),
        },
    )
    current = (await agent_row(agent)).public_key
    assert current == (new_key.public_key if data else agent.public_key)


async def m_submit_agent_feedback(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call(
        "mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) { agent { id } } }",
        i={"agentId": agent.id, "rating": 4, "comment": "fine"},
    )
    assert await AgentFeedback.filter(agent_id=pk(agent.id, "Agent")).count() == (1 if data else 0)


async def m_request_verification_challenge(call: Caller, env: Env) -> None:
    agent = await env.agent()
    data = await call(CHALLENGE, i={"agentId": agent.id})
    assert data["requestVerificationChallenge"]["nonce"]


async def m_verify_agent(call: Caller, env: Env) -> None:
    agent = await env.agent()
    # `verify` runs the whole round through the caller's credential (held to its organization).
    result = await verify(call.api, agent)
    assert result["verified"] is True
    assert (await agent_row(agent)).status == AgentStatus.VERIFIED


async def m_authorize_action(call: Caller, env: Env) -> None:
    agent = await env.agent(capabilities=["db:read"])
    data = await call(AUTHORIZE, i=action_request(agent, "db:read"))
    assert data["authorizeAction"]["allowed"] is True, data


async def m_report_action_result(call: Caller, env: Env) -> None:
    agent = await env.agent(capabilities=["db:read"])
    decision = (await Api(env.url)(AUTHORIZE, i=action_request(agent, "db:read")))["authorizeAction"]["id"]
    data = await call(
        "mutation($i: ReportActionResultInput!) { reportActionResult(input: $i) { ok } }",
        i={"decisionId": decision, "success": True},
    )
    reported = (await ActionDecision.get(id=pk(decision, "ActionDecision"))).reported_at
    assert (reported is not None) == bool(data)


async def new_mcp_server(env: Env, key: SigningKey | None = None) -> str:
    name = f"mcp-{uuid.uuid4().hex[:8]}"
    public_key = {"publicKey": base64.b64encode(bytes(key.verify_key)).decode()} if key else {}
    data = await env.org.admin.api(REGISTER_MCP, i={"name": name, "url": f"https://{name}.example", **public_key})
    return data["registerMCPServer"]["mcpServer"]["id"]


REGISTER_MCP = "mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"


async def q_mcp_servers(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env)
    data = await call("{ mcpServers(first: 100) { totalCount edges { node { id } } } }")
    if data:
        assert server in {e["node"]["id"] for e in data["mcpServers"]["edges"]}


async def q_mcp_server(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env)
    data = await call("query($id: ID!) { mcpServer(id: $id) { id } }", id=server)
    if data:
        assert data["mcpServer"]["id"] == server


async def m_register_mcp_server(call: Caller, env: Env) -> None:
    name = f"rbac-mcp-{uuid.uuid4().hex[:8]}"
    data = await call(REGISTER_MCP, i={"name": name, "url": f"https://{name}.example"})
    assert await MCPServerRow.exists(name=name) == bool(data)


async def m_connect_mcp_server(call: Caller, env: Env) -> None:
    agent, server = await env.agent(), await new_mcp_server(env)
    data = await call(
        "mutation($i: ConnectMCPServerInput!) { connectMCPServer(input: $i) { agent { id } } }",
        i={"agentId": agent.id, "mcpServerId": server},
    )
    linked = await AgentMCPServerRow.exists(agent_id=pk(agent.id, "Agent"), mcp_server_id=pk(server, "MCPServer"))
    assert linked == bool(data)


async def m_disconnect_mcp_server(call: Caller, env: Env) -> None:
    agent, server = await env.agent(), await new_mcp_server(env)
    await env.org.admin.api(
        "mutation($i: ConnectMCPServerInput!) { connectMCPServer(input: $i) { agent { id } } }",
        i={"agentId": agent.id, "mcpServerId": server},
    )
    data = await call(
        "mutation($i: ConnectMCPServerInput!) { disconnectMCPServer(input: $i) { agent { id } } }",
        i={"agentId": agent.id, "mcpServerId": server},
    )
    linked = await AgentMCPServerRow.exists(agent_id=pk(agent.id, "Agent"), mcp_server_id=pk(server, "MCPServer"))
    assert linked != bool(data)


async def m_update_mcp_server(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env)
    data = await call(
        "mutation($i: UpdateMCPServerInput!) { updateMCPServer(input: $i) { mcpServer { id } } }",
        i={"id": server, "description": "renamed"},
    )
    row = await MCPServerRow.get(id=pk(server, "MCPServer"))
    assert (row.description == "renamed") == bool(data)


async def m_delete_mcp_server(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env)
    data = await call(
        "mutation($i: DeleteMCPServerInput!) { deleteMCPServer(input: $i) { deletedId } }", i={"id": server}
    )
    assert ((await MCPServerRow.get(id=pk(server, "MCPServer"))).deleted_at is not None) == bool(data)


def mcp_status_case(operation: str, start: MCPServerStatus | None, end: MCPServerStatus):
    async def run(call: Caller, env: Env) -> None:
        server = await new_mcp_server(env)
        if start is not None:
            await MCPServerRow.filter(id=pk(server, "MCPServer")).update(status=start)
        data = await call(
            f"mutation($i: MCPServerInput!) {{ {operation}(input: $i) {{ mcpServer {{ status }} }} }}", i={"id": server}
        )
        assert ((await MCPServerRow.get(id=pk(server, "MCPServer"))).status == end) == bool(data)

    return run


async def m_discover_mcp_server(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env)
    # Out of the workers' way: only this call may discover it.
    await MCPServerRow.filter(id=pk(server, "MCPServer")).update(discovery_due_at=None, discovery_error=None)
    data = await call(
        "mutation($i: MCPServerInput!) { discoverMCPServer(input: $i) { mcpServer { discoveryError } } }",
        i={"id": server},
    )
    assert ((await MCPServerRow.get(id=pk(server, "MCPServer"))).discovery_error is not None) == bool(data)


async def m_create_mcp_server_credentials(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env)
    data = await call(
        "mutation($i: MCPServerInput!) { createMCPServerCredentials(input: $i) { clientId clientSecret } }",
        i={"id": server},
    )
    stored = (await MCPServerRow.get(id=pk(server, "MCPServer"))).client_secret_hash
    assert (stored is not None) == bool(data)


MCP_CHALLENGE = """mutation($i: RequestMCPChallengeInput!) {
  requestMCPServerChallenge(input: $i) { id message } }"""


async def m_request_mcp_server_challenge(call: Caller, env: Env) -> None:
    server = await new_mcp_server(env, SigningKey.generate())
    data = await call(MCP_CHALLENGE, i={"mcpServerId": server})
    assert data["requestMCPServerChallenge"]["id"]


async def m_verify_mcp_server(call: Caller, env: Env) -> None:
    key = SigningKey.generate()
    server = await new_mcp_server(env, key)
    issued = (await env.org.admin.api(MCP_CHALLENGE, i={"mcpServerId": server}))["requestMCPServerChallenge"]
    signature = base64.b64encode(key.sign(base64.b64decode(issued["message"])).signature).decode()
    data = await call(
        "mutation($i: VerifyMCPServerInput!) { verifyMCPServer(input: $i) { verified } }",
        i={"challengeId": issued["id"], "signature": signature},
    )
    assert data["verifyMCPServer"]["verified"] is True
    assert (await MCPServerRow.get(id=pk(server, "MCPServer"))).status == MCPServerStatus.VERIFIED


async def m_report_detected_mcp_servers(call: Caller, env: Env) -> None:
    agent = await env.agent()
    name = f"detected-{uuid.uuid4().hex[:8]}"
    data = await call(
        """mutation($i: ReportDetectedMCPServersInput!) {
        reportDetectedMCPServers(input: $i) { registered { id } } }""",
        i={"agentId": agent.id, "servers": [{"name": name, "command": "npx"}]},
    )
    assert await MCPServerRow.exists(name=name) == bool(data)


async def new_threat(env: Env) -> str:
    """A capability violation: a threat of its own agent, open."""
    agent = await env.agent(capabilities=["db:read"])
    decision = (await Api(env.url)(AUTHORIZE, i=action_request(agent, "db:write")))["authorizeAction"]
    threats = await env.org.admin.api(
        "query($a: ID) { threats(filter: {agentId: $a}) { edges { node { id } } } }", a=agent.id
    )
    assert decision["allowed"] is False
    return threats["threats"]["edges"][0]["node"]["id"]


async def q_threats(call: Caller, env: Env) -> None:
    threat = await new_threat(env)
    data = await call("{ threats { totalCount edges { node { id } } } }")
    if data:
        assert threat in {e["node"]["id"] for e in data["threats"]["edges"]}


async def q_anomalies(call: Caller, env: Env) -> None:
    data = await call("{ anomalies { totalCount } }")
    if data:
        assert data["anomalies"]["totalCount"] >= 0


async def q_security_metrics(call: Caller, env: Env) -> None:
    await new_threat(env)
    data = await call("{ securityMetrics { openThreats } }")
    if data:
        assert data["securityMetrics"]["openThreats"] >= 1


async def q_security_policies(call: Caller, env: Env) -> None:
    data = await call("{ securityPolicies { threatType } }")
    if data:
        assert len(data["securityPolicies"]) == len(ThreatType)


def threat_case(operation: str, status: ThreatStatus) -> Callable[[Caller, Env], Awaitable[None]]:
    async def run(call: Caller, env: Env) -> None:
        threat = await new_threat(env)
        data = await call(
            f"mutation($i: ThreatActionInput!) {{ {operation}(input: $i) {{ threat {{ id }} }} }}", i={"id": threat}
        )
        row = await ThreatRow.get(id=pk(threat, "Threat"))
        assert (row.status == status) == bool(data)

    return run


async def m_update_security_policy(call: Caller, env: Env) -> None:
    policies = SecurityPolicyRow.filter(organization_id=pk(env.org.id, "Organization"), threat_type="BRUTE_FORCE")
    before = await policies.first()
    threshold = (before.threshold if before else 5.0) + 1  # unlike any threshold this organization had
    data = await call(
        "mutation($i: UpdateSecurityPolicyInput!) { updateSecurityPolicy(input: $i) { threshold } }",
        i={
            "threatType": "BRUTE_FORCE",
            "minSeverity": "LOW",
            "action": "ALERT",
            "enabled": True,
            "threshold": threshold,
        },
    )
    after = await policies.first()
    assert (after is not None and after.threshold == threshold) == bool(data)


async def q_audit_logs(call: Caller, env: Env) -> None:
    data = await call("{ auditLogs(first: 5) { totalCount edges { node { sequence action } } } }")
    if data:
        assert data["auditLogs"]["totalCount"] >= 1


async def q_audit_stats(call: Caller, env: Env) -> None:
    data = await call("{ auditStats { total byAction { key count } } }")
    if data:
        assert data["auditStats"]["total"] >= 1


async def q_verify_audit_chain(call: Caller, env: Env) -> None:
    data = await call("{ verifyAuditChain { valid checkedEntries } }")
    if data:
        assert data["verifyAuditChain"]["valid"] and data["verifyAuditChain"]["checkedEntries"] >= 1


async def q_audit_checkpoints(call: Caller, env: Env) -> None:
    data = await call("{ auditCheckpoints { sequence } }")
    if data:
        assert isinstance(data["auditCheckpoints"], list)


async def m_export_audit_logs(call: Caller, env: Env) -> None:
    exports = AuditLogEntryRow.filter(organization_id=pk(env.org.id, "Organization"), action="audit.export")
    before = await exports.count()
    data = await call(
        "mutation($i: ExportAuditLogsInput!) { exportAuditLogs(input: $i) { entries downloadUrl } }",
        i={"format": "CSV"},
    )
    assert await exports.count() == before + bool(data)


def report_case(
    operation: str, action: str, variables: Callable[[Env], Awaitable[dict]]
) -> Callable[[Caller, Env], Awaitable[None]]:
    async def run(call: Caller, env: Env) -> None:
        reports = AuditLogEntryRow.filter(organization_id=pk(env.org.id, "Organization"), action=action)
        before = await reports.count()
        document = (
            f"mutation($i: {operation[0].upper()}{operation[1:]}Input!) {{ {operation}(input: $i) {{ entries }} }}"
        )
        data = await call(document, i=await variables(env))
        assert await reports.count() == before + bool(data)

    return run


async def csv_format(env: Env) -> dict:
    return {"format": "CSV"}


async def a_person(env: Env) -> dict:
    return {"userId": await env.invite("VIEWER")}


@dataclass(frozen=True)
class Case:
    operation: str
    minimum: str | None  # a role, or PUBLIC
    run: Callable[[Caller, Env], Awaitable[None]]


# The permission map, as the contract and the schema state it. rotateAgentKey: MEMBER+ for people and
# keys (an agent may rotate its own), and so is reportActionResult (an agent reports on its own
# decisions); revokeApiKey: anyone signed in, for their own keys.
CASES = [
    Case("users", "ADMIN", q_users),
    Case("agents", "VIEWER", q_agents),
    Case("agent", "VIEWER", q_agent),
    Case("apiKeys", "VIEWER", q_api_keys),
    Case("node", "VIEWER", q_node),
    Case("viewer", "VIEWER", q_viewer),
    Case("organization", "VIEWER", q_organization),
    Case("requestRegistration", PUBLIC, m_request_registration),
    Case("register", PUBLIC, m_register),
    Case("login", PUBLIC, m_login),
    Case("refreshToken", PUBLIC, m_refresh_token),
    Case("logout", "VIEWER", m_logout),
    Case("inviteUser", "ADMIN", m_invite_user),
    Case("webhooks", "ADMIN", q_webhooks),
    Case("createWebhook", "ADMIN", m_create_webhook),
    Case("deleteWebhook", "ADMIN", m_delete_webhook),
    Case("updateUserRole", "ADMIN", m_update_user_role),
    Case("enableMfa", "VIEWER", m_enable_mfa),
    Case("confirmMfa", "VIEWER", m_confirm_mfa),
    Case("disableMfa", "VIEWER", m_disable_mfa),
    Case("updateOrganization", "ADMIN", m_update_organization),
    Case("createApiKey", "MEMBER", m_create_api_key),
    Case("revokeApiKey", "VIEWER", m_revoke_api_key),
    Case("createAgent", "MEMBER", m_create_agent),
    Case("updateAgent", "MEMBER", m_update_agent),
    Case("deleteAgent", "MANAGER", m_delete_agent),
    Case("suspendAgent", "MANAGER", status_case("suspendAgent", None, AgentStatus.SUSPENDED)),
    Case("reactivateAgent", "MANAGER", status_case("reactivateAgent", AgentStatus.SUSPENDED, AgentStatus.PENDING)),
    Case("revokeAgent", "MANAGER", status_case("revokeAgent", None, AgentStatus.REVOKED)),
    Case("grantCapability", "MANAGER", m_grant_capability),
    Case("revokeCapability", "MANAGER", m_revoke_capability),
    Case("rotateAgentKey", "MEMBER", m_rotate_agent_key),
    Case("submitAgentFeedback", "MEMBER", m_submit_agent_feedback),
    Case("requestVerificationChallenge", PUBLIC, m_request_verification_challenge),
    Case("verifyAgent", PUBLIC, m_verify_agent),
    Case("authorizeAction", PUBLIC, m_authorize_action),
    Case("reportActionResult", "MEMBER", m_report_action_result),
    Case("mcpServers", "VIEWER", q_mcp_servers),
    Case("mcpServer", "VIEWER", q_mcp_server),
    Case("registerMCPServer", "MEMBER", m_register_mcp_server),
    Case("updateMCPServer", "MEMBER", m_update_mcp_server),
    Case("deleteMCPServer", "MANAGER", m_delete_mcp_server),
    Case("suspendMCPServer", "MANAGER", mcp_status_case("suspendMCPServer", None, MCPServerStatus.SUSPENDED)),
    Case(
        "reactivateMCPServer",
        "MANAGER",
        mcp_status_case("reactivateMCPServer", MCPServerStatus.SUSPENDED, MCPServerStatus.PENDING),
    ),
    Case("discoverMCPServer", "MEMBER", m_discover_mcp_server),
    Case("createMCPServerCredentials", "MANAGER", m_create_mcp_server_credentials),
    Case("requestMCPServerChallenge", PUBLIC, m_request_mcp_server_challenge),
    Case("verifyMCPServer", PUBLIC, m_verify_mcp_server),
    Case("connectMCPServer", "MEMBER", m_connect_mcp_server),
    Case("disconnectMCPServer", "MEMBER", m_disconnect_mcp_server),
    Case("reportDetectedMCPServers", "MEMBER", m_report_detected_mcp_servers),
    Case("threats", "VIEWER", q_threats),
    Case("anomalies", "VIEWER", q_anomalies),
    Case("securityMetrics", "VIEWER", q_security_metrics),
    Case("securityPolicies", "VIEWER", q_security_policies),
    Case("acknowledgeThreat", "MANAGER", threat_case("acknowledgeThreat", ThreatStatus.ACKNOWLEDGED)),
    Case("blockThreat", "MANAGER", threat_case("blockThreat", ThreatStatus.BLOCKED)),
    Case("resolveThreat", "MANAGER", threat_case("resolveThreat", ThreatStatus.RESOLVED)),
    Case("updateSecurityPolicy", "ADMIN", m_update_security_policy),
    Case("auditLogs", "MANAGER", q_audit_logs),
    Case("auditStats", "MANAGER", q_audit_stats),
    Case("verifyAuditChain", "ADMIN", q_verify_audit_chain),
    Case("auditCheckpoints", "ADMIN", q_audit_checkpoints),
    Case("exportAuditLogs", "MANAGER", m_export_audit_logs),
    Case("exportAccessReview", "ADMIN", report_case("exportAccessReview", "audit.access_review", csv_format)),
    Case("exportSubjectData", "ADMIN", report_case("exportSubjectData", "audit.subject_export", a_person)),
]
BY_NAME = {case.operation: case for case in CASES}


def allowed(role: str | None, minimum: str | None) -> bool:
    return minimum is PUBLIC or (role is not None and ROLES.index(role) >= ROLES.index(minimum))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(url: str) -> Env:
    org = await register(url)
    users = {"ADMIN": (org.admin.user_id, org.admin.email)}
    for role in ROLES[:-1]:
        person = await org.member(role)
        users[role] = (person.user_id, person.email)
    key_secrets = {}
    for role in ROLES:
        data = await org.admin.api(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            i={"name": f"{role.lower()} key", "role": role},
        )
        key_secrets[role] = data["createApiKey"]["secret"]
    return Env(url, org, users, key_secrets)


# Logging each person in once per module is cheaper than once per case.
_sessions: dict[str, Api] = {}


async def session_of(env: Env, role: str) -> Api:
    key = f"{env.org.id}/{role}"
    if key not in _sessions:
        _sessions[key] = env.org.admin.api if role == "ADMIN" else (await login(env.url, env.users[role][1])).api
    return _sessions[key]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.operation)
async def test_role_gets_exactly_what_its_rank_allows(env: Env, case: Case, role: str) -> None:
    api = Api(env.url, token=(await session_of(env, role)).token)
    await case.run(Caller(api, allowed(role, case.minimum), "FORBIDDEN", "user", role, env.users[role][0]), env)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.operation)
async def test_anonymous_callers_are_unauthenticated(env: Env, case: Case) -> None:
    await case.run(Caller(Api(env.url), case.minimum is PUBLIC, "UNAUTHENTICATED", "anonymous", None, None), env)


KEY_SPOT_CHECKS = [
    "users",
    "agents",
    "viewer",
    "inviteUser",
    "createAgent",
    "updateAgent",
    "rotateAgentKey",
    "submitAgentFeedback",
    "deleteAgent",
    "suspendAgent",
    "grantCapability",
    "revokeApiKey",
    "reportActionResult",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", KEY_SPOT_CHECKS)
async def test_api_key_with_a_role_acts_as_that_role(env: Env, operation: str, role: str) -> None:
    case = BY_NAME[operation]
    api = Api(env.url, api_key=env.key_secrets[role])
    # A key acts for the admin who made it, with the key's own role.
    await case.run(Caller(api, allowed(role, case.minimum), "FORBIDDEN", "api_key", role, env.org.admin.user_id), env)


async def test_api_keys_cannot_mint_keys(env: Env) -> None:
    api = Api(env.url, api_key=env.key_secrets["ADMIN"])
    code = await api.error(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
        i={"name": "minted by a key", "role": "VIEWER"},
    )
    assert code == "FORBIDDEN"
    assert not await ApiKey.exists(name="minted by a key")


@pytest.mark.parametrize("role", ROLES)
async def test_a_key_never_outranks_its_creator(env: Env, role: str) -> None:
    api = await session_of(env, role)
    for key_role in ROLES:
        create = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { role } } }"
        variables = {"name": f"rank-{uuid.uuid4().hex[:8]}", "role": key_role}
        if role == "VIEWER":
            assert await api.error(create, i=variables) == "FORBIDDEN"  # viewers make no keys at all
        elif ROLES.index(key_role) <= ROLES.index(role):
            assert (await api(create, i=variables))["createApiKey"]["apiKey"]["role"] == key_role
        else:
            assert await api.error(create, i=variables) == "FORBIDDEN"


async def test_a_demoted_creator_demotes_their_keys(env: Env) -> None:
    manager_id = await env.invite("MANAGER")
    email = (await User.get(id=pk(manager_id, "User"))).email
    manager = await login(env.url, email)
    secret = (
        await manager.api(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            i={"name": "manager key", "role": "MANAGER"},
        )
    )["createApiKey"]["secret"]
    key = Api(env.url, api_key=secret)
    agent = await env.agent()
    suspend = f"mutation($i: SetAgentStatusInput!) {{ suspendAgent(input: $i) {AGENT_PAYLOAD} }}"
    await env.org.admin.api(
        "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { id } } }",
        i={"userId": manager_id, "role": "VIEWER"},
    )
    assert await key.error(suspend, i={"id": agent.id}) == "FORBIDDEN"
    assert (await key("{ agents(first: 1) { totalCount } }"))["agents"]["totalCount"] >= 1


@pytest.mark.parametrize("role", ROLES)
async def test_api_keys_of_others_are_invisible_to_non_admins(env: Env, role: str) -> None:
    """The list, node(id:) and revokeApiKey agree: a non-admin sees only the keys they made."""
    api = await session_of(env, role)
    admins_key = await ApiKey.get(name="viewer key", organization_id=pk(env.org.id, "Organization"))
    gid = ids.encode("ApiKey", admins_key.id)
    listed = {k["id"] for k in (await api("{ apiKeys { id } }"))["apiKeys"]}
    node = (await api("query($id: ID!) { node(id: $id) { id } }", id=gid))["node"]
    if role == "ADMIN":
        assert gid in listed and node == {"id": gid}
    else:
        assert gid not in listed and node is None
        code = await api.error(
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { id } } }", i={"id": gid}
        )
        assert code == "NOT_FOUND"
        assert (await ApiKey.get(id=admins_key.id)).revoked_at is None


async def test_an_agent_token_holds_no_role(env: Env) -> None:
    agent = await env.agent()
    token = (await verify(Api(env.url), agent))["agentToken"]
    api = Api(env.url, token=token)
    for query, variables in [
        ("{ agents { totalCount } }", {}),
        ("{ users { totalCount } }", {}),
        ("{ apiKeys { id } }", {}),
        (
            "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }",
            {"i": {"name": f"by-agent-{uuid.uuid4().hex[:6]}"}},
        ),
        ("mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { id } } }", {"i": {"id": agent.id}}),
    ]:
        assert await api.error(query, **variables) == "FORBIDDEN", query
    # It may still rotate its own key (signed by that key).
    new_key = AgentKeys(agent.id, SigningKey.generate())
    data = await api(
        "mutation($i: RotateAgentKeyInput!) { rotateAgentKey(input: $i) { agent { publicKey } } }",
        i={
            "agentId": agent.id,
            "newPublicKey": new_key.public_key,
            "signature": rotation_signature(agent, new_key.public_key),
        },
    )
    assert data["rotateAgentKey"]["agent"]["publicKey"] == new_key.public_key


async def test_the_table_covers_every_operation_the_schema_serves(env: Env) -> None:
    data = await env.org.admin.api("{ __schema { queryType { fields { name } } mutationType { fields { name } } } }")
    served = {f["name"] for f in data["__schema"]["queryType"]["fields"]} | {
        f["name"] for f in data["__schema"]["mutationType"]["fields"]
    }
    missing = served - set(BY_NAME)
    assert not missing, f"add these operations to the RBAC table: {sorted(missing)}"


# ---- the schema against the contract

CONTRACT_CHECK = REPO.parent / "shared" / "checks" / "contract_check.py"
CONTRACT = REPO.parent / "shared" / "design" / "contract.graphql"

# What the contract names that is not built yet, by the issue that builds it. The list only shrinks:
# building a part means deleting its lines here, and the test fails until both agree.
NOT_BUILT = ""


def contract_problems(report: str) -> set[str]:
    lines = report.strip().splitlines()
    assert lines and lines[-1].startswith("contract:"), f"the check did not run to its end:\n{report}"
    return set(lines[:-1])


async def contract_report(sdl: str, path: Path) -> str:
    path.write_text(sdl)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONTRACT_CHECK),
        "--sdl",
        str(path),
        "--contract",
        str(CONTRACT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode in (0, 1), err.decode()  # 1: problems found
    return out.decode()


@pytest.mark.skipif(
    not CONTRACT_CHECK.exists() or not CONTRACT.exists(),
    reason=f"the shared contract and its checker are not at {CONTRACT_CHECK.parent.parent}",
)
async def test_served_schema_honours_the_whole_contract_but_what_is_not_built_yet(tmp_path):
    sdl = await aimctl("schema")
    assert "type Agent implements Node" in sdl and "type Query" in sdl
    not_built = {line for line in NOT_BUILT.splitlines() if line}
    assert contract_problems(await contract_report(sdl, tmp_path / "served.graphql")) == not_built
    # The check must see a problem: drop a built field and a built operation.
    broken = sdl.replace("keyFingerprint: String", "keyPrint: String").replace("  verifyAgent(", "  verifyAgentX(")
    assert broken != sdl
    problems = contract_problems(await contract_report(broken, tmp_path / "broken.graphql"))
    assert problems - not_built == {"Agent.keyFingerprint: missing field", "Mutation.verifyAgent: missing field"}
