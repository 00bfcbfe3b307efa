"""Raising a threat, in the caller's transaction: unless the rule is off or a person marked the same
evidence a false positive, a repeat joins the subject's open threat (its count and evidence grow),
anything else opens one. Either way it is audited, alerted as its policy says (a `threat.detected` or
`threat.updated` event), and answered by suspension when the policy calls for it. And the threat's
lifecycle: acknowledged, blocked or resolved by a person."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aim_identity import clock, ids
from aim_identity.actors import Actor
from aim_identity.errors import BadUserInput, Conflict, NotFound
from aim_identity.models import Severity, Suppression, Threat, ThreatStatus, ThreatType
from aim_identity.security import policies, response
from aim_identity.security.blocklist import Blocklist
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import Work, atomic

OPEN = (ThreatStatus.OPEN, ThreatStatus.ACKNOWLEDGED)
# The evidence of a threat keeps its first facts and at most this many of the latest repeats.
REPEATS_KEPT = 50
# How long blockThreat refuses a brute-force threat's source address.
IP_BLOCK = timedelta(hours=1)


def subject_of(agent_id: uuid.UUID | None, mcp_server_id: uuid.UUID | None, organization_id: uuid.UUID) -> str:
    if agent_id:
        return f"agent:{agent_id}"
    if mcp_server_id:
        return f"mcp_server:{mcp_server_id}"
    return f"organization:{organization_id}"


async def raise_threat(
    work: Work,
    organization_id: uuid.UUID,
    type: ThreatType,
    severity: Severity,
    title: str,
    description: str,
    *,
    agent_id: uuid.UUID | None = None,
    mcp_server_id: uuid.UUID | None = None,
    evidence: dict[str, Any] | None = None,
    subject: str | None = None,
    key: str = "",
    measured: float | None = None,
    counted: Callable[[datetime], Awaitable[int]] | None = None,
    at: datetime | None = None,
    policy: policies.Policy | None = None,
) -> Threat | None:
    """`key` names the evidence for false-positive feedback (a capability, a metric); `measured` is the
    value a measured rule saw; `counted(since)` says how often the evidence occurred since the start of
    the policy's window, this time included, for a rule that raises only from its threshold on. Returns
    the threat raised or joined, or None when none is. `policy`: the type's, when the caller has read it."""
    policy = policy or await policies.effective(organization_id, type)
    subject = subject or subject_of(agent_id, mcp_server_id, organization_id)
    if not policy.enabled or await suppressed(organization_id, type, subject, key, measured):
        return None
    at = at or clock.now()
    since = at - timedelta(seconds=policy.window_seconds)
    facts = {**(evidence or {}), "key": key, "at": at.isoformat()}
    if counted is not None:
        facts["count"] = await counted(since)
        if facts["count"] < policy.threshold:
            return None
    if measured is not None:
        facts["measured"] = measured
    threat = await (
        scoped(Threat, organization_id)
        .filter(type=type, subject=subject, status__in=OPEN, last_seen_at__gte=since)
        .select_for_update()
        .order_by("-last_seen_at")
        .first()
    )
    if threat is None:
        threat = await Threat.create(
            organization_id=organization_id,
            agent_id=agent_id,
            mcp_server_id=mcp_server_id,
            type=type,
            severity=severity,
            title=title,
            description=description,
            evidence={**facts, "repeats": []},
            subject=subject,
            detected_at=at,
            last_seen_at=at,
        )
        kind = "threat.detected"
    else:
        threat.severity = max(threat.severity, severity)
        threat.occurrences += 1
        threat.last_seen_at = at
        threat.description = description  # says what happened last; the evidence keeps each time
        threat.evidence = {**threat.evidence, "repeats": [*threat.evidence.get("repeats", []), facts][-REPEATS_KEPT:]}
        await threat.save(update_fields=["severity", "occurrences", "last_seen_at", "description", "evidence"])
        kind = "threat.updated"
    gid = ids.encode("Threat", threat.id)
    work.audit(
        kind,
        "Threat",
        gid,
        organization_id=organization_id,
        type=type.value,
        severity=threat.severity.value,
        occurrences=threat.occurrences,
    )
    alerted = policy.responds(threat.severity)
    # Below the policy's minimum severity a threat is kept, not alerted: `threat.recorded` reaches only
    # webhooks that ask for every event.
    work.emit(
        kind if alerted else "threat.recorded",
        organization_id=organization_id,
        threatId=gid,
        type=type.value,
        severity=threat.severity.value,
        occurrences=threat.occurrences,
        agentId=ids.encode("Agent", agent_id) if agent_id else None,
        mcpServerId=ids.encode("MCPServer", mcp_server_id) if mcp_server_id else None,
    )
    # On every occurrence: an agent a person reactivated while its threat stayed open is suspended again
    # by the next.
    if agent_id and policy.suspends(threat.severity):
        await response.suspend_agent(work, agent_id, f"{type.value} threat {gid}, by the security policy")
    return threat


async def suppressed(
    organization_id: uuid.UUID, type: ThreatType, subject: str, key: str, measured: float | None
) -> bool:
    for ceiling in await Suppression.filter(
        organization_id=organization_id, threat_type=type, subject=subject, key=key
    ).values_list("ceiling", flat=True):
        if ceiling is None or measured is None or measured <= float(ceiling):  # type: ignore[arg-type]
            return True
    return False


async def acknowledge(actor: Actor, threat_id: uuid.UUID, note: str | None) -> Threat:
    async with atomic(actor) as work:
        threat = await _locked(actor, threat_id)
        if threat.status != ThreatStatus.OPEN:
            raise Conflict(f"Only an open threat can be acknowledged; this one is {threat.status.value.lower()}")
        await _settle(work, threat, ThreatStatus.ACKNOWLEDGED, note, "threat.acknowledge")
    return threat


async def block(actor: Actor, blocklist: Blocklist, threat_id: uuid.UUID, note: str | None) -> Threat:
    """Suspends the agent involved; for a brute-force threat, also refuses its source address for
    IP_BLOCK on every replica."""
    async with atomic(actor) as work:
        threat = await _locked(actor, threat_id)
        address: str | None = None
        if threat.status not in OPEN:
            raise Conflict(f"Only an open threat can be blocked; this one is {threat.status.value.lower()}")
        if threat.type == ThreatType.BRUTE_FORCE:
            address = threat.evidence.get("ipAddress")
            if not address:
                raise BadUserInput("This brute-force threat names no source address to block")
        elif threat.agent_id is None:
            raise BadUserInput("This threat names no agent to suspend")
        if threat.agent_id:
            await response.suspend_agent(work, threat.agent_id, f"threat {ids.encode('Threat', threat.id)} blocked")
        await _settle(work, threat, ThreatStatus.BLOCKED, note, "threat.block", ipAddress=address)
        if address:
            # Last before the commit: a threat marked BLOCKED whose block is not in force would mislead.
            await blocklist.block(address, IP_BLOCK)
    return threat


async def resolve(actor: Actor, threat_id: uuid.UUID, note: str | None, false_positive: bool) -> Threat:
    """A false positive teaches the rule: the same evidence for the same subject raises nothing again
    (for a measured rule, nothing up to the value that was judged normal)."""
    async with atomic(actor) as work:
        threat = await _locked(actor, threat_id)
        if threat.status in (ThreatStatus.RESOLVED, ThreatStatus.FALSE_POSITIVE):
            raise Conflict("This threat is already resolved")
        status = ThreatStatus.FALSE_POSITIVE if false_positive else ThreatStatus.RESOLVED
        if false_positive:
            for key, ceiling in _judged_normal(threat).items():
                await Suppression.create(
                    organization_id=threat.organization_id,
                    threat_type=threat.type,
                    subject=threat.subject,
                    key=key,
                    ceiling=ceiling,
                    threat_id=threat.id,
                )
        await _settle(work, threat, status, note, "threat.resolve", falsePositive=false_positive)
    return threat


def _judged_normal(threat: Threat) -> dict[str, float | None]:
    """Each evidence key the threat's occurrences named, with the highest value measured for it (None:
    the rule measures nothing)."""
    found: dict[str, float | None] = {}
    for facts in [threat.evidence, *threat.evidence.get("repeats", [])]:
        key, measured = facts.get("key", ""), facts.get("measured")
        if isinstance(measured, int | float):
            found[key] = max(float(measured), found.get(key) or float("-inf"))
        else:
            found.setdefault(key, None)
    return found


async def _locked(actor: Actor, threat_id: uuid.UUID) -> Threat:
    assert actor.organization_id is not None
    threat = await scoped(Threat, actor.organization_id).select_for_update().get_or_none(id=threat_id)
    if threat is None:
        raise NotFound("No such threat")
    return threat


async def _settle(work: Work, threat: Threat, status: ThreatStatus, note: str | None, action: str, **metadata) -> None:
    if note is not None and len(note) > 2000:
        raise BadUserInput("note may have at most 2000 characters", field="note")
    previous = threat.status
    threat.status, threat.note = status, note if note is not None else threat.note
    if status in (ThreatStatus.RESOLVED, ThreatStatus.FALSE_POSITIVE):
        threat.resolved_at = clock.now()
    await threat.save(update_fields=["status", "note", "resolved_at"])
    gid = ids.encode("Threat", threat.id)
    work.audit(action, "Threat", gid, previous=previous.value, status=status.value, note=note, **metadata)
    work.emit(
        "threat.updated", threatId=gid, type=threat.type.value, severity=threat.severity.value, status=status.value
    )
