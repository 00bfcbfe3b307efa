"""Turning request credentials into a Principal: a user (access token), an API key, or an agent
(agent token). Roles are read from the database on every request, so a demotion or a revocation
takes effect on the very next one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from aim_identity import ids, row_security
from aim_identity.auth import api_keys, login_guard, mfa, tokens
from aim_identity.auth.keyring import Keyring
from aim_identity.config import Settings
from aim_identity.db import fetch_one
from aim_identity.errors import NotFound, Unauthenticated
from aim_identity.models import AgentStatus, ApiKey, RevokedAccessToken, Role


@dataclass(frozen=True)
class Principal:
    kind: str  # user | api_key | agent
    organization_id: uuid.UUID
    role: Role | None  # agents act by signature and grants, not by role
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    token_jti: str | None = None
    session_id: uuid.UUID | None = None  # a person's session: the refresh family its token belongs to
    expires_at: int | None = None  # unix seconds, when the credential itself expires
    # A person whose organization requires MFA for their role, and who has not set it up: until they
    # do, they may do nothing else (auth/mfa.py).
    must_enroll_mfa: bool = False
    # The organization's data version as authentication read it (delivery/response_cache.py).
    data_version: int | None = field(default=None, compare=False)

    @property
    def actor_id(self) -> str:
        if self.kind == "agent":
            assert self.agent_id is not None
            return ids.encode("Agent", self.agent_id)
        if self.kind == "api_key":
            assert self.api_key_id is not None
            return ids.encode("ApiKey", self.api_key_id)
        assert self.user_id is not None
        return ids.encode("User", self.user_id)

    # Who sees whom. People and their API keys see the people of their organization, by name and role;
    # an agent sees no one. An email address is seen by administrators, and by its owner alone.

    def sees_people(self) -> bool:
        return self.kind in ("user", "api_key")

    def sees_email_of(self, user_id: uuid.UUID) -> bool:
        return self.sees_people() and (self.role == Role.ADMIN or self.user_id == user_id)


async def authenticate(
    headers: Mapping[str, str], ip_address: str | None, keyring: Keyring, settings: Settings
) -> Principal | None:
    """None when no credential is presented; UNAUTHENTICATED when one is presented and is bad. The
    rest of the task may touch only the caller's organization's rows (row_security.py)."""
    row_security.enter(None)
    principal = await _presented(headers, ip_address, keyring, settings)
    row_security.enter(principal.organization_id if principal else None)
    return principal


async def _presented(
    headers: Mapping[str, str], ip_address: str | None, keyring: Keyring, settings: Settings
) -> Principal | None:
    authorization = headers.get("authorization") or headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authorization must be a Bearer token")
        if tokens.claimed_type(token) == tokens.AGENT_TYP:
            return await from_agent_token(token, keyring, settings)
        return await _user(token, keyring, settings)
    key = headers.get("x-api-key") or headers.get("X-API-Key")
    if key:
        return await _api_key(key, ip_address, settings)
    return None


async def _user(token: str, keyring: Keyring, settings: Settings) -> Principal:
    claims = tokens.verify(keyring, token, typ=tokens.ACCESS_TYP, audience=tokens.ACCESS_AUD, issuer=settings.issuer)
    jti, user_id, session_id = claims.get("jti", ""), _subject(claims, "User"), _session(claims)
    # Every request pays for this, so it is one round trip: the user's role, whether the token or its
    # session was ended, and the organization's data version, read fresh from the database each time.
    user = await _signed_for(claims, _USER_SQL, user_id, jti, session_id)
    if user is None:
        if await RevokedAccessToken.exists(jti=jti):  # a rare failure: keep the revoked message first
            raise Unauthenticated("Token revoked")
        raise Unauthenticated("Unknown user")
    if user["revoked"]:
        raise Unauthenticated("Token revoked")
    if user["session_ended"]:
        raise Unauthenticated("Session ended: sign in again")
    role = Role(user["role"])
    return Principal(
        "user",
        uuid.UUID(str(user["organization_id"])),
        role,
        user_id=user_id,
        token_jti=claims.get("jti"),
        session_id=session_id,
        expires_at=claims["exp"],
        data_version=user["data_version"],
        must_enroll_mfa=mfa.must_enroll(role, bool(user["mfa_enabled"]), bool(user["require_mfa"])),
    )


_USER_SQL = """
SELECT u.organization_id, u.role, u.mfa_enabled, o.require_mfa, o.data_version,
       EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = $2) AS revoked,
       EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = $3 AND t.revoked_at IS NOT NULL) AS session_ended
FROM users u JOIN organizations o ON o.id = u.organization_id
WHERE u.id = $1"""


def _session(claims: dict) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims["sid"]))
    except (KeyError, ValueError):
        raise Unauthenticated("The token names no session") from None


async def from_agent_token(token: str, keyring: Keyring, settings: Settings) -> Principal:
    """The agent an agent token speaks for, while the token is good: else Unauthenticated."""
    claims = tokens.verify(keyring, token, typ=tokens.AGENT_TYP, audience=tokens.AGENT_AUD, issuer=settings.issuer)
    agent_id = _subject(claims, "Agent")
    # Only the columns the check needs (a whole row would decode its trust factors too), in one round trip.
    agent = await _signed_for(claims, _AGENT_SQL, agent_id, claims.get("jti", ""))
    # A token bound to a key the agent no longer holds, ended by logout, or of an agent no longer active
    # (or deleted), is dead.
    bound_key = claims.get("cnf", {}).get("jwk", {}).get("x")
    if (
        agent is None
        or agent["revoked"]
        or AgentStatus(agent["status"]) in (AgentStatus.SUSPENDED, AgentStatus.REVOKED)
        or bound_key != _b64_to_b64url(agent["public_key"])
    ):
        raise Unauthenticated("Agent token no longer valid")
    return Principal(
        "agent",
        agent["organization_id"],
        None,
        agent_id=agent_id,
        token_jti=claims.get("jti"),
        expires_at=claims["exp"],
        data_version=agent["data_version"],
    )


_AGENT_SQL = """
SELECT a.organization_id, a.status, a.public_key, o.data_version,
       EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = $2) AS revoked
FROM agents a JOIN organizations o ON o.id = a.organization_id
WHERE a.id = $1 AND a.deleted_at IS NULL"""


async def _api_key(key: str, ip_address: str | None, settings: Settings) -> Principal:
    # A valid key is always let in: many clients behind one address (a NAT) are not held to the
    # failures of one of them. A wrong key is counted by its prefix and its address, and an address past
    # the limit is told to slow down.
    with row_security.every_organization():  # a key names no organization until it is found
        found = await api_keys.find_active(key)
    if found is None:
        await login_guard.record_failure(login_guard.API_KEY, key[: api_keys.PREFIX_LENGTH], ip_address)
        await login_guard.check(settings, login_guard.API_KEY, None, ip_address)
        raise Unauthenticated("Invalid API key")
    # A key never outranks the person who made it, even after that person is demoted.
    role = min(found.role, found.created_by.role)
    expires = int(found.expires_at.timestamp()) if found.expires_at else None
    return Principal(
        "api_key",
        found.organization_id,
        role,
        user_id=found.created_by_id,
        api_key_id=found.id,
        expires_at=expires,
        data_version=found.organization.data_version,
    )


def _subject(claims: dict, type_name: str) -> uuid.UUID:
    try:
        return ids.decode(str(claims["sub"]), type_name)
    except NotFound:
        raise Unauthenticated("Invalid token subject") from None


async def _signed_for(claims: dict, sql: str, *params) -> dict | None:
    """A token's row (`sql` reads its organization_id), read only in the organization AIM signed the
    token for: one signed for another finds none, by the application's check and, on PostgreSQL, by
    the database's wall."""
    try:
        organization_id = ids.decode(str(claims["org"]), "Organization")
    except (KeyError, NotFound):
        raise Unauthenticated("The token names no organization") from None
    with row_security.organization(organization_id):
        row = await fetch_one(sql, *params)
    return row if row and uuid.UUID(str(row["organization_id"])) == organization_id else None


def _b64_to_b64url(value: str) -> str:
    return value.replace("+", "-").replace("/", "_").rstrip("=")


async def still_valid(principal: Principal) -> Principal | None:
    """The same caller as the database sees it now (new role, or None once revoked or ended), for
    long-lived connections that authenticated once: the same checks as authentication's."""
    with row_security.organization(principal.organization_id):
        return await _as_now(principal)


async def _as_now(principal: Principal) -> Principal | None:
    if principal.kind == "user":
        user = await fetch_one(_USER_SQL, principal.user_id, principal.token_jti or "", principal.session_id)
        if user is None or user["revoked"] or user["session_ended"]:
            return None
        role = Role(user["role"])
        return replace(
            principal,
            role=role,
            must_enroll_mfa=mfa.must_enroll(role, bool(user["mfa_enabled"]), bool(user["require_mfa"])),
        )
    if principal.kind == "api_key":
        key = await ApiKey.get_or_none(id=principal.api_key_id, revoked_at=None).select_related("created_by")
        return replace(principal, role=min(key.role, key.created_by.role)) if key else None
    agent = await fetch_one(_AGENT_SQL, principal.agent_id, principal.token_jti or "")
    active = (
        agent
        and not agent["revoked"]
        and AgentStatus(agent["status"]) not in (AgentStatus.SUSPENDED, AgentStatus.REVOKED)
    )
    return principal if active else None
