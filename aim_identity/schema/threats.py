from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from aim_identity.schema.context import Info
from strawberry.scalars import JSON

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.node import Node, loadable

if TYPE_CHECKING:
    from aim_identity.schema.agents import Agent
    from aim_identity.schema.mcp import MCPServer

Severity = strawberry.enum(m.Severity)
ThreatStatus = strawberry.enum(m.ThreatStatus)
ThreatType = strawberry.enum(m.ThreatType)


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
    agent_id: strawberry.Private[uuid.UUID | None]
    mcp_server_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def agent(self, info: Info) -> Annotated[Agent, strawberry.lazy("aim_identity.schema.agents")] | None:
        from aim_identity.schema.agents import Agent

        row = await info.context.loaders.agent.load(self.agent_id) if self.agent_id else None
        return Agent.of(row) if row else None

    @strawberry.field
    async def mcp_server(self, info: Info) -> Annotated[MCPServer, strawberry.lazy("aim_identity.schema.mcp")] | None:
        from aim_identity.schema.mcp import MCPServer

        row = await info.context.loaders.by_id(m.MCPServer).load(self.mcp_server_id) if self.mcp_server_id else None
        return MCPServer.of(row) if row else None

    @classmethod
    def of(cls, row: m.Threat) -> Threat:
        return cls(id=strawberry.ID(ids.encode("Threat", row.id)), type=row.type, severity=row.severity,
                   status=row.status, title=row.title, description=row.description, evidence=row.evidence,
                   detected_at=row.detected_at, resolved_at=row.resolved_at, agent_id=row.agent_id,
                   mcp_server_id=row.mcp_server_id)


@loadable("Threat")
async def load_threat(info, global_id: str) -> Threat | None:
    row = await info.context.loaders.by_id(m.Threat).load(ids.decode(global_id, "Threat"))
    return Threat.of(row) if row else None


@strawberry.type
class Anomaly(Node):
    metric: str
    observed: float
    expected: float
    score: float
    detected_at: datetime
    agent_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def agent(self, info: Info) -> Annotated[Agent, strawberry.lazy("aim_identity.schema.agents")]:
        from aim_identity.schema.agents import Agent

        return Agent.of(await info.context.loaders.agent.load(self.agent_id))

    @classmethod
    def of(cls, row: m.Anomaly) -> Anomaly:
        return cls(id=strawberry.ID(ids.encode("Anomaly", row.id)), metric=row.metric, observed=row.observed,
                   expected=row.expected, score=row.score, detected_at=row.detected_at, agent_id=row.agent_id)


@loadable("Anomaly")
async def load_anomaly(info, global_id: str) -> Anomaly | None:
    row = await info.context.loaders.by_id(m.Anomaly).load(ids.decode(global_id, "Anomaly"))
    return Anomaly.of(row) if row else None
