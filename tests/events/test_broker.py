"""The broker on its own, against the configured backend (real Redis under `make test`)."""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from tortoise.transactions import in_transaction

from aim_identity.events import outbox
from aim_identity.events.broker import Broker
from aim_identity.models import OutboxEvent


async def test_concurrent_first_subscribers_all_hear_the_event():
    # broadcaster 0.3.1 loses subscribers that join a channel while its first subscription is pending.
    broker = Broker(os.environ.get("AIM_TEST_REDIS_URL", "memory://"))
    await broker.connect()
    organization = uuid.uuid4()
    try:
        async with AsyncExitStack() as stack:
            streams = await asyncio.gather(*(stack.enter_async_context(broker.events(organization)) for _ in range(10)))
            await asyncio.sleep(0.2)
            await broker.publish(
                {"id": str(uuid.uuid4()), "kind": "agent.created", "organizationId": str(organization)}
            )
            heard = await asyncio.gather(*(asyncio.wait_for(anext(aiter(s)), 3) for s in streams))
        assert [e["kind"] for e in heard] == ["agent.created"] * 10
    finally:
        await broker.disconnect()


async def test_an_event_published_twice_is_delivered_once():
    broker = Broker(os.environ.get("AIM_TEST_REDIS_URL", "memory://"))
    await broker.connect()
    organization = uuid.uuid4()
    try:
        async with broker.events(organization) as stream:
            await asyncio.sleep(0.2)
            event = {"id": str(uuid.uuid4()), "kind": "agent.created", "organizationId": str(organization)}
            await broker.publish(event)
            await broker.publish(event)
            await broker.publish(event | {"id": str(uuid.uuid4()), "kind": "agent.updated"})
            iterator = aiter(stream)
            first = await asyncio.wait_for(anext(iterator), 3)
            second = await asyncio.wait_for(anext(iterator), 3)
        assert (first["kind"], second["kind"]) == ("agent.created", "agent.updated")
    finally:
        await broker.disconnect()


async def test_a_resubscribed_channel_catches_up_on_every_event_it_missed(server):
    """A process cut off from Redis reads back from the outbox all it missed, however much that is,
    once, in commit order."""
    redis_url = os.environ.get("AIM_TEST_REDIS_URL", "memory://")
    if not redis_url.startswith("redis"):
        pytest.skip("memory:// is in-process: nothing published can be missed")
    broker = Broker(redis_url, replay=outbox)
    await broker.connect()
    organization, missed = uuid.uuid4(), 5000
    try:
        async with broker.events(organization) as stream:
            await asyncio.sleep(0.2)
            # Published to every other subscriber while this process was away (so no relay sends them again).
            now = datetime.now(UTC)
            async with in_transaction():
                await outbox.add([outbox.Event(organization, "agent.updated", {"n": n}) for n in range(missed)])
                await OutboxEvent.filter(organization_id=organization).update(published_at=now)
            await broker.backend.inner._pubsub.connection.disconnect()  # the network drops
            iterator = aiter(stream)
            heard = [await asyncio.wait_for(anext(iterator), 30) for _ in range(missed)]
        assert [e["n"] for e in heard] == list(range(missed))
        assert len({e["id"] for e in heard}) == missed
    finally:
        await broker.disconnect()
