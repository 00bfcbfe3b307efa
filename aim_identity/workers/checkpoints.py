"""The checkpoint worker: signs each audit chain that is due (audit/checkpoints.py). `aimctl worker`
runs it (and `aimctl serve` in development); two at once sign the same head once."""

from __future__ import annotations

import asyncio
import logging

from aim_identity.audit import checkpoints
from aim_identity.auth.keyring import Keyring, load_keyring
from aim_identity.config import Settings

log = logging.getLogger(__name__)
# Often enough that a checkpoint is never much later than its settings say.
TICK_S = 5.0


async def run(settings: Settings) -> None:
    keyring: Keyring | None = None
    while True:
        try:
            keyring = keyring or await load_keyring(settings)
            await checkpoints.sign_due(keyring, settings.audit_checkpoint_entries, settings.audit_checkpoint_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next tick
            log.exception("signing audit checkpoints failed")
        await asyncio.sleep(min(TICK_S, settings.audit_checkpoint_seconds))
