from __future__ import annotations

from datetime import datetime

import strawberry

from aim_identity.schema.agents.types import Agent, TrustScore
from aim_identity.schema.verification.types import VerificationEvent, VerificationFailureReason


@strawberry.type
class VerifyAgentPayload:
    verified: bool
    failure_reason: VerificationFailureReason | None
    agent: Agent
    trust_score: TrustScore
    event: VerificationEvent
    agent_token: str | None
    agent_token_expires_at: datetime | None
