"""Periodic clean-up: `aimctl worker` runs it (and `aimctl serve` in development). Any number of
workers may run it at once: each pass is an idempotent DELETE."""

from __future__ import annotations

import asyncio
import logging

from aim_identity.events import outbox
from aim_identity.identity import challenges

log = logging.getLogger(__name__)
EVERY_S = 600


async def run() -> None:
    while True:
        try:
            purged = await challenges.purge_expired()
            pruned = await outbox.prune()
            if purged or pruned:
                log.info("purged %d expired verification challenges and %d published events", purged, pruned)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next time
            log.exception("housekeeping failed")
        await asyncio.sleep(EVERY_S)
