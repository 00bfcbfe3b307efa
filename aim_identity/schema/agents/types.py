from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.accounts.types import User
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.loaders import Children, child_page
from aim_identity.schema.core.node import Node, node_type, shape
from aim_identity.schema.core.pagination import Connection, Order
from aim_identity.schema.security.enums import ThreatStatus

if TYPE_CHECKING:
    from aim_identity.schema.mcp.types import MCPServer
    from aim_identity.schema.security.types import Threat
    from aim_identity.schema.verification.types import VerificationEvent

# The models' own enums, which strawberry.enum marks in place; plain aliases, so that mypy reads them as types.
AgentStatus = m.AgentStatus
AgentType = m.AgentType
strawberry.enum(AgentStatus)
strawberry.enum(AgentType)

VERIFICATION_EVENTS = Children(m.VerificationEvent, "verification_events c", "c.agent_id")
THREATS = Children(m.Threat, "threats c", "c.agent_id")
MCP_SERVERS = Children(m.MCPServer, "mcp_servers c JOIN agent_mcp_servers l ON l.mcp_server_id = c.id", "l.agent_id")
TRUST_HISTORY = Children(
    m.TrustScoreRecord,
    "trust_score_history c JOIN agents a ON a.id = c.agent_id",
    "c.agent_id",
    organization="a.organization_id",
)


@strawberry.type
class TrustFactor:
    name: str
    weight: float
    value: float
    contribution: float
    explanation: str

    @classmethod
    def of(cls, factor: dict) -> TrustFactor:
        return cls(
            name=factor["name"],
            weight=factor["weight"],
            value=factor["value"],
            contribution=factor["contribution"],
            explanation=factor["explanation"],
        )


def _trust_factors(root: TrustScore) -> list[TrustFactor]:
    return [TrustFactor.of(f) for f in root.row.trust_factors]


@strawberry.type
class TrustScore:
    score: float
    # Built only when selected: a list of agents usually asks for the score alone.
    factors: list[TrustFactor] = strawberry.field(resolver=_trust_factors)
    confidence: float
    # Null on an agent row that was never scored (one written outside the API); non-null in the schema all
    # the same, so only selecting it then is an error.
    computed_at: datetime | None = strawberry.field(graphql_type=datetime)
    row: strawberry.Private[m.Agent]

    @classmethod
    def of(cls, row: m.Agent) -> TrustScore:
        return cls(score=row.trust_score, confidence=row.trust_confidence, computed_at=row.trust_computed_at, row=row)


@strawberry.type
class TrustScorePoint:
    score: float
    reason: str
    at: datetime


@strawberry.type
class Capability:
    name: str
    granted_at: datetime
    granted_by_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def granted_by(self, info: Info) -> User | None:
        return await User.load(info, self.granted_by_id) if self.granted_by_id else None


@node_type(m.Agent)
@strawberry.type
class Agent(Node):
    name: str
    display_name: str | None
    description: str | None
    agent_type: AgentType
    status: AgentStatus
    public_key: str | None
    key_fingerprint: str | None
    last_verified_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = strawberry.field(
        description="Set once the agent is deleted: evidence that names it still shows it, as REVOKED"
    )
    row: strawberry.Private[m.Agent]

    @strawberry.field
    def trust_score(self) -> TrustScore:
        return TrustScore.of(self.row)

    @strawberry.field
    async def trust_history(self, info: Info, first: int = 50) -> list[TrustScorePoint]:
        points = await info.context.loaders.pages(
            TRUST_HISTORY, Order("at", descending=True), max(0, min(first, 500))
        ).load(self.row.id)
        return [TrustScorePoint(score=p.score, reason=p.reason, at=p.at) for p in points]

    @strawberry.field
    async def capabilities(self, info: Info) -> list[Capability]:
        grants = await info.context.loaders.grants.load(self.row.id)
        return [Capability(name=g.name, granted_at=g.granted_at, granted_by_id=g.granted_by_id) for g in grants]

    @strawberry.field
    async def created_by(self, info: Info) -> User | None:
        return await User.load(info, self.row.created_by_id) if self.row.created_by_id else None

    @strawberry.field
    async def mcp_servers(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[MCPServer, strawberry.lazy("aim_identity.schema.mcp.types")]]:
        return await child_page(info, MCP_SERVERS, self.row.id, Order("created_at"), shape, first, after)

    @strawberry.field
    async def verification_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[VerificationEvent, strawberry.lazy("aim_identity.schema.verification.types")]]:
        return await child_page(
            info, VERIFICATION_EVENTS, self.row.id, Order("created_at", descending=True), shape, first, after
        )

    @strawberry.field
    async def threats(
        self, info: Info, first: int | None = None, after: str | None = None, status: ThreatStatus | None = None
    ) -> Connection[Annotated[Threat, strawberry.lazy("aim_identity.schema.security.types")]]:
        equal: dict[str, str] = {"status": status.value} if status is not None else {}
        return await child_page(
            info, THREATS, self.row.id, Order("detected_at", descending=True), shape, first, after, **equal
        )

    @classmethod
    def of(cls, row: m.Agent) -> Agent:
        return cls(
            id=strawberry.ID(ids.encode("Agent", row.id)),
            name=row.name,
            display_name=row.display_name,
            description=row.description,
            agent_type=row.agent_type,
            status=row.status,
            public_key=row.public_key,
            key_fingerprint=row.key_fingerprint,
            last_verified_at=row.last_verified_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
            row=row,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID, *, tombstone: bool = False) -> Agent | None:
        """An agent principal sees only itself (its loaders hold no other agent); people and API keys see
        their organization's agents. A deleted agent is loaded only as the subject of evidence."""
        loaders = info.context.loaders
        row = await (loaders.agent_or_tombstone if tombstone else loaders.agent).load(pk)
        return cls.of(row) if row else None
