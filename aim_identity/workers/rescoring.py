"""The trust worker: rescores the agents whose allowed actions are waiting to be scored
(identity/scoring.py, `mark_due`), about a second after they were allowed. `aimctl worker` runs it
(and `aimctl serve` in development); any number may, since each agent is claimed by one of them."""

from __future__ import annotations

import asyncio
import logging

from aim_identity.config import Settings
from aim_identity.identity import scoring

log = logging.getLogger(__name__)
TICK_S = 1.0


async def run(settings: Settings) -> None:
    while True:
        try:
            rescored = await scoring.rescore_due(settings.key_rotation_days)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next tick
            log.exception("rescoring agents failed")
            rescored = 0
        # A full batch means more are waiting: go on at once.
        await asyncio.sleep(0 if rescored == scoring.DUE_BATCH else TICK_S)
