"""The token endpoint's grants: `client_credentials` for an agent that signs a client assertion, and
a token exchange (RFC 8693) of a valid agent token. Either way the token is for one MCP server
registered in the agent's organization (`resource`, RFC 8707), carries the grants asked for that the
agent holds (`scope`), is bound to the agent's key (`cnf.jwk`), and is an RFC 9068 `at+jwt`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError

from aim_identity import db, ids, row_security
from aim_identity.actors import Actor
from aim_identity.auth import principal, tokens
from aim_identity.auth.keyring import Keyring, b64url
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, NotFound, Unauthenticated
from aim_identity.identity import capabilities, keys
from aim_identity.models import AgentStatus, MCPServerStatus
from aim_identity.oauth import assertions, metadata
from aim_identity.oauth.assertions import Signer, Target
from aim_identity.oauth.errors import InvalidTargetError, printable

RESOURCE_TYP = "at+jwt"
MAX_SCOPES = 100
# The token's row; a conflict means the assertion was spent already.
_RECORD = """INSERT INTO resource_tokens (id, organization_id, agent_id, mcp_server_id, scope, grant_type,
                             assertion_jti, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (agent_id, assertion_jti) DO NOTHING
RETURNING id"""


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int
    scope: str

    def response(self, **extra: str) -> dict[str, Any]:
        return {
            "access_token": self.token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
            **extra,
        }


async def client_credentials(settings: Settings, keyring: Keyring, actor: Actor, form: dict[str, str]) -> Issued:
    if form.get("client_assertion_type") != metadata.CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
        raise assertions.refused(
            f"authenticate with a client assertion (client_assertion_type {metadata.CLIENT_ASSERTION_TYPE})"
        )
    resource = _resource(form)
    with row_security.every_organization():  # the assertion names its agent, whose organization it is
        client = await assertions.authenticate(
            settings, form["client_assertion"], form.get("client_id"), actor, resource
        )
    return await _issue(settings, keyring, actor, client.agent, form, "client_credentials", client.jti)


async def token_exchange(settings: Settings, keyring: Keyring, actor: Actor, form: dict[str, str]) -> Issued:
    if form.get("subject_token_type") not in (metadata.JWT_TOKEN_TYPE, metadata.ACCESS_TOKEN_TYPE):
        raise InvalidRequestError(description=f"subject_token_type must be {metadata.JWT_TOKEN_TYPE} (an agent token)")
    subject_token = form.get("subject_token")
    if not subject_token:
        raise InvalidRequestError(description="subject_token is required")
    resource = _resource(form)
    try:
        claims = tokens.verify(
            keyring, subject_token, typ=tokens.AGENT_TYP, audience=tokens.AGENT_AUD, issuer=settings.issuer
        )
        agent_id = ids.decode(claims["sub"], "Agent")
    except (Unauthenticated, BadUserInput, NotFound, KeyError) as exc:
        raise InvalidGrantError(description=printable(f"the subject token is not a valid agent token: {exc}")) from None
    with row_security.every_organization():  # the token names its agent, whose organization it is
        agent = await assertions.load(agent_id, resource)
        if agent is None:
            raise InvalidGrantError(description="the agent is gone")
        try:
            await principal.from_agent_token(subject_token, keyring, settings)
        except Unauthenticated:  # AIM signed it, but it is dead: logged out, its key rotated, or the agent stopped
            if agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
                what = f"is {agent.status.value.lower()} and traded an agent token"
                await assertions.misuse(agent, actor, "Inactive agent asked for a token", what)
            raise InvalidGrantError(description="the agent token is no longer valid") from None
    return await _issue(settings, keyring, actor, agent, form, metadata.TOKEN_EXCHANGE, None)


async def _issue(
    settings: Settings,
    keyring: Keyring,
    actor: Actor,
    agent: Signer,
    form: dict[str, str],
    grant_type: str,
    assertion_jti: str | None,
) -> Issued:
    row_security.enter(agent.organization_id)  # the rest of the request is the agent's organization's
    server = _server(agent)
    scope = _scope(agent.grants, form.get("scope"))
    now = datetime.now(UTC).replace(microsecond=0)
    ttl = settings.resource_token_ttl
    jti = uuid.uuid4()
    recorded = await db.fetch_one(
        _RECORD,
        jti,
        agent.organization_id,
        agent.id,
        server.id,
        scope,
        grant_type,
        assertion_jti,
        now,
        now + timedelta(seconds=ttl),
    )
    if recorded is None:
        await assertions.misuse(
            agent, actor, "Replayed client assertion", "sent a client assertion again", jti=assertion_jti
        )
        raise assertions.refused("the client assertion was already used")
    agent_gid = ids.encode("Agent", agent.id)
    issued = tokens.issue(
        keyring,
        typ=RESOURCE_TYP,
        audience=server.url,
        issuer=metadata.issuer(settings),
        subject=agent_gid,
        ttl=ttl,
        jti=str(jti),
        now=int(now.timestamp()),
        claims={
            "client_id": agent_gid,
            "scope": scope,
            "org": ids.encode("Organization", agent.organization_id),
            "mcp_server": ids.encode("MCPServer", server.id),
            "cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64url(keys.public_key(agent.public_key))}},
        },
    )
    return Issued(issued.token, ttl, scope)


def _resource(form: dict[str, str]) -> str:
    resource = form.get("resource")
    if not resource:
        raise InvalidRequestError(description="resource is required: the URL of the MCP server the token is for")
    if len(resource) > 2000:
        raise InvalidTargetError(description="resource is longer than 2000 characters")
    return resource


def _server(agent: Signer) -> Target:
    if not agent.servers:
        raise InvalidTargetError(description="no MCP server with this URL is registered in the agent's organization")
    server = agent.servers[0]
    if server.status in (MCPServerStatus.SUSPENDED, MCPServerStatus.REVOKED):
        raise InvalidTargetError(description=f"the MCP server is {server.status.value.lower()}")
    return server


def _scope(grants: list[str], requested: str | None) -> str:
    """The grants asked for, each of which the agent must hold; none asked for, all it holds."""
    if requested is None or not requested.strip():
        return " ".join(sorted(grants))
    asked = list(dict.fromkeys(requested.split()))
    if len(asked) > MAX_SCOPES:
        raise InvalidScopeError(description=f"at most {MAX_SCOPES} scopes")
    for name in asked:
        try:
            capabilities.validate(name)
        except BadUserInput:
            raise InvalidScopeError(description=printable(f"{name[:100]} is not a capability name")) from None
        if not capabilities.allows(grants, name):
            raise InvalidScopeError(description=f"the agent is not granted {name}")
    return " ".join(asked)
