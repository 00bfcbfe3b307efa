"""How often one address may try what is expensive or telling (signing up, signing in), counted where
every replica sees the same count: in Redis when AIM_REDIS_URL names one, in the process on the
embedded default. Built on the `limits` library's moving window, checked before any work is done."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from aim_identity.errors import RateLimited


class Throttle:
    def __init__(self, redis_url: str) -> None:
        storage: Storage
        if redis_url.startswith(("redis://", "rediss://")):
            storage = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="aim:limits")
        else:
            storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)

    async def hit(self, action: str, rate: str, address: str | None) -> None:
        """Counts one `action` from `address`; past `rate` (e.g. "10/hour"), RATE_LIMITED with Retry-After."""
        if address is None:
            return
        item: RateLimitItem = parse(rate)
        if not await self.limiter.hit(item, action, address):
            stats = await self.limiter.get_window_stats(item, action, address)
            retry_after = max(1, int(stats.reset_time - time.time()) + 1)
            raise RateLimited(f"Too many {action} attempts from this address; try again later", retryAfter=retry_after)
