"""Reading an organization's audit trail: the entries a filter selects (auditLogs, exports) and their
counts (auditStats)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.functions import Count
from tortoise.queryset import QuerySet

from aim_identity import db, protocol
from aim_identity.errors import BadUserInput
from aim_identity.models import AuditLogEntry
from aim_identity.tenancy import scoped


@dataclass(frozen=True)
class Filter:
    action: str | None = None  # exact, or a prefix ending in "*" ("agent.*")
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def entries(organization_id: uuid.UUID, selected: Filter) -> QuerySet[AuditLogEntry]:
    query = scoped(AuditLogEntry, organization_id)
    if selected.action:
        prefix, star, rest = selected.action.partition("*")
        if rest or (star and not prefix):
            raise BadUserInput('action is an exact action or a prefix ending in "*", such as "agent.*"', field="action")
        query = query.filter(action__startswith=prefix) if star else query.filter(action=prefix)
    if selected.actor_id:
        query = query.filter(actor_id=selected.actor_id)
    if selected.target_id:
        query = query.filter(target_id=selected.target_id)
    if selected.since:
        query = query.filter(occurred_at__gte=selected.since)
    if selected.until:
        query = query.filter(occurred_at__lt=selected.until)
    return query


def as_dict(entry: AuditLogEntry) -> dict[str, Any]:
    """An entry as the API names its fields: what the exports write."""
    return {
        "sequence": entry.sequence,
        "occurredAt": protocol.rfc3339(entry.occurred_at),
        "actorType": entry.actor_type,
        "actorId": entry.actor_id,
        "action": entry.action,
        "targetType": entry.target_type,
        "targetId": entry.target_id,
        "ipAddress": entry.ip_address,
        "userAgent": entry.user_agent,
        "metadata": entry.metadata,
        "previousHash": entry.previous_hash,
        "hash": entry.hash,
    }


@dataclass(frozen=True)
class Stats:
    total: int
    by_action: list[tuple[str, int]]
    by_actor_type: list[tuple[str, int]]
    per_day: list[tuple[str, int]]  # YYYY-MM-DD (UTC), oldest first


async def stats(organization_id: uuid.UUID, since: datetime | None, until: datetime | None) -> Stats:
    selected = entries(organization_id, Filter(since=since, until=until))
    by_action = await _counted(selected, "action")
    by_actor_type = await _counted(selected, "actor_type")
    return Stats(
        total=sum(n for _, n in by_action),
        by_action=sorted(by_action, key=lambda kv: (-kv[1], kv[0])),
        by_actor_type=sorted(by_actor_type, key=lambda kv: (-kv[1], kv[0])),
        per_day=await _per_day(organization_id, since, until),
    )


async def _counted(selected: QuerySet[AuditLogEntry], column: str) -> list[tuple[str, int]]:
    rows = await selected.annotate(n=Count("id")).group_by(column).values_list(column, "n")
    return [(str(key), int(n)) for key, n in rows]


async def _per_day(organization_id: uuid.UUID, since: datetime | None, until: datetime | None) -> list[tuple[str, int]]:
    postgres = db.dialect() == "postgres"
    day = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if postgres else "substr(occurred_at, 1, 10)"
    where, params = ["organization_id = $1"], [organization_id, *(b for b in (since, until) if b is not None)]
    for bound, operator in ((since, ">="), (until, "<")):
        if bound is not None:
            where.append(f"occurred_at {operator} ${len(where) + 1}")
    rows = await db.fetch(
        f"SELECT {day} AS day, COUNT(*) AS n FROM audit_log WHERE {' AND '.join(where)} GROUP BY day ORDER BY day",
        *params,
    )
    return [(row["day"], int(row["n"])) for row in rows]
