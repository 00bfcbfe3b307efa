"""On PostgreSQL a relay in another process (`aimctl worker`) is woken by each commit that wrote
events, instead of finding them at its next poll."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from aim_identity.events.outbox import CHANNEL
from aim_identity.workers import relay
from tests.conftest import postgres_server
from tests.support import create_agent

pytestmark = pytest.mark.skipif(postgres_server() is None, reason="LISTEN/NOTIFY is PostgreSQL's")


async def test_a_commit_that_writes_events_notifies_listeners(settings, org):
    notified = asyncio.Event()
    listener = await asyncpg.connect(settings.database_url)
    await listener.add_listener(CHANNEL, lambda *_: notified.set())
    try:
        await create_agent(org.admin.api)
        await asyncio.wait_for(notified.wait(), 2)
    finally:
        await listener.close()


async def test_a_notification_wakes_the_relay(settings):
    woken = asyncio.Event()
    async with relay.woken_by_commits(settings.database_url, wake=woken.set):
        sender = await asyncpg.connect(settings.database_url)
        try:
            await sender.execute(f"NOTIFY {CHANNEL}")
        finally:
            await sender.close()
        await asyncio.wait_for(woken.wait(), 2)
