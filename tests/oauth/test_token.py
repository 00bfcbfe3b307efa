"""The token endpoint (RFC 6749 with RFC 7523 client assertions, RFC 8693 token exchange and RFC 8707
resource indicators): what it issues, and every way it refuses, with the RFC's error and status."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.models import AuditLogEntry, ResourceToken, Threat, ThreatType
from tests.oauth.support import TOKEN_EXCHANGE, OAuth, assertion, registered_server
from tests.support import Org, alert_only, create_agent, verify

SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""
ROTATE = """mutation($i: RotateAgentKeyInput!) { rotateAgentKey(input: $i) { agent { id } } }"""


def now() -> int:
    return int(time.time())


@pytest.fixture
def oauth(server: str) -> OAuth:
    return OAuth(server)


async def agent_and_server(org: Org, grants: list[str] | None = None):
    agent = await create_agent(org.admin.api, capabilities=grants or ["mcp:get_weather", "mcp:send_email"])
    server = await registered_server(org.admin.api, f"http://127.0.0.1:9/{agent.id[-6:]}/mcp")
    return agent, server


def error(response) -> str:
    assert response.headers["cache-control"] == "no-store"
    return response.json()["error"]


async def test_an_agent_gets_a_token_bound_to_one_server_its_grants_and_its_key(org: Org, oauth: OAuth, server):
    agent, registered = await agent_and_server(org)
    response = await oauth.token(agent, registered["url"], "mcp:get_weather")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "mcp:get_weather"
    assert 0 < body["expires_in"] <= 600
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "EdDSA"
    keys = jwt.PyJWKSet.from_dict(
        (await __import__("httpx").AsyncClient().get(f"{server}/.well-known/jwks.json")).json()
    )
    claims = jwt.decode(
        body["access_token"],
        keys[header["kid"]].key,
        algorithms=["EdDSA"],
        audience=registered["url"],
        issuer=server,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    assert claims["sub"] == claims["client_id"] == agent.id
    assert claims["scope"] == "mcp:get_weather" and claims["exp"] - claims["iat"] <= 600
    public = base64.urlsafe_b64encode(bytes(agent.signing_key.verify_key)).rstrip(b"=").decode()
    assert claims["cnf"]["jwk"] == {"kty": "OKP", "crv": "Ed25519", "x": public}

    everything = (await oauth.token(agent, registered["url"])).json()
    assert everything["scope"] == "mcp:get_weather mcp:send_email"  # nothing asked: every grant


async def test_a_wildcard_grant_covers_what_it_names(org: Org, oauth: OAuth):
    agent, registered = await agent_and_server(org, ["mcp:*"])
    assert (await oauth.token(agent, registered["url"], "mcp:send_email")).json()["scope"] == "mcp:send_email"
    assert error(await oauth.token(agent, registered["url"], "db:read")) == "invalid_scope"


async def test_the_resource_must_be_a_live_server_of_the_agents_organization(org: Org, other_org: Org, oauth: OAuth):
    agent, registered = await agent_and_server(org)
    foreign = await registered_server(other_org.admin.api, "http://127.0.0.1:9/foreign/mcp")
    for resource in ("http://127.0.0.1:9/unknown/mcp", foreign["url"]):
        response = await oauth.token(agent, resource)
        assert (response.status_code, error(response)) == (400, "invalid_target")
    assert (await oauth.token(agent, registered["url"] + "/")).status_code == 200  # the trailing slash is the same
    suspend = """mutation($i: MCPServerInput!) { suspendMCPServer(input: $i) { mcpServer { status } } }"""
    await org.admin.api(suspend, i={"id": registered["id"]})
    assert error(await oauth.token(agent, registered["url"])) == "invalid_target"
    missing = await oauth.token(agent, None)
    assert (missing.status_code, error(missing)) == (400, "invalid_request")


async def test_an_assertion_is_spent_once_and_a_replay_is_misuse(org: Org, oauth: OAuth):
    agent, registered = await agent_and_server(org)
    signed = assertion(agent, oauth.issuer)
    assert (await oauth.token(agent, registered["url"], client_assertion=signed)).status_code == 200
    replay = await oauth.token(agent, registered["url"], client_assertion=signed)
    assert (replay.status_code, error(replay)) == (401, "invalid_client")
    agent_id = ids.decode(agent.id, "Agent")
    assert [t.type for t in await Threat.filter(agent_id=agent_id)] == [ThreatType.CREDENTIAL_MISUSE]
    assert await AuditLogEntry.filter(action="oauth.token_refused", target_id=agent.id).count() == 1
    assert await ResourceToken.filter(agent_id=agent_id).count() == 1


async def test_a_retired_key_and_a_suspended_agent_are_refused_as_misuse(org: Org, oauth: OAuth, anonymous):
    await alert_only(org)  # the agent goes on with its current key
    agent, registered = await agent_and_server(org)
    old_key, new_key = agent.signing_key, SigningKey.generate()
    new_public = base64.b64encode(bytes(new_key.verify_key)).decode()
    message = f"aim/key-rotation/v1\n{agent.id}\n{new_public}".encode()
    signature = base64.b64encode(old_key.sign(message).signature).decode()
    await org.admin.api(ROTATE, i={"agentId": agent.id, "newPublicKey": new_public, "signature": signature})
    agent.signing_key = new_key
    stale = await oauth.token(agent, registered["url"], client_assertion=assertion(agent, oauth.issuer, key=old_key))
    assert (stale.status_code, error(stale)) == (401, "invalid_client")
    assert "retired" in stale.json()["error_description"]
    assert (await oauth.token(agent, registered["url"])).status_code == 200

    await org.admin.api(SUSPEND, i={"id": agent.id})
    suspended = await oauth.token(agent, registered["url"])
    assert (suspended.status_code, error(suspended)) == (401, "invalid_client")
    (threat,) = await Threat.filter(agent_id=ids.decode(agent.id, "Agent"))
    assert (threat.type, threat.occurrences) == (ThreatType.CREDENTIAL_MISUSE, 2)  # the second joined the first


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda a, aud: "not.a.jwt", id="malformed"),
        pytest.param(lambda a, aud: jwt.encode({"iss": a.id, "sub": a.id, "aud": aud}, None, "none"), id="alg-none"),
        pytest.param(
            lambda a, aud: jwt.encode(
                {"iss": a.id, "sub": a.id, "aud": aud, "exp": time.time() + 60}, "k" * 32, "HS256"
            ),
            id="alg-HS256",
        ),
        pytest.param(lambda a, aud: assertion(a, aud, exp=now() - 120), id="expired"),
        pytest.param(lambda a, aud: assertion(a, aud, iat=now() + 600, exp=now() + 700), id="future"),
        pytest.param(lambda a, aud: assertion(a, aud, exp=now() + 3600), id="long-lived"),
        pytest.param(lambda a, aud: assertion(a, "https://elsewhere.example"), id="wrong-audience"),
        pytest.param(lambda a, aud: assertion(a, aud, jti=None), id="no-jti"),
        pytest.param(lambda a, aud: assertion(a, aud, key=SigningKey.generate()), id="another-key"),
        pytest.param(lambda a, aud: assertion(a, aud, sub="QWdlbnQ6bm90LWFuLWFnZW50"), id="sub-is-not-iss"),
    ],
)
async def test_a_bad_assertion_is_invalid_client_never_a_500(org: Org, oauth: OAuth, spoil):
    agent, registered = await agent_and_server(org)
    response = await oauth.token(agent, registered["url"], client_assertion=spoil(agent, oauth.issuer))
    assert (response.status_code, error(response)) == (401, "invalid_client"), response.text
    assert "WWW-Authenticate" in response.headers


async def test_the_assertion_may_name_the_token_endpoint_as_audience(org: Org, oauth: OAuth):
    agent, registered = await agent_and_server(org)
    signed = assertion(agent, oauth.token_endpoint)
    assert (await oauth.token(agent, registered["url"], client_assertion=signed)).status_code == 200


async def test_bad_requests_get_rfc_errors(org: Org, oauth: OAuth):
    agent, registered = await agent_and_server(org)
    assert error(await oauth.post("/oauth/token", {"grant_type": "password"})) == "unsupported_grant_type"
    assert error(await oauth.post("/oauth/token", {})) == "invalid_request"
    assert error(await oauth.post("/oauth/token", {"grant_type": "client_credentials"})) == "invalid_client"
    as_json = await oauth.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert (as_json.status_code, error(as_json)) == (400, "invalid_request")
    twice = await oauth.post("/oauth/token", content=b"grant_type=a&grant_type=b", headers={"Content-Type": FORM})
    assert error(twice) == "invalid_request"
    huge = await oauth.post("/oauth/token", content=b"x=" + b"a" * 100_000, headers={"Content-Type": FORM})
    assert (huge.status_code, error(huge)) == (413, "invalid_request")
    quoted = await oauth.token(agent, registered["url"], 'mcp:"\\\u00e9')
    assert (quoted.status_code, error(quoted)) == (400, "invalid_scope")


FORM = "application/x-www-form-urlencoded"


async def test_an_agent_token_is_exchanged_for_a_server_token(org: Org, oauth: OAuth, anonymous):
    agent, registered = await agent_and_server(org)
    agent_token = (await verify(anonymous, agent))["agentToken"]
    exchange = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": agent_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "resource": registered["url"],
        "scope": "mcp:send_email",
    }
    response = await oauth.post("/oauth/token", exchange)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["scope"] == "mcp:send_email"

    forged = await oauth.post("/oauth/token", exchange | {"subject_token": agent_token[:-4] + "AAAA"})
    assert (forged.status_code, error(forged)) == (400, "invalid_grant")
    assert not await Threat.exists(agent_id=ids.decode(agent.id, "Agent"))  # a forgery is not the agent's
    await org.admin.api(SUSPEND, i={"id": agent.id})
    assert error(await oauth.post("/oauth/token", exchange)) == "invalid_grant"
    threats = await Threat.filter(agent_id=ids.decode(agent.id, "Agent")).values_list("type", flat=True)
    assert list(threats) == [ThreatType.CREDENTIAL_MISUSE]
    assert await AuditLogEntry.filter(action="oauth.token_refused", target_id=agent.id).count() == 1


async def test_forged_assertions_throttle_their_address_not_the_agent(org: Org, oauth: OAuth, settings):
    agent, registered = await agent_and_server(org)
    forger = SigningKey.generate()

    async def forged():
        return await oauth.token(agent, registered["url"], client_assertion=assertion(agent, oauth.issuer, key=forger))

    for _ in range(settings.login_ip_max_failures):
        assert (await forged()).status_code == 401
    throttled = await forged()
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert (await oauth.token(agent, registered["url"])).status_code == 200  # what the agent signed still counts
    assert not await Threat.exists(agent_id=ids.decode(agent.id, "Agent"))
