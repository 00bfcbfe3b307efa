"""An agent authenticating to the token endpoint with `private_key_jwt` (RFC 7523, section 2.2): a JWT
whose `iss` and `sub` are the agent's ID, signed with EdDSA by the agent's current Ed25519 key, for AIM
(`aud` its issuer or its token endpoint), short-lived, with a `jti` that is spent by the token it buys."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from authlib.oauth2.rfc6749.errors import InvalidClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aim_identity import db, ids
from aim_identity.actors import Actor
from aim_identity.auth import login_guard
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, NotFound
from aim_identity.identity import keys
from aim_identity.models import AgentKey, AgentStatus, MCPServerStatus, Severity, ThreatType
from aim_identity.oauth import metadata
from aim_identity.oauth.errors import printable
from aim_identity.security.threats import raise_threat
from aim_identity.unit_of_work import atomic

MAX_BYTES = 4096
MAX_LIFETIME = 300  # seconds from `iat` to `exp`
CLOCK_SKEW = 60
JTI_MAX = 200
REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti"]

# What issuing needs, in one round trip: the token endpoint is called for every MCP server an agent
# uses, every few minutes. A row for the agent, one per grant, and one per live server of its
# organization at the requested URL ($2, or $3: the same URL with or without its trailing slash).
_AGENT = """
SELECT 'agent' AS kind, a.id, a.organization_id, a.name, a.status, a.public_key
FROM agents a WHERE a.id = $1 AND a.deleted_at IS NULL
UNION ALL
SELECT 'grant', NULL, NULL, g.name, NULL, NULL FROM capability_grants g WHERE g.agent_id = $1
UNION ALL
SELECT 'server', s.id, NULL, s.url, s.status, NULL
FROM mcp_servers s JOIN agents a ON a.id = $1 AND s.organization_id = a.organization_id
WHERE s.deleted_at IS NULL AND s.url IN ($2, $3)"""


@dataclass(frozen=True)
class Target:
    """A registered MCP server a token was asked for."""

    id: uuid.UUID
    url: str
    status: MCPServerStatus


@dataclass(frozen=True)
class Signer:
    """A live agent as the token endpoint sees it."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    status: AgentStatus
    public_key: str
    grants: list[str]
    servers: list[Target]  # at the URL asked for: none, or one (or both forms of it)


@dataclass(frozen=True)
class Client:
    """An agent that proved itself, and the assertion it spent."""

    agent: Signer
    jti: str


def refused(description: str) -> InvalidClientError:
    return InvalidClientError(description=printable(description), status_code=401)


async def load(agent_id: uuid.UUID, resource: str) -> Signer | None:
    """The live agent, its grants and the servers registered at `resource` in its organization."""
    trimmed = resource.rstrip("/")
    rows = await db.fetch(_AGENT, agent_id, resource, trimmed if trimmed != resource else resource + "/")
    agent = next((row for row in rows if row["kind"] == "agent"), None)
    if agent is None:
        return None
    servers = [
        Target(uuid.UUID(str(row["id"])), row["name"], MCPServerStatus(row["status"]))
        for row in rows
        if row["kind"] == "server"
    ]
    return Signer(
        agent_id,
        uuid.UUID(str(agent["organization_id"])),
        agent["name"],
        AgentStatus(agent["status"]),
        agent["public_key"],
        [row["name"] for row in rows if row["kind"] == "grant"],
        sorted(servers, key=lambda server: server.url != resource),  # the exact URL first
    )


async def authenticate(
    settings: Settings, assertion: str, client_id: str | None, actor: Actor, resource: str
) -> Client:
    if len(assertion) > MAX_BYTES:
        raise refused(f"the client assertion is over {MAX_BYTES} bytes")
    header, unverified = _unverified(assertion)
    if header.get("alg") != "EdDSA":
        raise refused("the client assertion must be signed with EdDSA by the agent's key")
    subject = unverified.get("sub")
    if not isinstance(subject, str) or unverified.get("iss") != subject or client_id not in (None, subject):
        raise refused("the client assertion's iss and sub (and client_id, if sent) must be the agent's ID")
    try:
        agent_id = ids.decode(subject, "Agent")
    except (BadUserInput, NotFound):  # not a global ID, or not of that type
        raise refused("the client assertion's sub is not an agent ID") from None
    agent = await load(agent_id, resource)
    if agent is None:
        raise refused("no such agent")
    try:
        claims = _verified(settings, assertion, agent.public_key)
    except jwt.InvalidSignatureError:
        if await _signed_by_retired_key(settings, agent, assertion):
            await misuse(agent, actor, "Retired key used", "asked for an access token with a retired key")
            raise refused("the client assertion is signed with a retired key") from None
        # Anyone who knows the agent's ID could have sent it: counted against the sender's address.
        await login_guard.check(settings, login_guard.SIGNATURE, None, actor.ip_address)
        await login_guard.record_failure(login_guard.SIGNATURE, subject, actor.ip_address)
        raise refused("the client assertion's signature does not verify with the agent's key") from None
    except jwt.ExpiredSignatureError:
        raise refused("the client assertion has expired") from None
    except jwt.ImmatureSignatureError:
        raise refused("the client assertion is issued in the future") from None
    except jwt.InvalidAudienceError:
        raise refused(f"the client assertion's aud must be {metadata.issuer(settings)}") from None
    except jwt.PyJWTError as exc:
        raise refused(f"the client assertion is not valid: {exc}") from None
    if claims["exp"] - claims["iat"] > MAX_LIFETIME or claims["exp"] > time.time() + MAX_LIFETIME + CLOCK_SKEW:
        raise refused(f"the client assertion may be valid for at most {MAX_LIFETIME} s")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= JTI_MAX:
        raise refused(f"the client assertion's jti must be a string of 1 to {JTI_MAX} characters")
    if agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
        await misuse(agent, actor, "Inactive agent asked for a token", f"is {agent.status.value.lower()}")
        raise refused(f"the agent is {agent.status.value.lower()}")
    return Client(agent, jti)


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims, to learn whose key should verify them (PyJWT verifies them after)."""
    parts = assertion.split(".")
    try:
        header, payload = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts[:2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise refused("the client assertion is not a JWT") from None
    if len(parts) != 3 or not isinstance(header, dict) or not isinstance(payload, dict):
        raise refused("the client assertion is not a JWT")
    return header, payload


@functools.lru_cache(maxsize=4096)
def _key(public_key: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(keys.public_key(public_key))


def _verified(settings: Settings, assertion: str, public_key: str) -> dict[str, Any]:
    return jwt.decode(
        assertion,
        _key(public_key),
        algorithms=["EdDSA"],
        audience=[metadata.issuer(settings), metadata.token_endpoint(settings)],
        leeway=CLOCK_SKEW,
        options={"require": REQUIRED},
    )


async def _signed_by_retired_key(settings: Settings, agent: Signer, assertion: str) -> bool:
    retired = AgentKey.filter(agent_id=agent.id).exclude(retired_at=None)
    for key in await retired.values_list("public_key", flat=True):
        try:
            _verified(settings, assertion, str(key))
            return True
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:  # the retired key signed it, though it is not valid otherwise
            return True
    return False


async def misuse(agent: Signer, actor: Actor, title: str, what: str, **evidence: Any) -> None:
    """A request the agent's key (current or retired) signed, refused as credential misuse: a threat,
    audited, in its own transaction."""
    gid = ids.encode("Agent", agent.id)
    async with atomic(actor.as_agent(agent.organization_id, agent.id)) as work:
        await raise_threat(
            work,
            agent.organization_id,
            ThreatType.CREDENTIAL_MISUSE,
            Severity.HIGH,
            title,
            f"Agent {agent.name} {what}",
            agent_id=agent.id,
            evidence={"ipAddress": actor.ip_address, **evidence},
            key=title,
        )
        work.audit("oauth.token_refused", "Agent", gid, reason=title, **evidence)
