"""Gathering an agent's recorded evidence, scoring it, and storing the result with its history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tortoise.functions import Count

from aim_identity import ids
from aim_identity.identity import trust
from aim_identity.models import (
    ActionDecision,
    Agent,
    AgentFeedback,
    AgentMCPServer,
    CapabilityGrant,
    Threat,
    ThreatStatus,
    TrustScoreRecord,
    VerificationEvent,
    VerificationResult,
)
from aim_identity.unit_of_work import Actor, Work, atomic

UNRESOLVED = (ThreatStatus.OPEN, ThreatStatus.ACKNOWLEDGED)
# The age factor grows with the clock (about 1e-8 a second), so two rescorings moments apart always
# differ by a hair; a history point for that would depend on request timing, not on evidence.
SIGNIFICANT_CHANGE = 1e-6
# Evidence ages even when nothing new is recorded (uptime counts the last 7 days, age grows), so a
# score older than this is recomputed by housekeeping; a day matches the factors' own granularity.
STALE_AFTER = timedelta(days=1)
STALE_BATCH = 500


async def gather(agent: Agent, key_rotation_days: int, now: datetime | None = None) -> trust.Evidence:
    now = now or datetime.now(timezone.utc)
    month_ago = now - timedelta(days=30)
    week_start = (now - timedelta(days=trust.UPTIME_WINDOW_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)

    recent = await VerificationEvent.filter(agent_id=agent.id).order_by("-created_at") \
        .limit(trust.VERIFICATION_WINDOW).values_list("result", flat=True)
    verified_at = await VerificationEvent.filter(agent_id=agent.id, result=VerificationResult.VERIFIED,
                                                 created_at__gte=week_start).values_list("created_at", flat=True)
    acted_at = await ActionDecision.filter(agent_id=agent.id, allowed=True, created_at__gte=week_start) \
        .values_list("created_at", flat=True)
    action_counts = await ActionDecision.filter(agent_id=agent.id, created_at__gte=month_ago) \
        .annotate(n=Count("id")).group_by("allowed", "succeeded").values("allowed", "succeeded", "n")
    threats = await Threat.filter(agent_id=agent.id, status__in=UNRESOLVED, detected_at__gte=month_ago) \
        .values_list("severity", flat=True)
    grants = await CapabilityGrant.filter(agent_id=agent.id).values_list("name", flat=True)
    links = await AgentMCPServer.filter(agent_id=agent.id).values_list("declared", flat=True)
    ratings = await AgentFeedback.filter(agent_id=agent.id).values_list("rating", flat=True)

    def tally(**match) -> int:
        return sum(row["n"] for row in action_counts if all(row[k] == v for k, v in match.items()))

    return trust.Evidence(
        now=now,
        status=agent.status,
        created_at=agent.created_at,
        key_created_at=agent.key_created_at,
        key_rotation_days=key_rotation_days,
        verifications=[VerificationResult(r) == VerificationResult.VERIFIED for r in recent],
        active_days=len({t.astimezone(timezone.utc).date() for t in [*verified_at, *acted_at]}),
        actions_succeeded=tally(succeeded=True),
        actions_failed=tally(succeeded=False),
        actions_allowed=tally(allowed=True),
        actions_denied=tally(allowed=False),
        open_threats=list(threats),
        grants=list(grants),
        mcp_declared=sum(1 for d in links if d),
        mcp_undeclared=sum(1 for d in links if not d),
        ratings=list(ratings),
    )


async def rescore(work: Work, agent: Agent, reason: str, key_rotation_days: int) -> tuple[float, float]:
    """Recompute and store the agent's score; a change lands in its history and is published."""
    before = agent.trust_score
    first = agent.trust_computed_at is None
    result = trust.compute(await gather(agent, key_rotation_days))
    agent.trust_score = result.score
    agent.trust_confidence = result.confidence
    agent.trust_factors = [f.as_dict() for f in result.factors]
    agent.trust_computed_at = datetime.now(timezone.utc)
    await Agent.filter(id=agent.id).update(trust_score=agent.trust_score, trust_confidence=agent.trust_confidence,
                                           trust_factors=agent.trust_factors, trust_computed_at=agent.trust_computed_at)
    if first or abs(result.score - before) > SIGNIFICANT_CHANGE:
        await TrustScoreRecord.create(agent_id=agent.id, score=result.score, reason=reason)
        work.emit("agent.trust_changed", organization_id=agent.organization_id,
                  agentId=ids.encode("Agent", agent.id), previous=before, current=result.score, reason=reason)
    return before, result.score


async def rescore_stale(key_rotation_days: int, now: datetime | None = None) -> int:
    """Recomputes the oldest scores computed more than STALE_AFTER ago, so an agent that stops proving
    itself loses trust as its evidence ages instead of keeping yesterday's score."""
    cutoff = (now or datetime.now(timezone.utc)) - STALE_AFTER
    stale = await Agent.filter(trust_computed_at__lt=cutoff).order_by("trust_computed_at").limit(STALE_BATCH) \
        .values_list("id", "organization_id")
    for agent_id, organization_id in stale:
        async with atomic(Actor(organization_id, "system")) as work:
            agent = await Agent.select_for_update().get_or_none(id=agent_id, trust_computed_at__lt=cutoff)
            if agent is not None:  # another worker may have got there first
                await rescore(work, agent, "evidence aged", key_rotation_days)
    return len(stale)
