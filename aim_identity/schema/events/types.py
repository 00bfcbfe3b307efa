from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.loaders import Loaders
from aim_identity.schema.mcp.types import HealthStatus, MCPServer
from aim_identity.schema.security.enums import Severity
from aim_identity.schema.security.types import Anomaly, Threat


async def event_agent(loaders: Loaders, global_id: str | None) -> Agent | None:
    row = await loaders.agent.load(ids.decode(global_id, "Agent")) if global_id else None
    return Agent.of(row) if row else None


@strawberry.type
class SecurityEvent:
    kind: str
    severity: Severity
    occurred_at: datetime
    event: strawberry.Private[dict[str, Any]]
    loaders: strawberry.Private[Loaders]

    @strawberry.field
    async def threat(self) -> Threat | None:
        gid = self.event.get("threatId")
        row = await self.loaders.by_id(m.Threat).load(ids.decode(gid, "Threat")) if gid else None
        return Threat.of(row) if row else None

    @strawberry.field
    async def anomaly(self) -> Anomaly | None:
        gid = self.event.get("anomalyId")
        row = await self.loaders.by_id(m.Anomaly).load(ids.decode(gid, "Anomaly")) if gid else None
        return Anomaly.of(row) if row else None

    @strawberry.field
    async def agent(self) -> Agent | None:
        return await event_agent(self.loaders, self.event.get("agentId"))


@strawberry.type
class AgentEvent:
    kind: str
    occurred_at: datetime
    agent_id: strawberry.ID
    loaders: strawberry.Private[Loaders]

    @strawberry.field
    async def agent(self) -> Agent | None:
        return await event_agent(self.loaders, self.agent_id)


@strawberry.type(description="something happened to an MCP server; the fields that do not apply to its kind are null")
class MCPServerEvent:
    kind: str
    occurred_at: datetime
    mcp_server_id: strawberry.ID
    added: list[str] | None = strawberry.field(description="capabilities_changed: `tool:name`, `resource:…`")
    removed: list[str] | None
    health: HealthStatus | None = strawberry.field(description="health_changed: the new status")
    previous_health: HealthStatus | None
    reason: str | None = strawberry.field(description="why discovery failed, or what moved the trust score")
    loaders: strawberry.Private[Loaders]

    @strawberry.field(description="null once deleted")
    async def mcp_server(self) -> MCPServer | None:
        row = await self.loaders.by_id(m.MCPServer).load(ids.decode(self.mcp_server_id, "MCPServer"))
        return MCPServer.of(row) if row else None


@strawberry.type
class TrustScoreChange:
    agent: Agent
    previous: float
    current: float
    reason: str
    at: datetime
