from __future__ import annotations

import strawberry

from aim_identity.schema.security.enums import ResponseAction, Severity, ThreatStatus, ThreatType


@strawberry.input
class ThreatFilter:
    status: list[ThreatStatus] | None = None
    severity: list[Severity] | None = None
    type: list[ThreatType] | None = None
    agent_id: strawberry.ID | None = None


@strawberry.input
class ThreatActionInput:
    id: strawberry.ID
    note: str | None = None
    false_positive: bool = strawberry.field(
        default=False, description="resolveThreat only: the rule stops firing on the same evidence"
    )


@strawberry.input
class UpdateSecurityPolicyInput:
    threat_type: ThreatType
    min_severity: Severity
    action: ResponseAction
    enabled: bool
    threshold: float | None = strawberry.field(default=None, description="unchanged when left out")
    window_seconds: int | None = strawberry.field(default=None, description="unchanged when left out")
