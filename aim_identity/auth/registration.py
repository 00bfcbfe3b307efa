"""Signing up: who may open an organization, and how an address is proved first.

AIM_REGISTRATION decides:
- `verified` (the default in production): `requestRegistration` sends a code to the address, and
  `register` needs it. An address that already has an account is sent a notice instead, after the very
  same statements, so both answers are alike in what they say and in how long they take, and which
  addresses have accounts cannot be learned by signing up;
- `open` (the default in development): anyone registers at once, with no code, and an address
  already taken is a CONFLICT (`requestRegistration` still sends a code, so a client can follow one
  flow everywhere);
- `closed`: no one signs up; organizations start with `aimctl create-admin`, people by invitation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F

from aim_identity import row_security
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Forbidden
from aim_identity.mail import Mailer
from aim_identity.models import RegistrationCode, User

CODE_TTL = timedelta(minutes=30)
MAX_TRIES = 5  # wrong codes for one address before its code is spent
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # read off an email and typed back: no 0/o, 1/l/i


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()


def _closed(settings: Settings) -> None:
    if settings.registration == "closed":
        raise Forbidden("Sign-up is closed here: an administrator invites people")


async def address_taken(email: str) -> bool:
    with row_security.every_organization():  # an address is unique across every organization
        return await User.exists(email=email)


async def request(settings: Settings, mailer: Mailer, email: str) -> None:
    """Sends the address (normalized) a sign-up code, or, if it already has an account, a notice; either
    way the answer is the same."""
    _closed(settings)
    code = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    # The same statements either way; only the message differs.
    taken = await address_taken(email)
    await RegistrationCode.filter(email=email).delete()
    await RegistrationCode.create(email=email, code_hash=_digest(code), expires_at=datetime.now(UTC) + CODE_TTL)
    if taken:
        mailer.post(
            email,
            "Someone tried to sign up to AIM with your address",
            "Someone asked to open an AIM organization with this address, which already has an account.\n"
            "If it was you, sign in instead. If it was not, you can ignore this message: nothing was "
            "created.\n",
        )
    else:
        mailer.post(
            email,
            "Your AIM sign-up code",
            f"Your sign-up code is {code}\n\nIt works once, for 30 minutes. If you did not ask for it, "
            "ignore this message.\n",
        )


async def admit(settings: Settings, email: str, code: str | None) -> None:
    """Lets a sign-up go on, or refuses it; before any password is hashed. An address that has an
    account was never sent a code, so it is refused just as a wrong code is."""
    _closed(settings)
    if settings.registration == "open":
        return
    record = await RegistrationCode.filter(email=email, expires_at__gt=datetime.now(UTC)).first()
    if record is not None and record.tries < MAX_TRIES and hmac.compare_digest(record.code_hash, _digest(code or "")):
        return  # spent by the registration it admits (accounts.register)
    if record is not None:
        await RegistrationCode.filter(id=record.id).update(tries=F("tries") + 1)
    raise BadUserInput(
        "The sign-up code is wrong or has expired: ask for a new one with requestRegistration", field="verificationCode"
    )


async def purge_expired(now: datetime | None = None) -> int:
    """Deletes codes past their time; `aimctl worker` runs it."""
    return await RegistrationCode.filter(expires_at__lt=now or datetime.now(UTC)).delete()
