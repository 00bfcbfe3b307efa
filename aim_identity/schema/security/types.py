from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.counts import CountByKey
from aim_identity.schema.core.node import Node, node_type
from aim_identity.schema.mcp.types import MCPServer
from aim_identity.schema.security.enums import ResponseAction, Severity, ThreatStatus, ThreatType
from aim_identity.security import policies


@node_type(m.Threat)
@strawberry.type
class Threat(Node):
    type: ThreatType
    severity: Severity
    status: ThreatStatus
    title: str
    description: str
    evidence: JSON
    detected_at: datetime
    resolved_at: datetime | None
    occurrences: int = strawberry.field(description="how often the rule fired on this subject; repeats join one threat")
    last_seen_at: datetime
    note: str | None = strawberry.field(description="what the person who last handled it wrote")
    agent_id: strawberry.Private[uuid.UUID | None]
    mcp_server_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def agent(self, info: Info) -> Agent | None:
        return await Agent.load(info, self.agent_id, tombstone=True) if self.agent_id else None

    @strawberry.field
    async def mcp_server(self, info: Info) -> MCPServer | None:
        # A deleted server stays as a tombstone for the evidence that names it.
        return await MCPServer.load(info, self.mcp_server_id, tombstone=True) if self.mcp_server_id else None

    @classmethod
    def of(cls, row: m.Threat) -> Threat:
        return cls(
            id=strawberry.ID(ids.encode("Threat", row.id)),
            type=row.type,
            severity=row.severity,
            status=row.status,
            title=row.title,
            description=row.description,
            evidence=JSON(row.evidence),
            detected_at=row.detected_at,
            resolved_at=row.resolved_at,
            occurrences=row.occurrences,
            last_seen_at=row.last_seen_at or row.detected_at,
            note=row.note,
            agent_id=row.agent_id,
            mcp_server_id=row.mcp_server_id,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> Threat | None:
        row = await info.context.loaders.by_id(m.Threat).load(pk)
        return cls.of(row) if row else None


@node_type(m.Anomaly)
@strawberry.type
class Anomaly(Node):
    metric: str
    observed: float
    expected: float
    score: float
    detected_at: datetime
    agent_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def agent(self, info: Info) -> Agent:
        agent = await Agent.load(info, self.agent_id, tombstone=True)
        assert agent is not None  # a deleted agent stays as a tombstone for the evidence that names it
        return agent

    @classmethod
    def of(cls, row: m.Anomaly) -> Anomaly:
        return cls(
            id=strawberry.ID(ids.encode("Anomaly", row.id)),
            metric=row.metric,
            observed=row.observed,
            expected=row.expected,
            score=row.score,
            detected_at=row.detected_at,
            agent_id=row.agent_id,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> Anomaly | None:
        row = await info.context.loaders.by_id(m.Anomaly).load(pk)
        return cls.of(row) if row else None


@strawberry.type
class SecurityMetrics:
    open_threats: int = strawberry.field(description="threats OPEN or ACKNOWLEDGED")
    threats_by_severity: list[CountByKey] = strawberry.field(description="open threats, every severity, lowest first")
    agents_by_status: list[CountByKey] = strawberry.field(description="live agents, every status")
    verification_success_rate: float = strawberry.field(
        description="verified answers of all challenge answers in the last 24 h (forged ones included); 0 with none"
    )
    average_trust_score: float = strawberry.field(description="over live agents; 0 with none")


@strawberry.type
class SecurityPolicy:
    threat_type: ThreatType
    min_severity: Severity
    action: ResponseAction
    enabled: bool
    threshold: float = strawberry.field(description="the rule's threshold; `rule` says what it counts")
    window_seconds: int
    rule: str

    @classmethod
    def of(cls, policy: policies.Policy) -> SecurityPolicy:
        return cls(
            threat_type=policy.threat_type,
            min_severity=policy.min_severity,
            action=policy.action,
            enabled=policy.enabled,
            threshold=policy.threshold,
            window_seconds=policy.window_seconds,
            rule=policy.rule,
        )
