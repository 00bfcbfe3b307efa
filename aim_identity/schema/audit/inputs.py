from __future__ import annotations

from datetime import datetime

import strawberry

from aim_identity.audit import log
from aim_identity.schema.audit.types import ExportFormat


@strawberry.input
class AuditLogFilter:
    action: str | None = strawberry.field(default=None, description='exact, or a prefix ending in "*" ("agent.*")')
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def selected(self) -> log.Filter:
        return log.Filter(self.action, self.actor_id, self.target_id, self.since, self.until)


@strawberry.input
class ExportAuditLogsInput:
    format: ExportFormat
    filter: AuditLogFilter | None = None


@strawberry.input
class ExportAccessReviewInput:
    format: ExportFormat = strawberry.field(description="CSV or JSON")


@strawberry.input
class ExportSubjectDataInput:
    user_id: strawberry.ID
