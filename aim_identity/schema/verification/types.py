from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.node import Node, node_type

# The models' own enums, which strawberry.enum marks in place; plain aliases, so that mypy reads them as types.
VerificationResult = m.VerificationResult
VerificationFailureReason = m.VerificationFailureReason
strawberry.enum(VerificationResult)
strawberry.enum(VerificationFailureReason)


@strawberry.type
class VerificationChallenge:
    id: strawberry.ID
    nonce: str
    message: str
    expires_at: datetime


@node_type(m.VerificationEvent)
@strawberry.type
class VerificationEvent(Node):
    result: VerificationResult
    failure_reason: VerificationFailureReason | None
    trust_score_before: float
    trust_score_after: float
    ip_address: str | None
    created_at: datetime
    proven: bool = strawberry.field(
        description="Signed by one of the agent's keys. An unproven answer (a forged challenge, a bad signature) "
        "could come from anyone who knows the agent's ID: it is recorded, and moves nothing"
    )
    agent_id: strawberry.Private[uuid.UUID]
    # Set when the caller already holds the agent (verifyAgent answers callers with no organization).
    known_agent: strawberry.Private[m.Agent | None] = None

    @strawberry.field
    async def agent(self, info: Info) -> Agent:
        if self.known_agent is not None:
            return Agent.of(self.known_agent)
        agent = await Agent.load(info, self.agent_id, tombstone=True)
        assert agent is not None  # a deleted agent stays as a tombstone for the evidence that names it
        return agent

    @classmethod
    def of(cls, row: m.VerificationEvent, agent: m.Agent | None = None) -> VerificationEvent:
        return cls(
            id=strawberry.ID(ids.encode("VerificationEvent", row.id)),
            result=row.result,
            failure_reason=row.failure_reason,
            trust_score_before=row.trust_score_before,
            trust_score_after=row.trust_score_after,
            ip_address=row.ip_address,
            created_at=row.created_at,
            proven=row.proven,
            agent_id=row.agent_id,
            known_agent=agent,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> VerificationEvent | None:
        row = await info.context.loaders.by_id(m.VerificationEvent).load(pk)
        if row is None or await Agent.load(info, row.agent_id, tombstone=True) is None:
            return None
        return cls.of(row)
