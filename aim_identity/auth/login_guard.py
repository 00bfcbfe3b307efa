"""The brute-force guard: too many recent failures for one account or one IP refuse further
attempts with RATE_LIMITED until the window passes. Failures are rows, so every replica agrees."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aim_identity.config import Settings
from aim_identity.errors import RateLimited
from aim_identity.models import AuthFailure


async def check(settings: Settings, kind: str, subject: str | None, ip_address: str | None) -> None:
    since = datetime.now(timezone.utc) - timedelta(seconds=settings.login_lockout_seconds)
    if subject and await AuthFailure.filter(kind=kind, subject=subject, at__gte=since).count() >= settings.login_max_failures:
        raise RateLimited("Too many failed attempts for this account; try again later",
                          retryAfter=settings.login_lockout_seconds)
    if ip_address and await AuthFailure.filter(kind=kind, ip_address=ip_address, at__gte=since).count() >= settings.login_ip_max_failures:
        raise RateLimited("Too many failed attempts from this address; try again later",
                          retryAfter=settings.login_lockout_seconds)


async def record_failure(kind: str, subject: str | None, ip_address: str | None) -> None:
    await AuthFailure.create(kind=kind, subject=subject, ip_address=ip_address)


async def clear(kind: str, subject: str) -> None:
    """A successful login forgives the account's earlier failures (not the IP's)."""
    await AuthFailure.filter(kind=kind, subject=subject).delete()
