"""The broker: `broadcaster` over Redis in production, in-process `memory://` by default.

Each organization has its own channel. Every process drops an event id it has already delivered,
so an event the relay publishes twice (after a crash) still reaches each subscriber once. Redis keeps
nothing for a subscriber that is not connected, so whenever a channel's subscription (re)starts, the
process reads back from the outbox what was committed since the last event it saw on that channel."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast
from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from broadcaster._backends.redis import RedisBackend
from broadcaster._base import Event, Subscriber
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RECENT_IDS = 50_000


CHANNEL_PREFIX = "aim:org:"
# ResilientRedisBackend's note that a channel's subscription has just (re)started. It travels as an
# Event's message, which broadcaster types as str but passes on whatever it is (OnceBackend puts the
# parsed event there too): hence the casts.
RESUBSCRIBED = object()


def channel(organization_id: object) -> str:
    return f"{CHANNEL_PREFIX}{organization_id}"


class Replay(Protocol):
    """Where missed events can be read again (events/outbox.py), `PAGE` at a time."""

    PAGE: int

    async def latest(self, organization_id: str) -> int: ...
    async def since(self, organization_id: str, seq: int) -> list[dict[str, Any]]: ...


class ResilientRedisBackend(RedisBackend):
    """broadcaster 0.3.1 with redis-py 8 marks itself ready before subscribing and then never
    listens (STACK-NOTES, trap 1); it also stops listening for good when Redis goes away. This
    subscribes first, and keeps listening across Redis restarts."""

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()

    async def _pubsub_listener(self) -> None:
        while True:
            await self._ready.wait()
            try:
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        await self._queue.put(
                            Event(channel=message["channel"].decode(), message=message["data"].decode())
                        )
                    elif message["type"] == "subscribe":  # also after each reconnection
                        await self._queue.put(
                            Event(channel=message["channel"].decode(), message=cast("str", RESUBSCRIBED))
                        )
            except (RedisError, OSError) as exc:
                log.warning("lost the Redis subscription (%s); reconnecting", exc)
                # The pubsub re-subscribes its channels when it reconnects; if that fails, its connection
                # is up but subscribed to nothing, so drop it and let the next attempt start afresh.
                if self._pubsub.connection is not None:
                    await self._pubsub.connection.disconnect()
                await asyncio.sleep(0.5)
                continue
            self._ready.clear()


class OnceBackend(BroadcastBackend):
    """Passes each event id through once per process and, given a Replay, catches a channel up on
    what it missed whenever its subscription (re)starts, before anything newer. A catch-up reads the
    outbox a page at a time, as the channel's subscribers take the events, until it reaches the end."""

    def __init__(self, inner: BroadcastBackend, replay: Replay | None = None) -> None:
        self.inner = inner
        self.replay = replay
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_seq: dict[str, int] = {}
        self._backlog: deque[Event] = deque()
        self._catching_up: dict[str, int] = {}  # channel: the last seq read back so far

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def subscribe(self, channel: str) -> None:
        if self.replay is not None:
            self._last_seq[channel] = await self.replay.latest(channel.removeprefix(CHANNEL_PREFIX))
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._last_seq.pop(channel, None)
        self._catching_up.pop(channel, None)
        await self.inner.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self.inner.publish(channel, message)

    async def next_published(self) -> Event:
        while True:
            if not self._backlog and self._catching_up:
                await self._read_back(next(iter(self._catching_up)))
            if self._backlog:
                event = self._backlog.popleft()
            else:
                event = await self.inner.next_published()
                if event.message is RESUBSCRIBED:
                    if self.replay is not None and event.channel in self._last_seq:
                        self._catching_up[event.channel] = self._last_seq[event.channel]
                    continue
                # Parsed once here for every subscriber of this process.
                event = Event(channel=event.channel, message=json.loads(event.message))
            message = cast("dict[str, Any]", event.message)
            if message["id"] in self._seen:
                continue
            self._seen[message["id"]] = None
            if len(self._seen) > RECENT_IDS:
                self._seen.popitem(last=False)
            if event.channel in self._last_seq:
                self._last_seq[event.channel] = max(self._last_seq[event.channel], message.get("seq", 0))
            return event

    async def _read_back(self, channel: str) -> None:
        """The next page of what `channel` missed; the last page ends its catch-up."""
        seq = self._catching_up[channel]
        assert self.replay is not None  # a channel catches up only when there is one
        try:
            missed = await self.replay.since(channel.removeprefix(CHANNEL_PREFIX), seq)
        except Exception as exc:
            log.warning(
                "could not catch %s up from the outbox past event %d (%s); the rest is lost to this "
                "process's subscribers",
                channel,
                seq,
                exc,
            )
            del self._catching_up[channel]
            return
        if len(missed) < self.replay.PAGE:
            del self._catching_up[channel]
        else:
            self._catching_up[channel] = missed[-1]["seq"]
        self._backlog.extend(Event(channel=channel, message=cast("str", message)) for message in missed)


def backend_for(url: str, replay: Replay | None = None) -> BroadcastBackend:
    scheme = urlparse(url).scheme
    if scheme in ("redis", "rediss"):
        return OnceBackend(ResilientRedisBackend(url), replay)
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
    def __init__(self, url: str, replay: Replay | None = None) -> None:
        """`replay` for a process that subscribes (the API); the relay only publishes."""
        self.backend = backend_for(url, replay)
        self.broadcast = RegisteredBroadcast(backend=self.backend)

    async def connect(self) -> None:
        await self.broadcast.connect()

    async def disconnect(self) -> None:
        await self.broadcast.disconnect()

    async def publish(self, event: dict[str, Any]) -> None:
        await self.broadcast.publish(channel(event["organizationId"]), json.dumps(event))

    @asynccontextmanager
    async def events(self, organization_id: object) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The organization's events, in the order the relay published them."""
        async with self.broadcast.subscribe(channel(organization_id)) as subscriber:
            # broadcaster types a Subscriber's iteration as optional, and of optional events: it yields events.
            events = cast("AsyncIterable[Event]", subscriber)
            yield (cast("dict[str, Any]", event.message) async for event in events)
