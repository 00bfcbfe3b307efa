"""The outbox relay: publishes committed events in commit order, then marks them published.

Batches are claimed with FOR UPDATE SKIP LOCKED, so any number of relays can run. A relay that dies
mid-batch leaves the batch unmarked; it is published again, and the broker drops the repeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise.transactions import in_transaction

from aim_identity import db, unit_of_work
from aim_identity.events.broker import Broker
from aim_identity.events.outbox import CHANNEL, as_message
from aim_identity.models import OutboxEvent

log = logging.getLogger(__name__)
BATCH = 200
IDLE_POLL = 0.1

_pending = asyncio.Event()


def nudge() -> None:
    """Relay now instead of at the next poll: a commit wrote events."""
    _pending.set()


@asynccontextmanager
async def woken_by_commits(database_url: str, wake: Callable[[], None] = nudge) -> AsyncIterator[None]:
    """For a relay in its own process (`aimctl worker`) on PostgreSQL: LISTEN for the NOTIFY each
    event-writing commit sends, so events go out at once. If this connection drops, the relay still
    polls every IDLE_POLL seconds."""
    if not db.is_postgres(database_url):
        yield
        return
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(
        urlunsplit(("postgresql", parts.netloc, parts.path, "", "")), server_settings={"role": db.API_ROLE}
    )
    await connection.add_listener(CHANNEL, lambda *_: wake())
    try:
        yield
    finally:
        await connection.close()


async def relay_once(broker: Broker) -> int:
    async with in_transaction():
        rows = (
            await OutboxEvent.filter(published_at=None).order_by("id").limit(BATCH).select_for_update(skip_locked=True)
        )
        for row in rows:
            await broker.publish(as_message(row))
        if rows:
            await OutboxEvent.filter(id__in=[r.id for r in rows]).update(published_at=datetime.now(UTC))
    return len(rows)


async def run(broker: Broker) -> None:
    stop_hearing = unit_of_work.after_commit(nudge)  # this process's own commits
    try:
        await _relay(broker)
    finally:
        stop_hearing()


async def _relay(broker: Broker) -> None:
    failing = False
    while True:
        _pending.clear()  # before the read: a commit it misses nudges the next round at once
        try:
            # What goes out before a process has re-subscribed after an outage, it reads back from the
            # outbox when it does (broker.OnceBackend), so there is no need to wait for it here.
            published = await relay_once(broker)
            if failing:
                log.info("outbox relay recovered")
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker or database is away: keep the events, retry
            if not failing:
                log.warning("outbox relay cannot publish (%s); events wait in the outbox", exc)
            failing = True
            await asyncio.sleep(0.5)
            continue
        if published < BATCH:
            with suppress(TimeoutError):
                await asyncio.wait_for(_pending.wait(), IDLE_POLL)
