"""How much a caller may ask of AIM, counted where every replica sees the same count: in Redis when
AIM_REDIS_URL names one, in the process on the embedded default. Built on the `limits` library.

Two kinds of count:
- attempts at what is expensive or telling (signing up, signing in), per address, in a moving window;
- the query cost each caller spends (schema/core/budget.py), per user, API key or agent, and per
  address for callers who are not signed in, in a sliding window: what was spent in the last window
  counts against the budget, and a request that would go over it runs nothing.
While Redis is away neither is counted: AIM keeps answering from its database, as it does for
everything else, and the lockout per account, kept there, still stops guessing at a password."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from aim_identity.errors import RateLimited

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Allowance:
    """A caller's throttle status once a request is counted."""

    maximum: int
    available: int
    window_seconds: int
    restores_at: float  # when the next part of the budget comes back, in epoch seconds

    def retry_after(self) -> int:
        return max(1, math.ceil(self.restores_at - time.time()))

    def as_extension(self) -> dict[str, Any]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": self.available,
            "windowSeconds": self.window_seconds,
        }


class Throttle:
    def __init__(self, redis_url: str) -> None:
        storage: Storage
        if redis_url.startswith(("redis://", "rediss://")):
            # Errors wrapped as limits' StorageError: `spend` tells an unreachable store from a bug.
            storage = RedisStorage(
                f"async+{redis_url}", implementation="redispy", key_prefix="aim:limits", wrap_exceptions=True
            )
        else:
            storage = MemoryStorage()
        self.attempts = MovingWindowRateLimiter(storage)
        # A sliding window counter keeps two counters per caller whatever a request costs (a moving
        # window would keep one entry per point spent).
        self.costs = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, action: str, rate: str, address: str | None) -> None:
        """Counts one `action` from `address`; past `rate` (e.g. "10/hour"), RATE_LIMITED with Retry-After."""
        if address is None:
            return
        item: RateLimitItem = parse(rate)
        try:
            if await self.attempts.hit(item, action, address):
                return
            stats = await self.attempts.get_window_stats(item, action, address)
        except StorageError as error:
            # The lockout per account (auth/login_guard.py) is kept in the database and still holds.
            log.warning("%s attempts not counted: the store is unreachable (%s)", action, error)
            return
        retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        raise RateLimited(f"Too many {action} attempts from this address; try again later", retryAfter=retry_after)

    async def spend(self, caller: str, cost: int, budget: str) -> Allowance | None:
        """Takes `cost` from the caller's `budget` (e.g. "100000/minute"). A request that would go over
        it takes nothing and is RATE_LIMITED, with Retry-After and the caller's throttle status. None
        when the count cannot be reached."""
        item = parse(budget)
        try:
            spent = await self.costs.hit(item, "cost", caller, cost=cost)
            stats = await self.costs.get_window_stats(item, "cost", caller)
        except StorageError as error:
            log.warning("query cost not counted: the budget store is unreachable (%s)", error)
            return None
        allowance = Allowance(item.amount, stats.remaining, item.get_expiry(), stats.reset_time)
        if not spent:
            raise RateLimited(
                f"This request costs {cost}, and {allowance.available} of the caller's budget of "
                f"{allowance.maximum} per {allowance.window_seconds} seconds is left; try again later",
                retryAfter=allowance.retry_after(),
                cost=cost,
                throttleStatus=allowance.as_extension(),
            )
        return allowance
