"""The broker: `broadcaster` over Redis in production, in-process `memory://` by default.

Each organization has its own channel. Every process drops an event id it has already delivered,
so an event the relay publishes twice (after a crash) still reaches each subscriber once."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from broadcaster._backends.redis import RedisBackend
from broadcaster._base import Event, Subscriber
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RECENT_IDS = 50_000


def channel(organization_id: object) -> str:
    return f"aim:org:{organization_id}"


class ResilientRedisBackend(RedisBackend):
    """broadcaster 0.3.1 with redis-py 8 marks itself ready before subscribing and then never
    listens (STACK-NOTES, trap 1); it also stops listening for good when Redis goes away. This
    subscribes first, and keeps listening across Redis restarts."""

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()

    async def ping(self) -> None:
        await self._conn.ping()

    async def _pubsub_listener(self) -> None:
        while True:
            await self._ready.wait()
            try:
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        await self._queue.put(Event(channel=message["channel"].decode(),
                                                    message=message["data"].decode()))
            except (RedisError, OSError) as exc:
                log.warning("lost the Redis subscription (%s); reconnecting", exc)
                await asyncio.sleep(0.5)  # the pubsub re-subscribes its channels when it reconnects
                continue
            self._ready.clear()


class OnceBackend(BroadcastBackend):
    """Passes each event id through once per process."""

    def __init__(self, inner: BroadcastBackend) -> None:
        self.inner = inner
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def subscribe(self, channel: str) -> None:
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self.inner.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self.inner.publish(channel, message)

    async def ping(self) -> None:
        """Raises while Redis is unreachable; in memory there is nothing to reach."""
        if isinstance(self.inner, ResilientRedisBackend):
            await self.inner.ping()

    async def next_published(self) -> Event:
        while True:
            event = await self.inner.next_published()
            # Parsed once here for every subscriber of this process.
            message = json.loads(event.message)
            if message["id"] in self._seen:
                continue
            self._seen[message["id"]] = None
            if len(self._seen) > RECENT_IDS:
                self._seen.popitem(last=False)
            return Event(channel=event.channel, message=message)


def backend_for(url: str) -> BroadcastBackend:
    scheme = urlparse(url).scheme
    if scheme in ("redis", "rediss"):
        return OnceBackend(ResilientRedisBackend(url))
    if scheme == "memory":
        return OnceBackend(MemoryBackend(url))
    raise ValueError(f"Unsupported AIM_REDIS_URL scheme {scheme!r}: use redis:// or memory://")


class RegisteredBroadcast(Broadcast):
    """broadcaster 0.3.1 records a channel's first subscriber only after the backend subscription
    returns, so subscribers arriving meanwhile overwrite each other and never hear a thing. Here each
    subscriber is recorded before anything is awaited."""

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        queue: asyncio.Queue = asyncio.Queue()
        subscribers = self._subscribers.setdefault(channel, set())
        subscribers.add(queue)
        try:
            if len(subscribers) == 1:
                await self._backend.subscribe(channel)
            yield Subscriber(queue)
        finally:
            subscribers.discard(queue)
            if not subscribers and self._subscribers.get(channel) is subscribers:
                del self._subscribers[channel]
                await self._backend.unsubscribe(channel)
            await queue.put(None)


class Broker:
    def __init__(self, url: str) -> None:
        self.backend = backend_for(url)
        self.broadcast = RegisteredBroadcast(backend=self.backend)

    async def connect(self) -> None:
        await self.broadcast.connect()

    async def disconnect(self) -> None:
        await self.broadcast.disconnect()

    async def ping(self) -> None:
        await self.backend.ping()

    async def publish(self, event: dict[str, Any]) -> None:
        await self.broadcast.publish(channel(event["organizationId"]), json.dumps(event))

    @asynccontextmanager
    async def events(self, organization_id: object) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The organization's events, in the order the relay published them."""
        async with self.broadcast.subscribe(channel(organization_id)) as subscriber:
            yield (event.message async for event in subscriber)
