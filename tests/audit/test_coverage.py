"""What the trail records of a scripted session: each sign-in attempt, refresh, sign-out, verification,
authorization and subscription start, with the caller's address and client; and none of the secrets the session handled,
anywhere in any entry."""

from __future__ import annotations

import json

from aim_identity import ids
from aim_identity.models import AuditLogEntry
from tests.auth.test_api_keys import CREATE_KEY
from tests.auth.test_mfa import with_mfa
from tests.delivery.test_websocket import AUDIT, Feed
from tests.identity.test_actions import AUTHORIZE
from tests.oauth.support import credentials, registered_server
from tests.support import LOGIN, PASSWORD, Api, Org, Person, create_agent, signed_request, verify
from tests.webhooks.test_deliveries import CREATE as CREATE_WEBHOOK

REFRESH = """mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken refreshToken } }"""
LOGOUT = """mutation { logout(input: {}) { ok } }"""
AGENT_EVENTS_NAMED = "subscription Watch { agentEvents { kind } }"
CREATE_AGENT = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { privateKey agent { id } } }"""


async def test_a_session_is_audited_with_its_address_and_client_and_no_secret_is_kept(org: Org, url):
    person = await org.member("MEMBER")
    secrets: list[str] = [PASSWORD, person.refresh_token, person.api.token or "", org.admin.api.token or ""]
    caller = Api(url)
    wrong = "not the password at all"
    assert await caller.error(LOGIN, i={"email": person.email, "password": wrong}) == "UNAUTHENTICATED"
    signed_in = (await caller(LOGIN, i={"email": person.email, "password": PASSWORD}))["login"]
    refreshed = (await caller(REFRESH, i={"refreshToken": signed_in["refreshToken"]}))["refreshToken"]
    secrets += [wrong, signed_in["accessToken"], signed_in["refreshToken"], refreshed["accessToken"]]
    secrets += [refreshed["refreshToken"]]
    session = Api(url, token=refreshed["accessToken"], ip=caller.ip)
    totp_secret, recovery = await with_mfa(Person(session, person.user_id, person.email, refreshed["refreshToken"]))
    secrets += [totp_secret, *recovery]
    secrets.append((await org.admin.api(CREATE_KEY, i={"name": "ci", "role": "VIEWER"}))["createApiKey"]["secret"])
    made = (await org.admin.api(CREATE_AGENT, i={"name": "keyless", "capabilities": ["db:read"]}))["createAgent"]
    secrets.append(made["privateKey"])
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    secrets.append((await verify(caller, agent))["agentToken"])
    assert (await caller(AUTHORIZE, i=signed_request(agent, "db:read")))["authorizeAction"]["allowed"]
    hook = await org.admin.api(CREATE_WEBHOOK, i={"url": "https://hooks.example.com/x", "events": ["*"]})
    secrets.append(hook["createWebhook"]["secret"])
    server = await registered_server(org.admin.api, "https://mcp.example.com/mcp")
    secrets.append((await credentials(org.admin.api, server["id"]))[1])
    await session(LOGOUT)

    entries = await AuditLogEntry.filter(organization_id=ids.decode(org.id, "Organization")).order_by("sequence")
    mine = {e.action for e in entries if e.ip_address == caller.ip}
    assert {
        "auth.login_failed",
        "auth.login",
        "auth.refresh",
        "auth.mfa_enable",
        "agent.verify",
        "agent.action_authorize",
        "auth.logout",
    } <= mine
    assert all(e.user_agent for e in entries if e.ip_address == caller.ip)

    stored = "\n".join(
        json.dumps([e.actor_id, e.action, e.target_id, e.ip_address, e.user_agent, e.metadata]) for e in entries
    )
    assert all(len(s) >= 16 for s in secrets if s != PASSWORD)  # each is a real secret, not a common word
    leaked = [s[:8] + "…" for s in secrets if s and s in stored]
    assert not leaked, f"secrets in the audit trail: {leaked}"


async def test_a_subscription_start_is_audited_with_its_caller(org: Org, url):
    for query in (AGENT_EVENTS_NAMED, AUDIT):
        async with Feed(url, query, Authorization=f"Bearer {org.admin.api.token}"):
            pass
    started = await AuditLogEntry.filter(
        organization_id=ids.decode(org.id, "Organization"), action="subscription.start"
    ).order_by("sequence")
    assert [e.metadata for e in started] == [
        {"fields": ["agentEvents"], "operation": "Watch"},
        {"fields": ["auditLogAppended"], "operation": None},
    ]
    assert {(e.actor_type, e.actor_id) for e in started} == {("user", org.admin.user_id)}
    assert all(e.ip_address and e.user_agent for e in started)
