"""Source addresses refused for a while (blockThreat on a brute-force threat): in Redis when
AIM_REDIS_URL names one, so that every replica refuses them; in the process on the embedded default.

While Redis is away no address is refused: a block is a response to an attack, and refusing every
caller would make the outage everyone's."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import redis.asyncio as redis

log = logging.getLogger(__name__)
PREFIX = "aim:blocked:"


class Blocklist:
    def __init__(self, redis_url: str) -> None:
        self._redis = redis.from_url(redis_url) if redis_url.startswith(("redis://", "rediss://")) else None
        self._until: dict[str, float] = {}

    async def block(self, address: str, period: timedelta) -> None:
        if self._redis is not None:
            await self._redis.set(PREFIX + address, "1", ex=int(period.total_seconds()))
        else:
            self._until[address] = time.monotonic() + period.total_seconds()

    async def blocked(self, address: str | None) -> bool:
        if address is None:
            return False
        if self._redis is not None:
            try:
                return bool(await self._redis.exists(PREFIX + address))
            except redis.RedisError as exc:
                log.warning("cannot read the blocked addresses (%s); letting %s through", exc, address)
                return False
        until = self._until.get(address)
        if until is not None and until <= time.monotonic():
            del self._until[address]
            until = None
        return until is not None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
