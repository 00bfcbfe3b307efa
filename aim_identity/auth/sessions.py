"""Sessions: login, refresh-token rotation with reuse detection, and logout.

Refresh tokens are opaque (32 random bytes, base64url); only their SHA-256 is stored. Presenting a
token that was already rotated revokes its whole family and raises a credential-misuse threat."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aim_identity import ids, row_security
from aim_identity.actors import Actor
from aim_identity.auth import login_guard, mfa, tokens
from aim_identity.auth.accounts import normalize_email
from aim_identity.auth.keyring import Keyring
from aim_identity.auth.passwords import verify_password
from aim_identity.auth.principal import Principal
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, RateLimited, Unauthenticated
from aim_identity.models import RefreshToken, RevokedAccessToken, Severity, ThreatType, User
from aim_identity.security.threats import raise_threat
from aim_identity.unit_of_work import atomic


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_refresh_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


async def _open(user: User, family_id: uuid.UUID, keyring: Keyring, settings: Settings) -> Session:
    access = tokens.issue(
        keyring,
        typ=tokens.ACCESS_TYP,
        audience=tokens.ACCESS_AUD,
        issuer=settings.issuer,
        subject=ids.encode("User", user.id),
        ttl=settings.access_token_ttl,
        # `sid` names the session (the refresh family): ending the session ends every token of it.
        claims={
            "org": ids.encode("Organization", user.organization_id),
            "role": user.role.value,
            "sid": str(family_id),
        },
    )
    refresh = _new_refresh_token()
    await RefreshToken.create(
        user=user,
        family_id=family_id,
        token_hash=_hash(refresh),
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl),
    )
    return Session(access.token, refresh, settings.access_token_ttl, user)


async def start(actor: Actor, keyring: Keyring, settings: Settings, user: User) -> Session:
    """A session for a user who just proved who they are (registration or login)."""
    async with atomic(actor.within(user.organization_id)) as work:
        session = await _open(user, uuid.uuid4(), keyring, settings)
        work.audit("auth.session_start", "User", ids.encode("User", user.id))
    return session


async def login(
    actor: Actor, keyring: Keyring, settings: Settings, email: str, password: str, totp_code: str | None = None
) -> Session:
    """A password, and for a user with MFA on, a second factor: a TOTP code or a recovery code."""
    try:
        email = normalize_email(email)
    except BadUserInput:
        raise Unauthenticated("Invalid email or password") from None
    await login_guard.check(settings, login_guard.LOGIN, None, actor.ip_address)
    with row_security.every_organization():  # the address names the person, whose organization it is
        user = await User.get_or_none(email=email)
    row_security.enter(user.organization_id if user else None)
    second_factor = None
    if await login_guard.locked(settings, login_guard.LOGIN, email):
        # A locked account opens to one of its owner's MFA recovery codes (80 bits, each once: no
        # guesser gets one, where a six-digit code could be guessed past the lockout). It is checked
        # before the password, so the lockout still stops a password guesser.
        if not (user and user.mfa_enabled and totp_code and mfa.looks_like_recovery_code(totp_code)):
            raise RateLimited(
                "Too many failed attempts for this account; try again later, or sign in with an MFA recovery code",
                retryAfter=settings.login_lockout_seconds,
            )
        second_factor = await mfa.second_factor(actor, keyring, settings, user, totp_code)
    if not await verify_password(user.password_hash if user else None, password):
        await login_guard.failed_sign_in(actor, settings, email, user, "auth.login_failed", "wrong password")
        raise Unauthenticated("Invalid email or password")
    assert user is not None  # verify_password accepts no password without a hash to check it against
    if user.mfa_enabled and second_factor is None:
        second_factor = await mfa.second_factor(actor, keyring, settings, user, totp_code)
    await login_guard.clear(login_guard.LOGIN, email)
    async with atomic(actor.within(user.organization_id)) as work:
        user.last_login_at = datetime.now(UTC)
        await user.save(update_fields=["last_login_at"])
        session = await _open(user, uuid.uuid4(), keyring, settings)
        await work.act_as(actor.as_user(user.organization_id, user.id))
        work.audit("auth.login", "User", ids.encode("User", user.id), mfa=second_factor)
    return session


async def refresh(actor: Actor, keyring: Keyring, settings: Settings, refresh_token: str) -> Session:
    now = datetime.now(UTC)
    with row_security.every_organization():  # the token names the person, whose organization it is
        record = await RefreshToken.get_or_none(token_hash=_hash(refresh_token)).select_related("user")
    row_security.enter(record.user.organization_id if record else None)
    if record is None or (record.revoked_at is not None and record.rotated_at is None):
        raise Unauthenticated("Invalid refresh token")
    user = record.user
    if record.rotated_at is not None:
        await _revoke_family_after_reuse(actor, record, user)
        raise Unauthenticated("Refresh token already used; every session of this login is revoked")
    if record.expires_at <= now:
        raise Unauthenticated("Refresh token expired")
    async with atomic(actor.within(user.organization_id)) as work:
        # The conditional update makes two concurrent uses of one token rotate it only once.
        if not await RefreshToken.filter(id=record.id, rotated_at=None, revoked_at=None).update(rotated_at=now):
            raise Unauthenticated("Refresh token already used")
        session = await _open(user, record.family_id, keyring, settings)
        await work.act_as(actor.as_user(user.organization_id, user.id))
        work.audit("auth.refresh", "User", ids.encode("User", user.id))
    return session


async def _revoke_family_after_reuse(actor: Actor, record: RefreshToken, user: User) -> None:
    async with atomic(actor.within(user.organization_id)) as work:
        await RefreshToken.filter(family_id=record.family_id, revoked_at=None).update(revoked_at=datetime.now(UTC))
        work.audit("auth.refresh_reuse", "User", ids.encode("User", user.id), family=str(record.family_id))
        work.emit("session.revoked", userId=ids.encode("User", user.id))
        await raise_threat(
            work,
            user.organization_id,
            ThreatType.CREDENTIAL_MISUSE,
            Severity.HIGH,
            "Refresh token reused",
            "A rotated refresh token was presented again; its whole family was revoked",
            evidence={"userId": ids.encode("User", user.id), "ipAddress": actor.ip_address},
            subject=f"user:{user.id}",
            key="refresh token reused",
        )


async def logout(actor: Actor, principal: Principal, refresh_token: str | None) -> None:
    """Ends the caller's session: for a person every token of it (the access tokens of the session, and
    the refresh family, named by the access token or by `refresh_token`); for an agent its token."""
    if principal.kind == "api_key":
        raise BadUserInput("An API key has no session to end: revoke it with revokeApiKey")
    now = datetime.now(UTC)
    async with atomic(actor) as work:
        if principal.token_jti and principal.expires_at:
            await RevokedAccessToken.get_or_create(
                jti=principal.token_jti, defaults={"expires_at": datetime.fromtimestamp(principal.expires_at, UTC)}
            )
        families = {principal.session_id} - {None}
        if refresh_token:
            record = await RefreshToken.get_or_none(token_hash=_hash(refresh_token), user_id=principal.user_id)
            families |= {record.family_id} if record else set()
        if families:
            await RefreshToken.filter(family_id__in=families, revoked_at=None).update(revoked_at=now)
        if principal.kind == "agent":
            work.audit("auth.logout", "Agent", principal.actor_id)
            work.emit("session.revoked", agentId=principal.actor_id)
        else:
            work.audit("auth.logout", "User", principal.actor_id)
            work.emit("session.revoked", userId=principal.actor_id)
