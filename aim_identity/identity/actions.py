"""Runtime authorization (PROTOCOL.md, "Action authorization"): an agent asks, with a signed,
single-use request, whether it may use a capability now. Every answer is recorded and scored; a
replay or a retired key is credential misuse, and an action outside the grants is a violation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aim_identity import clock, db, ids, protocol
from aim_identity.actors import Actor
from aim_identity.auth import login_guard
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Conflict, NotFound
from aim_identity.identity import capabilities, keys
from aim_identity.identity.agents import signed_by_retired_key, signer_sql
from aim_identity.identity.risk import risk_level
from aim_identity.identity.scoring import mark_due, rescore
from aim_identity.models import ActionDecision, Agent, AgentStatus, Severity, Threat, ThreatType
from aim_identity.security.threats import raise_threat
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import Work, atomic

RESOURCE_MAX = 2000  # as the decision row keeps it

# Authorization is the hottest write AIM has, so it is a few hand-written statements. The agent with
# its grants (a row per grant, or one whose grant is null), locked as a signer is (agents.signer_sql).
_SIGNER = (
    "SELECT a.*, g.name AS grant_name FROM agents a LEFT JOIN capability_grants g ON g.agent_id = a.id "
    "WHERE a.id = $1 AND a.deleted_at IS NULL"
)
# A decision that spends a nonce already spent on one of the agent's decisions is not written.
_RECORD = """INSERT INTO action_decisions (id, organization_id, agent_id, capability, resource, allowed, reason,
                              risk_level, proven, nonce, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (agent_id, nonce) DO NOTHING
RETURNING *"""


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
    now = clock.now()
    risk = risk_level(capability)
    async with atomic(actor) as work:
        agent, grants = await _signer(actor.organization_id, agent_id)
        retired = False
        proven = keys.verifies(keys.public_key(agent.public_key), signed, raw_signature)
        if not proven:
            retired = proven = await signed_by_retired_key(agent, signed, raw_signature)
        if not proven:
            # Anyone who knows the agent's ID could have sent it: it is not the agent's evidence, and its
            # sender's address is throttled, before anything is written.
            await login_guard.check(settings, login_guard.SIGNATURE, None, actor.ip_address)
        await work.act_as(
            actor.as_agent(agent.organization_id, agent.id) if proven else actor.within(agent.organization_id)
        )
        allowed, spent = False, None  # spent: the nonce, once the request is good enough to spend it
        if retired:
            reason = "signed with a retired key"
        elif not proven:
            reason = "the signature does not verify with the agent's key"
        elif abs((now - timestamp).total_seconds()) > settings.action_clock_skew:
            reason = f"the timestamp is more than {settings.action_clock_skew} s from the server's clock"
        elif agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
            reason = f"the agent is {agent.status.value.lower()}"
        else:
            allowed, spent = capabilities.allows(grants, capability), nonce
            reason = f"granted: {capability}" if allowed else f"{capability} is outside the agent's grants"
        decided = (agent, capability, resource, risk, proven, now)
        decision = await _record(*decided, allowed, reason, spent)
        threat: Threat | None = None
        if decision is None:  # the nonce was spent before: this is a signed request sent again
            allowed, reason = False, "the nonce was already used"
            decision = await _record(*decided, allowed, reason, None)
            assert decision is not None  # no nonce, no conflict
            threat = await _raise(
                work,
                agent,
                ThreatType.CREDENTIAL_MISUSE,
                Severity.HIGH,
                "Replayed action request",
                f"Agent {agent.name} replayed a signed request for {capability}",
                {"capability": capability, "nonce": nonce},
                "replayed request",
            )
        elif retired:
            threat = await _raise(
                work,
                agent,
                ThreatType.CREDENTIAL_MISUSE,
                Severity.HIGH,
                "Retired key used",
                f"Agent {agent.name} asked for {capability} with a retired key",
                {"capability": capability, "ipAddress": actor.ip_address},
                "retired key",
            )
        elif spent and not allowed:
            threat = await _raise(
                work,
                agent,
                ThreatType.CAPABILITY_VIOLATION,
                max(risk, Severity.MEDIUM),
                "Capability violation",
                f"Agent {agent.name} asked for {capability}"
                + (f" on {resource}" if resource else "")
                + ", which it was never granted",
                {"capability": capability, "resource": resource, "grants": sorted(grants)},
                capability,
                # The agent's violations: its requests refused though good enough to spend their nonce.
                lambda since: ActionDecision.filter(
                    agent_id=agent.id, allowed=False, nonce__isnull=False, created_at__gte=since
                ).count(),
            )
        if threat is not None:
            await db.execute("UPDATE action_decisions SET threat_id = $2 WHERE id = $1", decision.id, threat.id)
            decision.threat = threat
        if allowed:
            # Scored by the trust worker within a second or so: an allowed action moves the score least,
            # and scoring reads all the agent's evidence, which this request has no need to wait for.
            await mark_due(agent.id, now)
        elif proven:
            await rescore(work, agent, f"action denied: {reason}", settings.key_rotation_days)
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
        # For the agent's behavioural baseline (security/rules.py).
        work.emit(
            "agent.action_decided",
            agentId=agent_gid,
            decisionId=ids.encode("ActionDecision", decision.id),
            capability=capability,
            allowed=allowed,
            proven=proven,
        )
    if not proven:
        await login_guard.record_failure(login_guard.SIGNATURE, agent_gid, actor.ip_address)
    return decision


async def _signer(organization_id: uuid.UUID | None, agent_id: uuid.UUID) -> tuple[Agent, list[str]]:
    sql, *params = signer_sql(_SIGNER, organization_id, agent_id)
    rows = await db.fetch(f"{sql} FOR UPDATE OF a", *params)
    if not rows:
        raise NotFound("No such agent")
    grants = [row.pop("grant_name") for row in rows]
    return db.instance(Agent, rows[0]), [g for g in grants if g is not None]


async def _record(
    agent: Agent,
    capability: str,
    resource: str | None,
    risk: Severity,
    proven: bool,
    now: datetime,
    allowed: bool,
    reason: str,
    nonce: str | None,
) -> ActionDecision | None:
    row = await db.fetch_one(
        _RECORD,
        uuid.uuid4(),
        agent.organization_id,
        agent.id,
        capability,
        resource,
        allowed,
        reason,
        risk.value,
        proven,
        nonce,
        now,
    )
    return db.instance(ActionDecision, row) if row else None


def _raise(
    work: Work,
    agent: Agent,
    type: ThreatType,
    severity: Severity,
    title: str,
    description: str,
    evidence: dict[str, object],
    key: str,
    counted: Callable[[datetime], Awaitable[int]] | None = None,
) -> Awaitable[Threat | None]:
    return raise_threat(
        work,
        agent.organization_id,
        type,
        severity,
        title,
        description,
        agent_id=agent.id,
        evidence=evidence,
        key=key,
        counted=counted,
    )


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
