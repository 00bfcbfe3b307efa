from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.context import Info
from aim_identity.schema.threats import Severity, Threat


@strawberry.type
class ActionDecision:
    id: strawberry.ID
    allowed: bool
    reason: str
    risk_level: Severity
    threat_id: strawberry.Private[uuid.UUID | None]
    # The caller of authorizeAction may have no organization yet, so the threat row travels along.
    known_threat: strawberry.Private[m.Threat | None] = None

    @strawberry.field
    async def threat(self, info: Info) -> Threat | None:
        row = self.known_threat or (await info.context.loaders.by_id(m.Threat).load(self.threat_id)
                                    if self.threat_id else None)
        return Threat.of(row) if row else None

    @classmethod
    def of(cls, row: m.ActionDecision) -> ActionDecision:
        threat = row.threat if isinstance(row.threat, m.Threat) else None
        return cls(id=strawberry.ID(ids.encode("ActionDecision", row.id)), allowed=row.allowed, reason=row.reason,
                   risk_level=row.risk_level, threat_id=row.threat_id, known_threat=threat)


@strawberry.input
class AuthorizeActionInput:
    agent_id: strawberry.ID
    capability: str
    timestamp: datetime
    nonce: str
    signature: str
    resource: str | None = None
    context: JSON | None = None


@strawberry.input
class ReportActionResultInput:
    decision_id: strawberry.ID
    success: bool
    error: str | None = None


@strawberry.type
class ReportActionResultPayload:
    ok: bool
