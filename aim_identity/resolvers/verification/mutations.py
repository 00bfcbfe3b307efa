from __future__ import annotations

import strawberry

from aim_identity import ids
from aim_identity.auth.principal import Principal
from aim_identity.identity import challenges
from aim_identity.schema.agents.types import Agent, TrustScore
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.withheld import withheld
from aim_identity.schema.verification.inputs import RequestChallengeInput, VerifyAgentInput
from aim_identity.schema.verification.payloads import VerifyAgentPayload
from aim_identity.schema.verification.types import VerificationChallenge, VerificationEvent

WITHHELD = "Prove who you are to see more of this agent: sign the challenge with its key, or sign in"


async def request_verification_challenge(info: Info, input: RequestChallengeInput) -> VerificationChallenge:
    ctx = info.context
    issued = await challenges.issue(ctx.actor, ctx.settings, ctx.keyring, ids.decode(input.agent_id, "Agent"))
    return VerificationChallenge(
        id=strawberry.ID(issued.id), nonce=issued.nonce, message=issued.message, expires_at=issued.expires_at
    )


async def verify_agent(info: Info, input: VerifyAgentInput) -> VerifyAgentPayload:
    ctx = info.context
    outcome = await challenges.answer(ctx.actor, ctx.settings, ctx.keyring, input.challenge_id, input.signature)
    if outcome.verified and ctx.principal is None:
        # The signature proved who is asking: the rest of the answer is read as that agent.
        ctx.act_as(Principal("agent", outcome.agent.organization_id, None, agent_id=outcome.agent.id))
    agent, event = Agent.of(outcome.agent), VerificationEvent.of(outcome.event, outcome.agent)
    trust_score = TrustScore.of(outcome.agent)
    if ctx.principal is None:  # anonymous, and not verified: the outcome, and the agent's id and status
        agent = withheld(Agent, WITHHELD, id=agent.id, status=agent.status)
        event = withheld(
            VerificationEvent,
            WITHHELD,
            id=event.id,
            result=event.result,
            failure_reason=event.failure_reason,
            created_at=event.created_at,
        )
        trust_score = withheld(TrustScore, WITHHELD)
    return VerifyAgentPayload(
        verified=outcome.verified,
        failure_reason=outcome.failure_reason,
        agent=agent,
        trust_score=trust_score,
        event=event,
        agent_token=outcome.agent_token,
        agent_token_expires_at=outcome.agent_token_expires_at,
    )
