from __future__ import annotations

from enum import Enum

import strawberry

from aim_identity import models as m
from aim_identity.schema.agents.types import AgentStatus, AgentType
from aim_identity.schema.core.pagination import SortDirection


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


@strawberry.input
class UpdateAgentInput:
    id: strawberry.ID
    display_name: str | None = None
    description: str | None = None
    agent_type: AgentType | None = None


@strawberry.input
class DeleteAgentInput:
    id: strawberry.ID


@strawberry.input
class SetAgentStatusInput:
    id: strawberry.ID
    reason: str | None = None


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
