from __future__ import annotations

import strawberry

from aim_identity import ids
from aim_identity.auth.principal import Principal
from aim_identity.identity import challenges
from aim_identity.schema.agents.types import Agent, TrustScore
from aim_identity.schema.core.context import Info
from aim_identity.schema.verification.inputs import RequestChallengeInput, VerifyAgentInput
from aim_identity.schema.verification.payloads import VerifyAgentPayload
from aim_identity.schema.verification.types import VerificationChallenge, VerificationEvent


async def request_verification_challenge(info: Info, input: RequestChallengeInput) -> VerificationChallenge:
    issued = await challenges.issue(info.context.actor, info.context.settings, ids.decode(input.agent_id, "Agent"))
    return VerificationChallenge(
        id=strawberry.ID(issued.id), nonce=issued.nonce, message=issued.message, expires_at=issued.expires_at
    )


async def verify_agent(info: Info, input: VerifyAgentInput) -> VerifyAgentPayload:
    ctx = info.context
    agent_id, challenge_id = ids.decode_pair(input.challenge_id, challenges.CHALLENGE_TYPE)
    outcome = await challenges.answer(ctx.actor, ctx.settings, ctx.keyring, agent_id, challenge_id, input.signature)
    if outcome.verified and ctx.principal is None:
        # The signature proved who is asking: the rest of the answer is read as that agent.
        ctx.act_as(Principal("agent", outcome.agent.organization_id, None, agent_id=outcome.agent.id))
    return VerifyAgentPayload(
        verified=outcome.verified,
        failure_reason=outcome.failure_reason,
        agent=Agent.of(outcome.agent),
        trust_score=TrustScore.of(outcome.agent),
        event=VerificationEvent.of(outcome.event, outcome.agent),
        agent_token=outcome.agent_token,
        agent_token_expires_at=outcome.agent_token_expires_at,
    )
