"""The brute-force guard: too many recent failures for one account or one IP refuse further
attempts with RATE_LIMITED until the window passes. Failures are rows, so every replica agrees. A
wrong password and a wrong MFA code count alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.errors import RateLimited
from aim_identity.models import AuthFailure, User
from aim_identity.unit_of_work import atomic

# What the guard counts: failed logins, wrong API keys, and answers or requests that no key of the agent
# signed (identity/challenges.py, identity/actions.py), each by itself.
LOGIN, API_KEY, SIGNATURE = "login", "api_key", "signature"


async def locked(settings: Settings, kind: str, subject: str) -> bool:
    """Whether the account has failed too often lately."""
    since = datetime.now(UTC) - timedelta(seconds=settings.login_lockout_seconds)
    return await AuthFailure.filter(kind=kind, subject=subject, at__gte=since).count() >= settings.login_max_failures


async def check(settings: Settings, kind: str, subject: str | None, ip_address: str | None) -> None:
    since = datetime.now(UTC) - timedelta(seconds=settings.login_lockout_seconds)
    if subject and await locked(settings, kind, subject):
        raise RateLimited(
            "Too many failed attempts for this account; try again later", retryAfter=settings.login_lockout_seconds
        )
    if (
        ip_address
        and await AuthFailure.filter(kind=kind, ip_address=ip_address, at__gte=since).count()
        >= settings.login_ip_max_failures
    ):
        raise RateLimited(
            "Too many failed attempts from this address; try again later", retryAfter=settings.login_lockout_seconds
        )


async def record_failure(kind: str, subject: str | None, ip_address: str | None) -> None:
    await AuthFailure.create(kind=kind, subject=subject, ip_address=ip_address)


async def failed_sign_in(
    actor: Actor, settings: Settings, email: str, user: User | None, action: str, reason: str
) -> None:
    """A wrong password or MFA code for `email`: counted, audited in the account's organization (again
    when it locks the account), and published for the BRUTE_FORCE rule (security/rules.py)."""
    await record_failure(LOGIN, email, actor.ip_address)
    if user is None:
        return  # no organization to audit in; the failure row is the record
    user_gid = ids.encode("User", user.id)
    async with atomic(actor.within(user.organization_id)) as work:
        work.audit(action, "User", user_gid, email=email, reason=reason)
        work.emit("auth.login_failed", userId=user_gid, email=email, ipAddress=actor.ip_address)
        if await locked(settings, LOGIN, email):
            work.audit("auth.lockout", "User", user_gid, email=email, seconds=settings.login_lockout_seconds)


async def clear(kind: str, subject: str) -> None:
    """A successful login forgives the account's earlier failures (not the IP's)."""
    await AuthFailure.filter(kind=kind, subject=subject).delete()
