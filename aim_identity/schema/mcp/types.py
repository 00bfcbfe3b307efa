from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.loaders import Children, child_page
from aim_identity.schema.core.node import Node, node_type
from aim_identity.schema.core.pagination import Connection, Order

# The models' own enums, which strawberry.enum marks in place; plain aliases, so that mypy reads them as types.
MCPServerStatus = m.MCPServerStatus
HealthStatus = m.HealthStatus
strawberry.enum(MCPServerStatus)
strawberry.enum(HealthStatus)

AGENTS = Children(m.Agent, "agents c JOIN agent_mcp_servers l ON l.agent_id = c.id", "l.mcp_server_id")


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


@node_type(m.MCPServer)
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
    pk: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def agents(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Agent]:
        # An agent principal reads no agent but itself, here as everywhere in the loaders.
        return await child_page(info, AGENTS, self.pk, Order("created_at"), Agent.of, first, after)

    @classmethod
    def of(cls, row: m.MCPServer) -> MCPServer:
        return cls(
            id=strawberry.ID(ids.encode("MCPServer", row.id)),
            name=row.name,
            url=row.url,
            description=row.description,
            status=row.status,
            public_key=row.public_key,
            capabilities=[
                MCPCapability(name=c["name"], kind=CapabilityKind(c["kind"]), description=c.get("description"))
                for c in row.capabilities
            ],
            trust_score=row.trust_score,
            health=row.health,
            last_health_check_at=row.last_health_check_at,
            created_at=row.created_at,
            pk=row.id,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> MCPServer | None:
        row = await info.context.loaders.by_id(m.MCPServer).load(pk)
        return cls.of(row) if row else None
