"""Introspection (RFC 7662) and revocation (RFC 7009), as MCP servers use them with the credentials AIM
issued them: a token is active exactly while everything it stands for still holds."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.models import AuditLogEntry, ResourceToken
from aim_identity.oauth import introspection
from tests.oauth.support import OAuth, credentials, registered_server
from tests.support import Org, create_agent

SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""
REACTIVATE = """mutation($i: SetAgentStatusInput!) { reactivateAgent(input: $i) { agent { status } } }"""
ROTATE = """mutation($i: RotateAgentKeyInput!) { rotateAgentKey(input: $i) { agent { id } } }"""
SUSPEND_SERVER = """mutation($i: MCPServerInput!) { suspendMCPServer(input: $i) { mcpServer { status } } }"""


@pytest.fixture
def oauth(server: str) -> OAuth:
    return OAuth(server)


async def setup(org: Org, oauth: OAuth):
    agent = await create_agent(org.admin.api, capabilities=["mcp:get_weather"])
    server = await registered_server(org.admin.api, f"http://127.0.0.1:9/{agent.id[-6:]}/mcp")
    client = await credentials(org.admin.api, server["id"])
    token = (await oauth.token(agent, server["url"])).json()["access_token"]
    return agent, server, client, token


async def introspect(oauth: OAuth, client: tuple[str, str], token: str) -> dict:
    response = await oauth.post("/oauth/introspect", {"token": token}, auth=client)
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_active_token_is_described_to_its_server(org: Org, oauth: OAuth):
    agent, server, client, token = await setup(org, oauth)
    info = await introspect(oauth, client, token)
    assert info["active"] is True
    assert (info["sub"], info["client_id"], info["aud"], info["scope"]) == (
        agent.id,
        agent.id,
        server["url"],
        "mcp:get_weather",
    )
    assert info["iss"] == oauth.issuer and info["token_type"] == "Bearer" and info["mcp_server"] == server["id"]
    # client_secret_post works too
    posted = await oauth.post("/oauth/introspect", {"token": token, "client_id": client[0], "client_secret": client[1]})
    assert posted.json()["active"] is True


async def test_suspension_ends_the_token_at_once_and_reactivation_restores_it(org: Org, oauth: OAuth):
    agent, _, client, token = await setup(org, oauth)
    await org.admin.api(SUSPEND, i={"id": agent.id})
    assert await introspect(oauth, client, token) == {"active": False}
    await org.admin.api(REACTIVATE, i={"id": agent.id})
    assert (await introspect(oauth, client, token))["active"] is True


async def test_a_rotated_key_ends_the_tokens_bound_to_the_old_one(org: Org, oauth: OAuth):
    agent, _, client, token = await setup(org, oauth)
    new_key = SigningKey.generate()
    new_public = base64.b64encode(bytes(new_key.verify_key)).decode()
    message = f"aim/key-rotation/v1\n{agent.id}\n{new_public}".encode()
    signature = base64.b64encode(agent.signing_key.sign(message).signature).decode()
    await org.admin.api(ROTATE, i={"agentId": agent.id, "newPublicKey": new_public, "signature": signature})
    assert await introspect(oauth, client, token) == {"active": False}


async def test_another_server_learns_nothing_of_the_token(org: Org, oauth: OAuth):
    agent, _, _, token = await setup(org, oauth)
    other = await registered_server(org.admin.api, f"http://127.0.0.1:9/{agent.id[-6:]}/other")
    assert await introspect(oauth, await credentials(org.admin.api, other["id"]), token) == {"active": False}


async def test_a_suspended_server_gets_nothing_active(org: Org, oauth: OAuth):
    _, server, client, token = await setup(org, oauth)
    await org.admin.api(SUSPEND_SERVER, i={"id": server["id"]})
    assert await introspect(oauth, client, token) == {"active": False}


async def test_revocation_ends_the_token_and_is_audited(org: Org, oauth: OAuth):
    agent, _, client, token = await setup(org, oauth)
    revoked = await oauth.post("/oauth/revoke", {"token": token}, auth=client)
    assert revoked.status_code == 200
    assert await introspect(oauth, client, token) == {"active": False}
    assert await AuditLogEntry.filter(action="oauth.token_revoked", target_id=agent.id).count() == 1
    # RFC 7009: an unknown or invalid token is no error
    assert (await oauth.post("/oauth/revoke", {"token": "garbage"}, auth=client)).status_code == 200


async def test_servers_must_authenticate(org: Org, oauth: OAuth):
    _, server, client, token = await setup(org, oauth)
    for auth in ((client[0], client[1] + "x"), ("not-an-id", client[1]), None):
        response = await oauth.post("/oauth/introspect", {"token": token}, auth=auth)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    # New credentials replace the old ones.
    fresh = await credentials(org.admin.api, server["id"])
    refused = await oauth.post("/oauth/introspect", {"token": token}, auth=client)
    assert refused.status_code == 401
    assert (await introspect(oauth, fresh, token))["active"] is True
    assert fresh[1].startswith("aim_rs_")


async def test_housekeeping_deletes_tokens_a_day_after_they_expire(org: Org, oauth: OAuth):
    agent, _, client, token = await setup(org, oauth)
    agent_id = ids.decode(agent.id, "Agent")
    row = await ResourceToken.get(agent_id=agent_id)
    await introspection.prune(row.expires_at + timedelta(hours=23))
    assert await ResourceToken.exists(id=row.id)
    await introspection.prune(row.expires_at + timedelta(days=1, seconds=1))
    assert not await ResourceToken.exists(id=row.id)
    assert await introspect(oauth, client, token) == {"active": False}
