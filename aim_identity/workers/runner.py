"""`aimctl worker`: the outbox relay, the security engine's detector, the audit checkpoints, the watch
over MCP servers, the trust worker, webhook deliveries and housekeeping. Run as many as you like: each
outbox batch, each organization's events to judge, each MCP server's check or discovery, each agent
due for rescoring and each webhook with events waiting is claimed by one of them; a chain's checkpoint
is signed once however many sign it."""

from __future__ import annotations

import asyncio

from tortoise import Tortoise

from aim_identity import row_security
from aim_identity.config import Settings
from aim_identity.db import tortoise_config
from aim_identity.events.broker import Broker
from aim_identity.workers import checkpoints, detection, housekeeping, mcp_watch, relay, rescoring, webhooks


async def run(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    row_security.enter_every_organization()  # the workers' work is about every organization
    broker = Broker(settings.redis_url)
    await broker.connect()
    try:
        async with relay.woken_by_commits(settings.database_url, _woken):
            await asyncio.gather(
                relay.run(broker),
                detection.run(),
                checkpoints.run(settings),
                mcp_watch.run(settings),
                rescoring.run(settings),
                webhooks.run(settings),
                housekeeping.run(settings),
            )
    finally:
        await broker.disconnect()
        await Tortoise.close_connections()


def _woken() -> None:
    relay.nudge()
    detection.nudge()
