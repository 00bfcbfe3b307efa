"""What MCP servers ask of AIM about the tokens they are shown: introspection (RFC 7662) and
revocation (RFC 7009), each authenticated with the credentials AIM issued the server.

A token is active only while everything it stands for still holds, read at each introspection: it
was issued for the asking server, it has not expired or been revoked, the agent is neither suspended,
revoked nor deleted and still holds the key the token is bound to, and the server is not suspended.
So suspending an agent locks it out of every server that introspects, at their next request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from authlib.oauth2.rfc6749.errors import InvalidClientError

from aim_identity import db, ids, row_security
from aim_identity.actors import Actor
from aim_identity.auth import tokens
from aim_identity.auth.keyring import Keyring, b64url
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, NotFound
from aim_identity.identity import keys
from aim_identity.models import AgentStatus, MCPServer, MCPServerStatus, ResourceToken
from aim_identity.oauth import metadata
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import atomic

SECRET_PREFIX = "aim_rs_"
INACTIVE: dict[str, Any] = {"active": False}

_TOKEN = """
SELECT t.scope, t.revoked_at, t.expires_at, a.status AS agent_status, a.public_key, a.deleted_at AS agent_deleted_at
FROM resource_tokens t JOIN agents a ON a.id = t.agent_id
WHERE t.id = $1 AND t.mcp_server_id = $2"""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_credentials(actor: Actor, server_id: uuid.UUID) -> tuple[MCPServer, str, str]:
    """A new client secret for the server (any earlier one stops working): the server, its client ID
    and the secret, which is shown this once and stored only as its SHA-256."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    assert actor.organization_id is not None
    async with atomic(actor) as work:
        server = await scoped(MCPServer, actor.organization_id).select_for_update().get_or_none(id=server_id)
        if server is None:
            raise NotFound("No such MCP server")
        replaced = server.client_secret_hash is not None
        server.client_secret_hash = _digest(secret)
        await server.save(update_fields=["client_secret_hash"])
        gid = ids.encode("MCPServer", server.id)
        work.audit("mcp_server.credentials_created", "MCPServer", gid, replaced=replaced)
    return server, gid, secret


async def resource_server(client_id: str | None, secret: str | None) -> MCPServer:
    """The live MCP server these credentials are for, else invalid_client."""
    if not client_id or not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        raise _refused()
    try:
        server_id = ids.decode(client_id, "MCPServer")
    except (BadUserInput, NotFound):  # not a global ID, or not of that type
        raise _refused() from None
    with row_security.every_organization():  # the credentials name their server, whose organization it is
        server = await MCPServer.get_or_none(id=server_id, deleted_at=None)
    if server is None or server.client_secret_hash is None:
        raise _refused()
    if not hmac.compare_digest(server.client_secret_hash, _digest(secret)):
        raise _refused()
    row_security.enter(server.organization_id)  # the rest of the request is the server's organization's
    return server


def _refused() -> InvalidClientError:
    return InvalidClientError(description="unknown MCP server or wrong client secret", status_code=401)


async def introspect(settings: Settings, keyring: Keyring, server: MCPServer, token: str) -> dict[str, Any]:
    if server.status in (MCPServerStatus.SUSPENDED, MCPServerStatus.REVOKED):
        return INACTIVE
    try:
        claims = tokens.verify(keyring, token, typ="at+jwt", audience=server.url, issuer=metadata.issuer(settings))
        jti = uuid.UUID(claims["jti"])
    except Exception:  # any token that does not verify, is not for this server, or is not ours
        return INACTIVE
    row = await db.fetch_one(_TOKEN, jti, server.id)
    now = datetime.now(UTC)
    bound = claims.get("cnf", {}).get("jwk", {}).get("x")
    if (
        row is None
        or row["revoked_at"] is not None
        or db.as_datetime(row["expires_at"]) <= now
        or row["agent_deleted_at"] is not None
        or AgentStatus(row["agent_status"]) in (AgentStatus.SUSPENDED, AgentStatus.REVOKED)
        or bound != b64url(keys.public_key(row["public_key"]))
    ):
        return INACTIVE
    return {
        "active": True,
        "token_type": "Bearer",
        **{name: claims[name] for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "cnf")},
        "org": claims.get("org"),
        "mcp_server": claims.get("mcp_server"),
    }


async def revoke(server: MCPServer, token: str) -> None:
    """Ends one of the server's tokens. As RFC 7009 asks, an unknown or invalid token is no error."""
    try:
        jti = uuid.UUID(jwt.decode(token, options={"verify_signature": False}).get("jti", ""))
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
        return
    actor = Actor(server.organization_id, "mcp_server", ids.encode("MCPServer", server.id))
    async with atomic(actor) as work:
        revoked = await db.fetch_one(
            "UPDATE resource_tokens SET revoked_at = $3 WHERE id = $1 AND mcp_server_id = $2 AND revoked_at IS NULL "
            "RETURNING agent_id",
            jti,
            server.id,
            datetime.now(UTC),
        )
        if revoked is not None:
            agent_gid = ids.encode("Agent", uuid.UUID(str(revoked["agent_id"])))
            work.audit("oauth.token_revoked", "Agent", agent_gid, tokenId=str(jti))


# An expired token's row is kept a day past its expiry (as spent challenges are), then deleted: the
# signed token says nothing any more, and its assertion's jti could no longer be replayed anyway.
EXPIRED_KEPT = timedelta(days=1)


async def prune(now: datetime | None = None) -> int:
    """Deletes tokens that expired more than EXPIRED_KEPT ago; `aimctl worker` runs it."""
    return await ResourceToken.filter(expires_at__lt=(now or datetime.now(UTC)) - EXPIRED_KEPT).delete()
