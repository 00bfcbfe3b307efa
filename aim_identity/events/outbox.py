"""Events join the mutation's transaction as outbox rows, so a crash after commit loses none. On
PostgreSQL the transaction also sends a NOTIFY, delivered at commit, which wakes the relay in
`aimctl worker` at once instead of at its next poll."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from aim_identity.models import OutboxEvent

CHANNEL = "aim_outbox"


@dataclass(frozen=True)
class Event:
    organization_id: uuid.UUID
    kind: str
    payload: dict[str, Any]


async def add(events: list[Event], connection: BaseDBAsyncClient) -> None:
    if events:
        await OutboxEvent.bulk_create(
            [OutboxEvent(organization_id=e.organization_id, kind=e.kind, payload=e.payload) for e in events],
            using_db=connection)
        if connection.capabilities.dialect == "postgres":
            await connection.execute_script(f"NOTIFY {CHANNEL}")
