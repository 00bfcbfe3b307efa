"""Periodic upkeep: `aimctl worker` runs it (and `aimctl serve` in development). Any number of
workers may run it at once: the deletes are idempotent, and a stale score is locked, checked again
and recomputed by one of them."""

from __future__ import annotations

import asyncio
import logging

from aim_identity.auth import registration
from aim_identity.config import Settings
from aim_identity.events import outbox
from aim_identity.identity import challenges, scoring
from aim_identity.mcp import health
from aim_identity.oauth import introspection
from aim_identity.webhooks import deliveries

log = logging.getLogger(__name__)
EVERY_S = 600


async def run(settings: Settings) -> None:
    while True:
        try:
            rescored = await scoring.rescore_stale(settings.key_rotation_days)
            purged = await challenges.purge_expired()
            codes = await registration.purge_expired()
            pruned = await outbox.prune()
            checks = await health.prune()
            tokens = await introspection.prune()
            attempts = await deliveries.prune()
            if rescored or purged or codes or pruned or checks or tokens or attempts:
                log.info(
                    "rescored %d agents; purged %d expired challenges, %d sign-up codes, %d published events, "
                    "%d old MCP health checks, %d expired MCP server tokens and %d old webhook deliveries",
                    rescored,
                    purged,
                    codes,
                    pruned,
                    checks,
                    tokens,
                    attempts,
                )
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next time
            log.exception("housekeeping failed")
        await asyncio.sleep(EVERY_S)
