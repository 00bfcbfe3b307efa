from __future__ import annotations

import strawberry


@strawberry.input
class RequestChallengeInput:
    agent_id: strawberry.ID


@strawberry.input
class VerifyAgentInput:
    challenge_id: strawberry.ID
    signature: str
