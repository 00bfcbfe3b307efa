from __future__ import annotations

from datetime import datetime

from aim_identity import models as m
from aim_identity.audit import log, verification
from aim_identity.errors import BadUserInput
from aim_identity.schema.audit.inputs import AuditLogFilter
from aim_identity.schema.audit.types import (
    AuditChainVerification,
    AuditCheckpoint,
    AuditLogConnection,
    AuditLogEntry,
    AuditStats,
)
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.counts import CountByKey
from aim_identity.schema.core.pagination import MAX_PAGE, Order, paginate
from aim_identity.tenancy import scoped

NEWEST_FIRST = Order("sequence", descending=True, value_type=int)
CHECKPOINTS_MAX = MAX_PAGE


async def audit_logs(
    info: Info, first: int | None = None, after: str | None = None, filter: AuditLogFilter | None = None
) -> AuditLogConnection:
    entries = log.entries(info.context.organization_id, filter.selected() if filter else log.Filter())
    return await paginate(entries, NEWEST_FIRST, AuditLogEntry.of, first=first, after=after)  # type: ignore[return-value]


async def audit_stats(info: Info, since: datetime | None = None, until: datetime | None = None) -> AuditStats:
    found = await log.stats(info.context.organization_id, since, until)
    return AuditStats(
        total=found.total,
        by_action=CountByKey.all(found.by_action),
        by_actor_type=CountByKey.all(found.by_actor_type),
        per_day=CountByKey.all(found.per_day),
    )


async def verify_audit_chain(info: Info) -> AuditChainVerification:
    found = await verification.verify(info.context.organization_id, info.context.keyring)
    return AuditChainVerification(
        valid=found.valid,
        checked_entries=found.checked_entries,
        first_invalid_sequence=found.first_invalid_sequence,
        reason=found.reason,
    )


async def audit_checkpoints(info: Info, first: int = 20) -> list[AuditCheckpoint]:
    if not 0 <= first <= CHECKPOINTS_MAX:
        raise BadUserInput(f"first must be between 0 and {CHECKPOINTS_MAX}", field="first")
    rows = await scoped(m.AuditCheckpoint, info.context.organization_id).order_by("-sequence").limit(first)
    return [AuditCheckpoint.of(row) for row in rows]
