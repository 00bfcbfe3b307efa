"""The webhook worker: every tick, claim the webhooks with events waiting (webhooks/deliveries.py) and
deliver each in a task of its own. `aimctl worker` runs it (and `aimctl serve` in development); any
number of workers may, since a claim is one worker's alone."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aim_identity.auth.keyring import Keyring, load_keyring
from aim_identity.config import Settings
from aim_identity.models import Webhook
from aim_identity.webhooks import deliveries

log = logging.getLogger(__name__)
TICK_S = 1.0
BATCH = 20
TASK_PREFIX = "aim-webhook-"


async def run(settings: Settings) -> None:
    keyring: Keyring | None = None
    while True:
        try:
            # It opens the webhooks' sealed secrets; loaded once the database answers.
            keyring = keyring or await load_keyring(settings)
            claimed = await deliveries.claim(settings, datetime.now(UTC), BATCH)
            async with asyncio.TaskGroup() as group:
                for webhook in claimed:
                    group.create_task(_logged(settings, keyring, webhook), name=f"{TASK_PREFIX}{webhook.id}")
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next tick
            log.exception("claiming webhooks failed")
            claimed = []
        await asyncio.sleep(0 if len(claimed) == BATCH else TICK_S)


async def _logged(settings: Settings, keyring: Keyring, webhook: Webhook) -> None:
    # One webhook's failure (its secret sealed under a secret since dropped, say) is not the others'.
    try:
        await deliveries.deliver(settings, keyring, webhook)
    except Exception:
        log.exception("delivering to webhook %s failed", webhook.id)
