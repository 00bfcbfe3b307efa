"""TOTP multi-factor authentication (RFC 6238, through pyotp).

A user turns it on in two steps: `begin` makes a secret and shows it once (as the secret and an
otpauth:// URI for an authenticator app), sealed in the database until `confirm` sees a code made
from it. Confirming turns MFA on and hands out ten one-time recovery codes, shown once and kept as
SHA-256 hashes. A TOTP code is accepted within one 30-second step of the server's clock, and each
step's code once only; a wrong code counts towards the account's brute-force guard, like a wrong
password."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp

from aim_identity import db, ids
from aim_identity.actors import Actor
from aim_identity.auth import login_guard
from aim_identity.auth.keyring import Keyring
from aim_identity.config import Settings
from aim_identity.errors import Conflict, Forbidden, NotFound, Unauthenticated
from aim_identity.models import MfaRecoveryCode, Role, User
from aim_identity.unit_of_work import atomic

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper and typed back
STEP_SECONDS = 30
PRIVILEGED = (Role.ADMIN, Role.MANAGER)  # the roles an organization can hold to MFA


def must_enroll(role: Role, mfa_enabled: bool, organization_requires_mfa: bool) -> bool:
    """Whether a signed-in person may do nothing until they set MFA up."""
    return organization_requires_mfa and role in PRIVILEGED and not mfa_enabled


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step (of the one before, this one, or the next) whose code `code` is, if any."""
    code = code.strip().replace(" ", "")
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    step = int(at // STEP_SECONDS)
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Sixteen letters and digits each (80 bits), grouped by four: `abcd-efgh-jkmn-pqrs`."""
    raw = ("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16)) for _ in range(RECOVERY_CODES))
    return ["-".join(code[i : i + 4] for i in range(0, 16, 4)) for code in raw]


def recovery_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").replace(" ", "").encode()).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    return len(code.strip().replace("-", "").replace(" ", "")) == 16


def _bound(user_id: uuid.UUID) -> bytes:
    return f"mfa:{user_id}".encode()


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str


async def _person(user_id: uuid.UUID | None) -> User:
    user = await User.get_or_none(id=user_id) if user_id else None
    if user is None:
        raise Forbidden("MFA belongs to a person: sign in as a user, not with an API key or agent token")
    return user


async def begin(actor: Actor, keyring: Keyring, settings: Settings, user_id: uuid.UUID | None) -> Enrollment:
    user = await _person(user_id)
    if user.mfa_enabled:
        raise Conflict("MFA is already on; turn it off first to set up another authenticator")
    secret = pyotp.random_base32(32)
    async with atomic(actor) as work:
        await User.filter(id=user.id).update(mfa_pending_secret=keyring.seal(secret.encode(), _bound(user.id)))
        work.audit("auth.mfa_enroll", "User", ids.encode("User", user.id))
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=user.email, issuer_name=settings.issuer)
    return Enrollment(secret, uri)


async def confirm(
    actor: Actor, keyring: Keyring, settings: Settings, user_id: uuid.UUID | None, code: str
) -> tuple[User, list[str]]:
    """Turns MFA on once `code` comes from the secret `begin` made; returns the recovery codes."""
    user = await _person(user_id)
    if user.mfa_pending_secret is None:
        raise NotFound("No MFA set-up is waiting for a code: call enableMfa first")
    secret = keyring.unseal(user.mfa_pending_secret, _bound(user.id)).decode()
    await login_guard.check(settings, login_guard.LOGIN, user.email, actor.ip_address)
    await _accept(actor, settings, user, secret, code)
    codes = new_recovery_codes()
    async with atomic(actor) as work:
        await MfaRecoveryCode.filter(user_id=user.id).delete()
        await MfaRecoveryCode.bulk_create([MfaRecoveryCode(user_id=user.id, code_hash=recovery_hash(c)) for c in codes])
        user.mfa_enabled, user.mfa_secret, user.mfa_pending_secret = True, user.mfa_pending_secret, None
        await user.save(update_fields=["mfa_enabled", "mfa_secret", "mfa_pending_secret"])
        work.audit("auth.mfa_enable", "User", ids.encode("User", user.id), recoveryCodes=len(codes))
        work.emit("user.updated", userId=ids.encode("User", user.id))
    return user, codes


async def disable(actor: Actor, keyring: Keyring, settings: Settings, user_id: uuid.UUID | None, code: str) -> User:
    """Turns MFA off for a user who proves they still hold it (a TOTP or a recovery code)."""
    user = await _person(user_id)
    if not user.mfa_enabled:
        raise Conflict("MFA is not on")
    organization = await user.organization
    if organization.require_mfa and user.role in PRIVILEGED:
        raise Conflict(f"Your organization requires MFA for the {user.role.value} role")
    await login_guard.check(settings, login_guard.LOGIN, user.email, actor.ip_address)
    method = await second_factor(actor, keyring, settings, user, code)
    async with atomic(actor) as work:
        await MfaRecoveryCode.filter(user_id=user.id).delete()
        user.mfa_enabled, user.mfa_secret, user.mfa_last_step = False, None, None
        await user.save(update_fields=["mfa_enabled", "mfa_secret", "mfa_last_step"])
        work.audit("auth.mfa_disable", "User", ids.encode("User", user.id), method=method)
        work.emit("user.updated", userId=ids.encode("User", user.id))
    return user


async def second_factor(actor: Actor, keyring: Keyring, settings: Settings, user: User, code: str | None) -> str:
    """Checks the second factor of a user with MFA on: a TOTP code, or one of their recovery codes
    (spent by this use). Returns which it was; a missing or wrong code is refused with a reason the
    client can tell apart (`MFA_REQUIRED`, `MFA_INVALID`)."""
    if not code:
        raise Unauthenticated(
            "This account uses MFA: send the code from the authenticator app as totpCode", reason="MFA_REQUIRED"
        )
    if looks_like_recovery_code(code):
        spent = await db.fetch(
            "UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 "
            "AND used_at IS NULL RETURNING id",
            user.id,
            recovery_hash(code),
            datetime.now(UTC),
        )
        if not spent:
            await _refuse(actor, settings, user, "wrong or spent recovery code")
        return "recovery_code"
    secret = keyring.unseal(user.mfa_secret, _bound(user.id)).decode() if user.mfa_secret else None
    if secret is None:
        raise Conflict("MFA is on but holds no secret")
    await _accept(actor, settings, user, secret, code)
    return "totp"


async def _accept(actor: Actor, settings: Settings, user: User, secret: str, code: str) -> None:
    """Accepts `code` for `secret` once: a step already used (or older) is refused, even if its code is right."""
    step = matching_step(secret, code, time.time())
    if step is not None:
        moved = await db.fetch(
            "UPDATE users SET mfa_last_step = $2 WHERE id = $1 AND "
            "(mfa_last_step IS NULL OR mfa_last_step < $2) RETURNING id",
            user.id,
            step,
        )
        if moved:
            user.mfa_last_step = step
            return
    await _refuse(actor, settings, user, "wrong TOTP code" if step is None else "TOTP code used before")


async def _refuse(actor: Actor, settings: Settings, user: User, reason: str) -> None:
    await login_guard.failed_sign_in(actor, settings, user.email, user, "auth.mfa_failed", reason)
    raise Unauthenticated("Wrong or expired MFA code", reason="MFA_INVALID")
