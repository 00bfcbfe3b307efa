from __future__ import annotations

import uuid

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.core.context import Info
from aim_identity.schema.security.enums import Severity
from aim_identity.schema.security.types import Threat


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
        if self.known_threat is not None:
            return Threat.of(self.known_threat)
        return await Threat.load(info, self.threat_id) if self.threat_id else None

    @classmethod
    def of(cls, row: m.ActionDecision) -> ActionDecision:
        threat = row.threat if isinstance(row.threat, m.Threat) else None
        return cls(
            id=strawberry.ID(ids.encode("ActionDecision", row.id)),
            allowed=row.allowed,
            reason=row.reason,
            risk_level=row.risk_level,
            threat_id=row.threat_id,
            known_threat=threat,
        )
