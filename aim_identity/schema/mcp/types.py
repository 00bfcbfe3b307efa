from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.agents.types import Agent, TrustFactor
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.loaders import Children, child_page
from aim_identity.schema.core.node import Node, node_type
from aim_identity.schema.core.pagination import Connection, Order

# The models' own enums, which strawberry.enum marks in place; plain aliases, so that mypy reads them as types.
MCPServerStatus = m.MCPServerStatus
HealthStatus = m.HealthStatus
MCPTransport = m.MCPTransport
strawberry.enum(MCPServerStatus)
strawberry.enum(HealthStatus)
strawberry.enum(MCPTransport)

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
    uri: str | None = strawberry.field(description="a resource's URI")


@strawberry.type(description="what the server said of itself in `initialize`, at its last discovery")
class MCPServerInfo:
    name: str
    version: str
    protocol_version: str


@strawberry.type(description="an MCP server's trust score: three factors whose contributions add up to it")
class MCPServerTrust:
    score: float
    factors: list[TrustFactor]
    confidence: float
    computed_at: datetime | None


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
    transport: MCPTransport = strawberry.field(
        description="how AIM speaks to it; a STDIO server runs on the agent's machine and is known from its SDK"
    )
    command: str | None = strawberry.field(description="a stdio server's command line (never its environment)")
    verified_at: datetime | None
    server_info: MCPServerInfo | None
    discovered_at: datetime | None
    discovery_error: str | None = strawberry.field(description="why the last discovery failed; null once one works")
    latency_ms: int | None = strawberry.field(description="the last health check's round trip")
    row: strawberry.Private[m.MCPServer]
    pk: strawberry.Private[uuid.UUID]

    @strawberry.field
    def trust(self) -> MCPServerTrust:
        factors = [TrustFactor.of(f) for f in self.row.trust_factors]
        return MCPServerTrust(
            score=self.row.trust_score,
            factors=factors,
            confidence=sum(f["weight"] * f["evidence"] for f in self.row.trust_factors),
            computed_at=self.row.trust_computed_at,
        )

    @strawberry.field
    async def agents(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Agent]:
        # An agent principal reads no agent but itself, here as everywhere in the loaders.
        return await child_page(info, AGENTS, self.pk, Order("created_at"), Agent.of, first, after)

    @classmethod
    def of(cls, row: m.MCPServer) -> MCPServer:
        info = (
            MCPServerInfo(name=row.server_name, version=row.server_version or "", protocol_version=row.protocol_version)
            if row.server_name and row.protocol_version
            else None
        )
        return cls(
            id=strawberry.ID(ids.encode("MCPServer", row.id)),
            name=row.name,
            url=row.url,
            description=row.description,
            status=row.status,
            public_key=row.public_key,
            capabilities=[
                MCPCapability(
                    name=c["name"], kind=CapabilityKind(c["kind"]), description=c.get("description"), uri=c.get("uri")
                )
                for c in row.capabilities
            ],
            trust_score=row.trust_score,
            health=row.health,
            last_health_check_at=row.last_health_check_at,
            created_at=row.created_at,
            transport=row.transport,
            command=row.command,
            verified_at=row.verified_at,
            server_info=info,
            discovered_at=row.discovered_at,
            discovery_error=row.discovery_error,
            latency_ms=row.latency_ms,
            row=row,
            pk=row.id,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID, *, tombstone: bool = False) -> MCPServer | None:
        row = await info.context.loaders.by_id(m.MCPServer, tombstones=tombstone).load(pk)
        return cls.of(row) if row else None
