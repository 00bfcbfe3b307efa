"""Events join the mutation's transaction as outbox rows (on PostgreSQL written by the database at its
COMMIT, unit_of_work.py), so a crash after commit loses none. On PostgreSQL the insert also sends a
NOTIFY (a trigger), delivered at commit, which wakes the relay in `aimctl worker` at once instead of
at its next poll. The rows stay, so a process that lost its
broker subscription for a moment reads back what it missed (`latest`, `since`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aim_identity import clock, db, row_security
from aim_identity.models import OutboxEvent
from aim_identity.protocol import rfc3339

CHANNEL = "aim_outbox"  # the name migration 0005's trigger notifies
# Events read back per statement when a process catches a channel up (events/broker.py).
PAGE = 1000
# Published events are kept this long for processes catching up, then pruned by housekeeping.
PUBLISHED_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class Event:
    organization_id: uuid.UUID
    kind: str
    payload: dict[str, Any]


async def add(events: list[Event]) -> None:
    """In the caller's transaction, as one statement (on SQLite; on PostgreSQL the unit of work leaves
    its events to COMMIT, `for_commit`). On PostgreSQL a trigger sends the NOTIFY (migration 0005)."""
    if events:
        now = clock.now()
        rows = ", ".join(f"(${i + 1}, ${i + 2}, ${i + 3}, ${i + 4}, ${i + 5})" for i in range(0, 5 * len(events), 5))
        await db.execute(
            f"INSERT INTO outbox_events (event_id, organization_id, kind, payload, created_at) VALUES {rows}",
            *(v for e in events for v in (uuid.uuid4(), e.organization_id, e.kind, json.dumps(e.payload), now)),
        )


def for_commit(events: list[Event]) -> list[dict[str, Any]]:
    """The events as PostgreSQL inserts them at COMMIT (migration 0019)."""
    now = clock.now().isoformat()
    return [
        {
            "event_id": str(uuid.uuid4()),
            "organization_id": str(e.organization_id),
            "kind": e.kind,
            "payload": e.payload,
            "created_at": now,
        }
        for e in events
    ]


def as_message(row: OutboxEvent) -> dict[str, Any]:
    """The broker message: `seq` orders an organization's events, `id` is what subscribers dedupe on."""
    return {
        "id": str(row.event_id),
        "seq": row.id,
        "kind": row.kind,
        "organizationId": str(row.organization_id),
        "occurredAt": rfc3339(row.created_at),
        **row.payload,
    }


# A subscriber's catch-up (events/broker.py) reads one organization's events, from whichever task
# the broker's connection runs in.


async def latest(organization_id: str) -> int:
    with row_security.organization(uuid.UUID(organization_id)):
        row = await OutboxEvent.filter(organization_id=organization_id).order_by("-id").first().values("id")
    return row["id"] if row else 0


async def since(organization_id: str, seq: int) -> list[dict[str, Any]]:
    """The organization's committed events after `seq`, oldest first, published or not yet: the first
    `PAGE` of them."""
    with row_security.organization(uuid.UUID(organization_id)):
        rows = await OutboxEvent.filter(organization_id=organization_id, id__gt=seq).order_by("id").limit(PAGE)
    return [as_message(row) for row in rows]


async def prune(now: datetime | None = None) -> int:
    """Deletes events published more than PUBLISHED_KEPT ago; `aimctl worker` runs it."""
    cutoff = (now or datetime.now(UTC)) - PUBLISHED_KEPT
    return await OutboxEvent.filter(published_at__lt=cutoff).delete()
