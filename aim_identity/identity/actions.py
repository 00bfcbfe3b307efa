"""Runtime authorization (PROTOCOL.md, "Action authorization"): an agent asks, with a signed,
single-use request, whether it may use a capability now. Every answer is recorded and scored; a
replay or a retired key is credential misuse, and an action outside the grants is a violation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

from aim_identity import ids, protocol
from aim_identity.actors import Actor
from aim_identity.auth import login_guard
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Conflict, NotFound
from aim_identity.identity import capabilities, keys
from aim_identity.identity.agents import locked_signer, signed_by_retired_key
from aim_identity.identity.risk import risk_level
from aim_identity.identity.scoring import rescore
from aim_identity.models import (
    ActionDecision,
    ActionNonce,
    Agent,
    AgentStatus,
    CapabilityGrant,
    Severity,
    Threat,
    ThreatType,
)
from aim_identity.security.threats import raise_threat
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import atomic

RESOURCE_MAX = 2000  # as the decision row keeps it


async def authorize(
    actor: Actor,
    settings: Settings,
    agent_id: uuid.UUID,
    capability: str,
    resource: str | None,
    context: object,  # any JSON value; only an object or null is accepted
    timestamp: datetime,
    nonce: str,
    signature: str,
) -> ActionDecision:
    capability = capabilities.validate(capability)
    raw_signature = keys.signature(signature)
    keys.nonce(nonce)
    if resource is not None and len(resource) > RESOURCE_MAX:
        raise BadUserInput(f"resource may have at most {RESOURCE_MAX} characters", field="resource")
    if context is not None and not isinstance(context, dict):
        raise BadUserInput("context must be a JSON object", field="context")
    agent_gid = ids.encode("Agent", agent_id)
    signed = protocol.action(agent_gid, capability, resource, timestamp, nonce, context)
    now = datetime.now(UTC)
    risk = risk_level(capability)
    await login_guard.check(settings, login_guard.SIGNATURE, None, actor.ip_address)
    async with atomic(actor) as work:
        agent = await locked_signer(actor.organization_id, agent_id)
        threat: Threat | None = None
        allowed, proven = False, True
        if not keys.verifies(keys.public_key(agent.public_key), signed, raw_signature):
            if await signed_by_retired_key(agent, signed, raw_signature):
                reason = "signed with a retired key"
                threat = await raise_threat(
                    work,
                    agent.organization_id,
                    ThreatType.CREDENTIAL_MISUSE,
                    Severity.HIGH,
                    "Retired key used",
                    f"Agent {agent.name} asked for {capability} with a retired key",
                    agent_id=agent.id,
                    evidence={"capability": capability, "ipAddress": actor.ip_address},
                )
            else:  # anyone who knows the agent's ID could have sent it: it is not the agent's evidence
                reason, proven = "the signature does not verify with the agent's key", False
        elif abs((now - timestamp).total_seconds()) > settings.action_clock_skew:
            reason = f"the timestamp is more than {settings.action_clock_skew} s from the server's clock"
        elif agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
            reason = f"the agent is {agent.status.value.lower()}"
        elif await ActionNonce.filter(agent=agent, nonce=nonce).exists():
            reason = "the nonce was already used"
            threat = await raise_threat(
                work,
                agent.organization_id,
                ThreatType.CREDENTIAL_MISUSE,
                Severity.HIGH,
                "Replayed action request",
                f"Agent {agent.name} replayed a signed request for {capability}",
                agent_id=agent.id,
                evidence={"capability": capability, "nonce": nonce},
            )
        else:
            await ActionNonce.create(agent=agent, nonce=nonce)
            # Tortoise types a values_list as rows of tuples, flat or not.
            grants = cast("list[str]", await CapabilityGrant.filter(agent=agent).values_list("name", flat=True))
            allowed = capabilities.allows(grants, capability)
            if allowed:
                reason = f"granted: {capability}"
            else:
                reason = f"{capability} is outside the agent's grants"
                threat = await raise_threat(
                    work,
                    agent.organization_id,
                    ThreatType.CAPABILITY_VIOLATION,
                    max(risk, Severity.MEDIUM),
                    "Capability violation",
                    f"Agent {agent.name} asked for {capability}"
                    + (f" on {resource}" if resource else "")
                    + ", which it was never granted",
                    agent_id=agent.id,
                    evidence={"capability": capability, "resource": resource, "grants": sorted(grants)},
                )
        work.actor = actor.as_agent(agent.organization_id, agent.id) if proven else actor.within(agent.organization_id)
        # Nonces need remembering only while their timestamps could still be accepted.
        await ActionNonce.filter(
            agent=agent, seen_at__lt=now - timedelta(seconds=4 * settings.action_clock_skew)
        ).delete()
        decision = await ActionDecision.create(
            organization_id=agent.organization_id,
            agent=agent,
            capability=capability,
            resource=resource,
            allowed=allowed,
            reason=reason,
            risk_level=risk,
            threat=threat,
            proven=proven,
        )
        if proven:
            scored = "action allowed" if allowed else f"action denied: {reason}"
            await rescore(work, agent, scored, settings.key_rotation_days)
        work.audit(
            "agent.action_authorize",
            "Agent",
            agent_gid,
            capability=capability,
            resource=resource,
            allowed=allowed,
            reason=reason,
            proven=proven,
            decisionId=ids.encode("ActionDecision", decision.id),
        )
    if not proven:
        await login_guard.record_failure(login_guard.SIGNATURE, agent_gid, actor.ip_address)
    return decision


async def report_result(
    actor: Actor,
    settings: Settings,
    decision_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    succeeded: bool,
    error: str | None,
) -> ActionDecision:
    """The outcome of an allowed action; `agent_id` limits an agent to its own decisions."""
    if error is not None and len(error) > 2000:
        raise BadUserInput("error may have at most 2000 characters", field="error")
    async with atomic(actor) as work:
        assert actor.organization_id is not None
        query = scoped(ActionDecision, actor.organization_id)
        if agent_id is not None:
            query = query.filter(agent_id=agent_id)
        decision = await query.select_for_update().get_or_none(id=decision_id)
        agent = await scoped(Agent, actor.organization_id).get_or_none(id=decision.agent_id) if decision else None
        if decision is None or agent is None:  # a deleted agent's decisions are closed
            raise NotFound("No such decision")
        if not decision.allowed:
            raise Conflict("Only an allowed action has a result to report")
        if decision.reported_at is not None:
            raise Conflict("This action's result was already reported")
        decision.succeeded, decision.error, decision.reported_at = succeeded, error, datetime.now(UTC)
        await decision.save(update_fields=["succeeded", "error", "reported_at"])
        await rescore(work, agent, "action succeeded" if succeeded else "action failed", settings.key_rotation_days)
        work.audit(
            "agent.action_result",
            "Agent",
            ids.encode("Agent", agent.id),
            succeeded=succeeded,
            decisionId=ids.encode("ActionDecision", decision.id),
        )
    return decision
