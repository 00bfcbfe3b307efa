from __future__ import annotations

import strawberry

from aim_identity.schema.agents.types import Agent


@strawberry.type
class CreateAgentPayload:
    agent: Agent
    private_key: str | None


@strawberry.type
class DeleteAgentPayload:
    deleted_id: strawberry.ID


@strawberry.type
class AgentPayload:
    agent: Agent
