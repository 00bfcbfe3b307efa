"""The rules that need more than one event: each judges one committed event of the stream against the
recorded facts around it, at the time the event was committed, and raises what its policy's threshold
and window say. The rules one event proves (a capability violation, credential misuse, configuration
drift) raise their threat in the transaction that records the event, so the request that caused it can
name it (identity/actions.py, identity/challenges.py, mcp/, oauth/assertions.py).

- VERIFICATION_FAILURES: at least `threshold` failed or forged challenge answers for one agent within
  the window (subject: the agent); or from one address, across at least two of the organization's
  agents (subject: the address). MEDIUM, HIGH from three times the threshold.
- TRUST_SCORE_DROP: the agent's score `threshold` or more below its highest point within the window,
  unless another open threat against the agent within the window explains it (a violation lowers
  the score, and has alerted already) or the agent is suspended or revoked. MEDIUM, HIGH from twice
  the threshold.
- ANOMALOUS_ACTIVITY: the agent's actions far from its own baseline (security/baselines.py), each
  stored as an Anomaly. MEDIUM, HIGH from twice the threshold.
- BRUTE_FORCE: at least `threshold` failed logins for one account within the window (subject: the
  account); or from one address, across at least two accounts (subject: the address). MEDIUM, HIGH
  from four times the threshold."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aim_identity import ids
from aim_identity.auth import login_guard
from aim_identity.models import (
    ActionDecision,
    Agent,
    AgentBaseline,
    Anomaly,
    AuthFailure,
    OutboxEvent,
    Severity,
    Threat,
    ThreatType,
    TrustScoreRecord,
    VerificationEvent,
    VerificationResult,
)
from aim_identity.security import baselines, policies, response
from aim_identity.security.threats import OPEN, raise_threat, suppressed
from aim_identity.unit_of_work import Work

# A new baseline learns from the agent's decisions of this long before its first judged action.
LEARNED_FROM = timedelta(days=1)


class Judge:
    """Judges one organization's events in order, in one transaction; baselines stay in memory until
    `save`."""

    def __init__(self, work: Work, organization_id: uuid.UUID) -> None:
        self.work = work
        self.organization_id = organization_id
        self._baselines: dict[uuid.UUID, dict[str, Any]] = {}
        self._policies: dict[ThreatType, policies.Policy] = {}

    async def judge(self, event: OutboxEvent) -> None:
        rule = _RULES.get(event.kind)
        if rule is not None:
            await rule(self, event.payload, event.created_at)

    async def save(self) -> None:
        for agent_id, state in self._baselines.items():
            await AgentBaseline.update_or_create(agent_id=agent_id, defaults={"state": state})

    async def policy(self, type: ThreatType) -> policies.Policy:
        if type not in self._policies:
            self._policies[type] = await policies.effective(self.organization_id, type)
        return self._policies[type]

    async def verification_failed(self, payload: dict[str, Any], at: datetime) -> None:
        policy = await self.policy(ThreatType.VERIFICATION_FAILURES)
        if not policy.enabled:
            return
        agent_id = ids.decode(payload["agentId"], "Agent")
        since = at - timedelta(seconds=policy.window_seconds)
        failed = VerificationEvent.filter(
            organization_id=self.organization_id,
            result=VerificationResult.FAILED,
            created_at__gt=since,
            created_at__lte=at,
        )
        rows = await failed.filter(agent_id=agent_id).values_list("ip_address", "failure_reason", "proven")
        severity = Severity.HIGH if len(rows) >= 3 * policy.threshold else Severity.MEDIUM
        if len(rows) >= policy.threshold:
            await raise_threat(
                self.work,
                self.organization_id,
                ThreatType.VERIFICATION_FAILURES,
                severity,
                "Repeated failed verifications",
                f"{len(rows)} failed challenge answers for this agent within {policy.window_seconds} s",
                agent_id=agent_id,
                evidence={
                    "failures": len(rows),
                    "forged": sum(1 for _, _, proven in rows if not proven),
                    "ipAddresses": sorted({ip for ip, _, _ in rows if ip}),
                    "reasons": sorted({reason.value for _, reason, _ in rows if reason}),
                    "ipAddress": payload.get("ipAddress"),
                },
                at=at,
                policy=policy,
            )
        address = payload.get("ipAddress")
        if address:
            targets = await failed.filter(ip_address=address).values_list("agent_id", flat=True)
            await self._from_one_address(policy, address, targets, "challenge answers", "agents", 3, at)

    async def trust_changed(self, payload: dict[str, Any], at: datetime) -> None:
        policy = await self.policy(ThreatType.TRUST_SCORE_DROP)
        current, previous = float(payload["current"]), float(payload["previous"])
        if not policy.enabled or current >= previous:
            return
        agent_id = ids.decode(payload["agentId"], "Agent")
        since = at - timedelta(seconds=policy.window_seconds)
        explained = Threat.filter(agent_id=agent_id, status__in=OPEN, last_seen_at__gt=since).exclude(
            type=ThreatType.TRUST_SCORE_DROP
        )
        if await explained.exists():
            return  # the drop is that threat's consequence, and that threat has alerted already
        if not await Agent.filter(id=agent_id, deleted_at=None, status__in=response.SUSPENDABLE).exists():
            return  # an agent taken out of service has no trust left to drift
        history = await TrustScoreRecord.filter(agent_id=agent_id, at__gt=since, at__lte=at).values_list(
            "score", flat=True
        )
        peak = max([previous, *(float(s) for s in history)])  # type: ignore[arg-type]
        drop = round(peak - current, 4)
        if drop >= policy.threshold:
            await raise_threat(
                self.work,
                self.organization_id,
                ThreatType.TRUST_SCORE_DROP,
                Severity.HIGH if drop >= 2 * policy.threshold else Severity.MEDIUM,
                "Trust score dropped",
                f"The trust score fell by {drop:.2f} to {current:.2f} within {policy.window_seconds} s",
                agent_id=agent_id,
                evidence={"peak": peak, "current": current, "drop": drop, "reason": payload.get("reason")},
                measured=drop,
                at=at,
                policy=policy,
            )

    async def action_decided(self, payload: dict[str, Any], at: datetime) -> None:
        if not payload.get("proven"):
            return  # a stranger's forgery is not the agent's behaviour
        policy = await self.policy(ThreatType.ANOMALOUS_ACTIVITY)
        if not policy.enabled:
            return
        agent_id = ids.decode(payload["agentId"], "Agent")
        decision_id = ids.decode(payload["decisionId"], "ActionDecision")
        state = await self._baseline(agent_id, policy.window_seconds, at, decision_id)
        for deviation in baselines.observe(state, at.timestamp(), payload["capability"], policy.threshold):
            await self._anomalous(agent_id, deviation, policy, at)

    async def _anomalous(
        self, agent_id: uuid.UUID, deviation: baselines.Deviation, policy: policies.Policy, at: datetime
    ) -> None:
        type = ThreatType.ANOMALOUS_ACTIVITY
        if await suppressed(self.organization_id, type, f"agent:{agent_id}", deviation.metric, deviation.observed):
            return
        anomaly = await Anomaly.create(
            organization_id=self.organization_id,
            agent_id=agent_id,
            metric=deviation.metric,
            observed=deviation.observed,
            expected=deviation.expected,
            score=deviation.score,
            detected_at=at,
        )
        severity = Severity.HIGH if deviation.score >= 2 * policy.threshold else Severity.MEDIUM
        anomaly_gid, agent_gid = ids.encode("Anomaly", anomaly.id), ids.encode("Agent", agent_id)
        org = self.organization_id
        self.work.audit("anomaly.detected", "Anomaly", anomaly_gid, org, metric=deviation.metric, score=deviation.score)
        self.work.emit("anomaly.detected", org, anomalyId=anomaly_gid, agentId=agent_gid, severity=severity.value)
        await raise_threat(
            self.work,
            self.organization_id,
            type,
            severity,
            "Anomalous activity",
            f"{deviation.observed:g} actions ({deviation.metric}) in {policy.window_seconds} s against a baseline of "
            f"{deviation.expected:g} (z = {deviation.score:g})",
            agent_id=agent_id,
            evidence={
                "anomalyId": anomaly_gid,
                "metric": deviation.metric,
                "observed": deviation.observed,
                "expected": deviation.expected,
                "score": deviation.score,
            },
            key=deviation.metric,
            measured=deviation.observed,
            at=at,
            policy=policy,
        )

    async def _baseline(self, agent_id: uuid.UUID, size: int, at: datetime, decision_id: uuid.UUID) -> dict[str, Any]:
        state = self._baselines.get(agent_id)
        if state is None:
            row = await AgentBaseline.get_or_none(agent_id=agent_id)
            if row is not None and row.state.get("size") == size:
                state = row.state
            else:
                state = await _learned(agent_id, size, at, decision_id)
            self._baselines[agent_id] = state
        return state

    async def login_failed(self, payload: dict[str, Any], at: datetime) -> None:
        policy = await self.policy(ThreatType.BRUTE_FORCE)
        if not policy.enabled:
            return
        email, address = payload["email"], payload.get("ipAddress")
        since = at - timedelta(seconds=policy.window_seconds)
        failed = AuthFailure.filter(kind=login_guard.LOGIN, at__gt=since, at__lte=at)
        addresses = await failed.filter(subject=email).values_list("ip_address", flat=True)
        if len(addresses) >= policy.threshold:
            await raise_threat(
                self.work,
                self.organization_id,
                ThreatType.BRUTE_FORCE,
                Severity.HIGH if len(addresses) >= 4 * policy.threshold else Severity.MEDIUM,
                "Repeated failed logins",
                f"{len(addresses)} failed logins for {email} within {policy.window_seconds} s",
                subject=f"account:{email}",
                evidence={
                    "email": email,
                    "userId": payload.get("userId"),
                    "failures": len(addresses),
                    "ipAddress": address,
                    "ipAddresses": sorted({a for a in addresses if a}),
                },
                at=at,
                policy=policy,
            )
        if address:
            accounts = await failed.filter(ip_address=address).values_list("subject", flat=True)
            await self._from_one_address(policy, address, accounts, "logins", "accounts", 4, at)

    async def _from_one_address(
        self, policy: policies.Policy, address: str, targets: list, failures: str, whom: str, high: int, at: datetime
    ) -> None:
        """One address failing against several subjects (`targets`, one per failure) is a threat against
        the address; HIGH from `high` times the threshold."""
        if len(targets) < policy.threshold or len(set(targets)) < 2:
            return
        await raise_threat(
            self.work,
            self.organization_id,
            policy.threat_type,
            Severity.HIGH if len(targets) >= high * policy.threshold else Severity.MEDIUM,
            f"Failed {failures} from one address",
            f"{len(targets)} failed {failures} for {len(set(targets))} {whom} from {address}",
            subject=f"ip:{address}",
            evidence={"failures": len(targets), whom: len(set(targets)), "ipAddress": address},
            at=at,
            policy=policy,
        )


async def _learned(agent_id: uuid.UUID, size: int, at: datetime, judged: uuid.UUID) -> dict[str, Any]:
    """A baseline learned from the agent's signed decisions before the one being judged."""
    state = baselines.empty(size)
    history = (
        await ActionDecision.filter(
            agent_id=agent_id, proven=True, created_at__gte=at - LEARNED_FROM, created_at__lte=at
        )
        .exclude(id=judged)
        .order_by("created_at")
        .values_list("created_at", "capability")
    )
    for created_at, capability in history:
        baselines.observe(state, created_at.timestamp(), capability, threshold=float("inf"))
    return state


_RULES: dict[str, Callable[[Judge, dict[str, Any], datetime], Awaitable[None]]] = {
    "agent.verification_failed": Judge.verification_failed,
    "agent.trust_changed": Judge.trust_changed,
    "agent.action_decided": Judge.action_decided,
    "auth.login_failed": Judge.login_failed,
}
