from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from enum import Enum

import strawberry

from aim_identity.schema.context import Info

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.node import Node, loadable
from aim_identity.schema.loaders import SERVER_AGENTS, child_page
from aim_identity.schema.pagination import Connection, Order

if TYPE_CHECKING:
    from aim_identity.schema.agents import Agent

MCPServerStatus = strawberry.enum(m.MCPServerStatus)
HealthStatus = strawberry.enum(m.HealthStatus)


@strawberry.enum
class CapabilityKind(Enum):
    TOOL = "TOOL"
    RESOURCE = "RESOURCE"
    PROMPT = "PROMPT"


@strawberry.type
class MCPCapability:
    name: str
    kind: CapabilityKind
    description: str | None


@strawberry.type
class MCPServer(Node):
    name: str
    url: str
    description: str | None
    status: MCPServerStatus
    public_key: str | None
    capabilities: list[MCPCapability]
    trust_score: float
    health: HealthStatus
    last_health_check_at: datetime | None
    created_at: datetime
    pk: strawberry.Private[object]

    @strawberry.field
    async def agents(self, info: Info, first: int | None = None, after: str | None = None
                     ) -> Connection[Annotated[Agent, strawberry.lazy("aim_identity.schema.agents")]]:
        from aim_identity.schema.agents import Agent

        # An agent principal reads no agent but itself, here as everywhere in the loaders.
        return await child_page(info, SERVER_AGENTS, self.pk, Order("created_at"), Agent.of, first, after)

    @classmethod
    def of(cls, row: m.MCPServer) -> MCPServer:
        return cls(id=strawberry.ID(ids.encode("MCPServer", row.id)), name=row.name, url=row.url,
                   description=row.description, status=row.status, public_key=row.public_key,
                   capabilities=[MCPCapability(name=c["name"], kind=CapabilityKind(c["kind"]),
                                               description=c.get("description")) for c in row.capabilities],
                   trust_score=row.trust_score, health=row.health, last_health_check_at=row.last_health_check_at,
                   created_at=row.created_at, pk=row.id)


@loadable("MCPServer")
async def load_mcp_server(info, global_id: str) -> MCPServer | None:
    row = await info.context.loaders.by_id(m.MCPServer).load(ids.decode(global_id, "MCPServer"))
    return MCPServer.of(row) if row else None


@strawberry.input
class RegisterMCPServerInput:
    name: str
    url: str
    description: str | None = None
    public_key: str | None = None
    capabilities: list[str] | None = None


@strawberry.type
class MCPServerPayload:
    mcp_server: MCPServer


@strawberry.input
class ConnectMCPServerInput:
    agent_id: strawberry.ID
    mcp_server_id: strawberry.ID


@strawberry.input
class DetectedMCPServer:
    name: str
    command: str | None = None
    args: list[str] | None = None
    url: str | None = None


@strawberry.input
class ReportDetectedMCPServersInput:
    agent_id: strawberry.ID
    servers: list[DetectedMCPServer]
    source: str | None = "claude_desktop_config"


@strawberry.type
class ReportDetectedMCPServersPayload:
    agent: Annotated[Agent, strawberry.lazy("aim_identity.schema.agents")]
    registered: list[MCPServer]
