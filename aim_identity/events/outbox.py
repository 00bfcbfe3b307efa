"""Events join the mutation's transaction as outbox rows, so a crash after commit loses none."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aim_identity.models import OutboxEvent


@dataclass(frozen=True)
class Event:
    organization_id: uuid.UUID
    kind: str
    payload: dict[str, Any]


async def add(events: list[Event]) -> None:
    if events:
        await OutboxEvent.bulk_create(
            [OutboxEvent(organization_id=e.organization_id, kind=e.kind, payload=e.payload) for e in events])
