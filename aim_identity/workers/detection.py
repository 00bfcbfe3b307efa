"""The detection worker: judges committed events as they come (security/detection.py). Woken by this
process's own commits and, in `aimctl worker` on PostgreSQL, by every commit's NOTIFY; without either
it looks again every IDLE_POLL seconds, for events another replica's requests wrote."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aim_identity import unit_of_work
from aim_identity.security import detection

log = logging.getLogger(__name__)
IDLE_POLL = 0.5

_pending = asyncio.Event()


def nudge() -> None:
    _pending.set()


async def run() -> None:
    stop_hearing = unit_of_work.after_commit(nudge)
    try:
        while True:
            _pending.clear()  # before the read: a commit it misses wakes the next round at once
            try:
                judged = await detection.judge_waiting()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again shortly
                log.exception("judging events failed")
                judged = 0
            if not judged:
                with suppress(TimeoutError):
                    await asyncio.wait_for(_pending.wait(), IDLE_POLL)
    finally:
        stop_hearing()
