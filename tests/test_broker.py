"""The broker on its own, against the configured backend (real Redis under `make test`)."""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import AsyncExitStack

from aim_identity.events.broker import Broker


async def test_concurrent_first_subscribers_all_hear_the_event():
    # broadcaster 0.3.1 loses subscribers that join a channel while its first subscription is pending.
    broker = Broker(os.environ.get("AIM_TEST_REDIS_URL", "memory://"))
    await broker.connect()
    organization = uuid.uuid4()
    try:
        async with AsyncExitStack() as stack:
            streams = await asyncio.gather(*(stack.enter_async_context(broker.events(organization))
                                             for _ in range(10)))
            await asyncio.sleep(0.2)
            await broker.publish({"id": str(uuid.uuid4()), "kind": "agent.created",
                                  "organizationId": str(organization)})
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
