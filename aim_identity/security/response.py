"""The engine's answer to a threat: suspending the agent involved, in the threat's transaction. A
suspended agent's tokens stop working at their next use and its live subscriptions end
(auth/principal.py, delivery/fanout.py), as after a person suspends it."""

from __future__ import annotations

import uuid

from aim_identity import clock, ids
from aim_identity.identity.scoring import mark_due
from aim_identity.models import Agent, AgentStatus
from aim_identity.unit_of_work import Work

SUSPENDABLE = (AgentStatus.PENDING, AgentStatus.VERIFIED)


async def suspend_agent(work: Work, agent_id: uuid.UUID, reason: str) -> bool:
    """Suspends the agent unless it is already suspended, revoked or deleted; whether it did."""
    agent = await Agent.filter(id=agent_id, deleted_at=None).select_for_update().first()
    if agent is None or agent.status not in SUSPENDABLE:
        return False
    previous = agent.status
    agent.status = AgentStatus.SUSPENDED
    await agent.save(update_fields=["status", "updated_at"])
    gid = ids.encode("Agent", agent.id)
    work.audit(
        "agent.suspend",
        "Agent",
        gid,
        organization_id=agent.organization_id,
        previous=previous.value,
        reason=reason,
        automatic=True,
    )
    work.emit("agent.suspended", organization_id=agent.organization_id, agentId=gid, reason=reason)
    # The trust worker takes the suspension into the score a moment later.
    await mark_due(agent.id, clock.now())
    return True
