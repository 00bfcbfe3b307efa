"""The workers' watch over MCP servers: every tick, claim the servers due for a health check and those
due for a discovery (mcp/schedule.py), and run them side by side. `aimctl worker` runs it (and
`aimctl serve` in development); any number of workers may, since a claim is one worker's alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.mcp import discovery, health, schedule
from aim_identity.models import MCPServer

log = logging.getLogger(__name__)
TICK_S = 1.0
BATCH = 20  # servers claimed per tick, for each of the two kinds of work
TASK_PREFIX = "aim-mcp-"
# A claim outlives the work it covers (each has its own timeout), with room for recording the outcome.
LEASE_MARGIN = timedelta(seconds=30)


async def run(settings: Settings) -> None:
    while True:
        try:
            busy = await tick(settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next tick
            log.exception("watching MCP servers failed")
            busy = 0
        await asyncio.sleep(0 if busy == 2 * BATCH else TICK_S)


async def tick(settings: Settings, now: datetime | None = None) -> int:
    """Claims and runs what is due; how many servers it took."""
    now = now or datetime.now(UTC)
    checks = await schedule.claim(
        "health_due_at", now, timedelta(seconds=settings.mcp_health_timeout) + LEASE_MARGIN, BATCH
    )
    discoveries = await schedule.claim(
        "discovery_due_at", now, timedelta(seconds=settings.mcp_discovery_timeout) + LEASE_MARGIN, BATCH
    )
    # Each in a task of its own, named for what it does (logs, and whoever inspects the loop, see it).
    async with asyncio.TaskGroup() as group:
        for server in checks:
            group.create_task(_logged(health.check(settings, server)), name=f"{TASK_PREFIX}health:{server.id}")
        for server in discoveries:
            actor = Actor(server.organization_id, "system", "mcp-discovery")
            group.create_task(
                _logged(discovery.run(actor, settings, server)), name=f"{TASK_PREFIX}discovery:{server.id}"
            )
    return len(checks) + len(discoveries)


async def _logged(work: Coroutine[Any, Any, MCPServer]) -> None:
    try:
        await work
    except Exception:  # one server's trouble is not the others'
        log.exception("MCP server work failed")
