from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from enum import Enum

import strawberry

from aim_identity.schema.context import Info

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.loaders import (
    AGENT_MCP_SERVERS,
    AGENT_THREATS,
    TRUST_HISTORY,
    VERIFICATION_EVENTS,
    child_page,
)
from aim_identity.schema.mcp import MCPServer
from aim_identity.schema.node import Node, loadable
from aim_identity.schema.pagination import Connection, Order
from aim_identity.schema.threats import Threat, ThreatStatus
from aim_identity.schema.users import User

if TYPE_CHECKING:
    from aim_identity.schema.verification import VerificationEvent

AgentStatus = strawberry.enum(m.AgentStatus)
AgentType = strawberry.enum(m.AgentType)


@strawberry.type
class TrustFactor:
    name: str
    weight: float
    value: float
    contribution: float
    explanation: str


def _trust_factors(root: TrustScore) -> list[TrustFactor]:
    return [TrustFactor(name=f["name"], weight=f["weight"], value=f["value"], contribution=f["contribution"],
                        explanation=f["explanation"]) for f in root.row.trust_factors]


@strawberry.type
class TrustScore:
    score: float
    # Built only when selected: a list of agents usually asks for the score alone.
    factors: list[TrustFactor] = strawberry.field(resolver=_trust_factors)
    confidence: float
    computed_at: datetime
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
        row = await info.context.loaders.user.load(self.granted_by_id) if self.granted_by_id else None
        return User.of(row) if row else None


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
    row: strawberry.Private[m.Agent]

    @strawberry.field
    def trust_score(self) -> TrustScore:
        return TrustScore.of(self.row)

    @strawberry.field
    async def trust_history(self, info: Info, first: int = 50) -> list[TrustScorePoint]:
        points = await info.context.loaders.pages(TRUST_HISTORY, Order("at", descending=True),
                                                  max(0, min(first, 500))).load(self.row.id)
        return [TrustScorePoint(score=p.score, reason=p.reason, at=p.at) for p in points]

    @strawberry.field
    async def capabilities(self, info: Info) -> list[Capability]:
        grants = await info.context.loaders.grants.load(self.row.id)
        return [Capability(name=g.name, granted_at=g.granted_at, granted_by_id=g.granted_by_id) for g in grants]

    @strawberry.field
    async def created_by(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self.row.created_by_id) if self.row.created_by_id else None
        return User.of(row) if row else None

    @strawberry.field
    async def mcp_servers(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[MCPServer]:
        return await child_page(info, AGENT_MCP_SERVERS, self.row.id, Order("created_at"), MCPServer.of, first, after)

    @strawberry.field
    async def verification_events(self, info: Info, first: int | None = None, after: str | None = None
                                  ) -> Connection[Annotated[VerificationEvent, strawberry.lazy("aim_identity.schema.verification")]]:
        from aim_identity.schema.verification import VerificationEvent

        return await child_page(info, VERIFICATION_EVENTS, self.row.id, Order("created_at", descending=True),
                                VerificationEvent.of, first, after)

    @strawberry.field
    async def threats(self, info: Info, first: int | None = None, after: str | None = None,
                      status: ThreatStatus | None = None) -> Connection[Threat]:
        equal = {"status": status.value} if status is not None else {}
        return await child_page(info, AGENT_THREATS, self.row.id, Order("detected_at", descending=True), Threat.of,
                                first, after, **equal)

    @classmethod
    def of(cls, row: m.Agent) -> Agent:
        return cls(id=strawberry.ID(ids.encode("Agent", row.id)), name=row.name, display_name=row.display_name,
                   description=row.description, agent_type=row.agent_type, status=row.status,
                   public_key=row.public_key, key_fingerprint=row.key_fingerprint,
                   last_verified_at=row.last_verified_at, created_at=row.created_at, updated_at=row.updated_at,
                   row=row)


async def visible_agent(info, agent_id: uuid.UUID) -> m.Agent | None:
    """An agent principal sees only itself (its loaders hold no other agent); people and API keys see
    their organization's agents."""
    return await info.context.loaders.agent.load(agent_id)


@loadable("Agent")
async def load_agent(info, global_id: str) -> Agent | None:
    row = await visible_agent(info, ids.decode(global_id, "Agent"))
    return Agent.of(row) if row else None


@strawberry.input
class AgentFilter:
    status: list[AgentStatus] | None = None
    agent_type: list[AgentType] | None = None
    search: str | None = None
    min_trust_score: float | None = None
    max_trust_score: float | None = None


@strawberry.enum
class AgentOrderField(Enum):
    NAME = "name"
    CREATED_AT = "created_at"
    TRUST_SCORE = "trust_score"
    LAST_VERIFIED_AT = "last_verified_at"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class AgentOrder:
    field: AgentOrderField
    direction: SortDirection


@strawberry.input
class CreateAgentInput:
    name: str
    display_name: str | None = None
    description: str | None = None
    agent_type: AgentType | None = m.AgentType.AI_AGENT
    public_key: str | None = None
    capabilities: list[str] | None = strawberry.field(default_factory=list)


@strawberry.type
class CreateAgentPayload:
    agent: Agent
    private_key: str | None


@strawberry.input
class UpdateAgentInput:
    id: strawberry.ID
    display_name: str | None = None
    description: str | None = None
    agent_type: AgentType | None = None


@strawberry.input
class DeleteAgentInput:
    id: strawberry.ID


@strawberry.type
class DeleteAgentPayload:
    deleted_id: strawberry.ID


@strawberry.input
class SetAgentStatusInput:
    id: strawberry.ID
    reason: str | None = None


@strawberry.type
class AgentPayload:
    agent: Agent


@strawberry.input
class GrantCapabilityInput:
    agent_id: strawberry.ID
    capability: str


@strawberry.input
class RevokeCapabilityInput:
    agent_id: strawberry.ID
    capability: str


@strawberry.input
class RotateAgentKeyInput:
    agent_id: strawberry.ID
    new_public_key: str
    signature: str


@strawberry.input
class AgentFeedbackInput:
    agent_id: strawberry.ID
    rating: int
    comment: str | None = None
