"""`aimctl worker`: the outbox relay. Run as many as you like: each batch is claimed by one of them."""

from __future__ import annotations

from tortoise import Tortoise

from aim_identity.config import Settings
from aim_identity.db import tortoise_config
from aim_identity.events import relay
from aim_identity.events.broker import Broker


async def run(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    broker = Broker(settings.redis_url)
    await broker.connect()
    try:
        async with relay.woken_by_commits(settings.database_url):
            await relay.run(broker)
    finally:
        await broker.disconnect()
        await Tortoise.close_connections()
