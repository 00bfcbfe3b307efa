"""Each rule's settings and what the organization does about its threats.

A policy names, for one threat type, whether its rule runs, the rule's threshold and window, and the
response to threats at or above a minimum severity: ALERT publishes them (securityEvents, webhooks);
ALERT_AND_SUSPEND also suspends the agent involved. Threats below the minimum are still recorded and
audited, but raise no alert. An organization without a row for a type runs on DEFAULTS."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from aim_identity.actors import Actor
from aim_identity.errors import BadUserInput
from aim_identity.models import ResponseAction, SecurityPolicy, Severity, ThreatType
from aim_identity.unit_of_work import atomic


@dataclass(frozen=True)
class Policy:
    threat_type: ThreatType
    min_severity: Severity
    action: ResponseAction
    enabled: bool
    threshold: float
    window_seconds: int
    rule: str  # what the threshold and window mean, for people

    def responds(self, severity: Severity) -> bool:
        return self.enabled and severity >= self.min_severity

    def suspends(self, severity: Severity) -> bool:
        return self.responds(severity) and self.action == ResponseAction.ALERT_AND_SUSPEND


_ALERT, _SUSPEND = ResponseAction.ALERT, ResponseAction.ALERT_AND_SUSPEND
DEFAULTS: dict[ThreatType, Policy] = {
    p.threat_type: p
    for p in (
        # Strangers can send forged answers for any agent: suspending on them would hand anyone a way
        # to take an agent offline, so the default only alerts.
        Policy(
            ThreatType.VERIFICATION_FAILURES,
            Severity.LOW,
            _ALERT,
            True,
            3,
            600,
            "failed or forged challenge answers for one agent (or from one address, across agents) within the window",
        ),
        Policy(
            ThreatType.TRUST_SCORE_DROP,
            Severity.LOW,
            _ALERT,
            True,
            0.15,
            86400,
            "fall of the trust score from its highest point within the window",
        ),
        Policy(
            ThreatType.CAPABILITY_VIOLATION,
            Severity.LOW,
            _ALERT,
            True,
            1,
            3600,
            "signed requests for a capability outside the agent's grants within the window",
        ),
        Policy(
            ThreatType.ANOMALOUS_ACTIVITY,
            Severity.LOW,
            _ALERT,
            True,
            4.0,
            60,
            "z-score of the agent's actions in the last window (overall and per capability) against its own "
            "exponentially weighted baseline",
        ),
        Policy(
            ThreatType.CONFIGURATION_DRIFT,
            Severity.LOW,
            _ALERT,
            True,
            1,
            86400,
            "MCP servers or tools the agent never declared (one is proof: the threshold stays 1); repeats "
            "within the window join one threat",
        ),
        # An honest client never sends a signed message twice, nor signs with a key it rotated away: a
        # replay means its traffic is in other hands, a retired key that its key is.
        Policy(
            ThreatType.CREDENTIAL_MISUSE,
            Severity.HIGH,
            _SUSPEND,
            True,
            1,
            86400,
            "replayed challenges or nonces, retired keys, reused refresh tokens (one is proof: the threshold "
            "stays 1); repeats within the window join one threat",
        ),
        Policy(
            ThreatType.BRUTE_FORCE,
            Severity.LOW,
            _ALERT,
            True,
            5,
            900,
            "failed logins for one account (or from one address, across accounts) within the window",
        ),
    )
}


# Rules that one event proves: their threshold is always 1.
PROVEN_BY_ONE = frozenset({ThreatType.CONFIGURATION_DRIFT, ThreatType.CREDENTIAL_MISUSE})


async def effective(organization_id: uuid.UUID, threat_type: ThreatType) -> Policy:
    row = await SecurityPolicy.get_or_none(organization_id=organization_id, threat_type=threat_type)
    return _applied(DEFAULTS[threat_type], row)


async def all_of(organization_id: uuid.UUID) -> list[Policy]:
    rows = {r.threat_type: r for r in await SecurityPolicy.filter(organization_id=organization_id)}
    return [_applied(default, rows.get(t)) for t, default in DEFAULTS.items()]


async def update(
    actor: Actor,
    threat_type: ThreatType,
    min_severity: Severity,
    action: ResponseAction,
    enabled: bool,
    threshold: float | None,
    window_seconds: int | None,
) -> Policy:
    organization_id = actor.organization_id
    assert organization_id is not None
    if threshold is not None and not threshold > 0:
        raise BadUserInput("threshold must be above 0", field="threshold")
    if threshold not in (None, 1) and threat_type in PROVEN_BY_ONE:
        raise BadUserInput(f"One {threat_type.value} event is proof: its threshold is 1", field="threshold")
    if window_seconds is not None and not 1 <= window_seconds <= 30 * 86400:
        raise BadUserInput("windowSeconds must be between 1 and 30 days", field="windowSeconds")
    async with atomic(actor) as work:
        current = await effective(organization_id, threat_type)
        policy = replace(
            current,
            min_severity=min_severity,
            action=action,
            enabled=enabled,
            threshold=current.threshold if threshold is None else threshold,
            window_seconds=current.window_seconds if window_seconds is None else window_seconds,
        )
        await SecurityPolicy.update_or_create(
            organization_id=organization_id,
            threat_type=threat_type,
            defaults={
                "min_severity": policy.min_severity,
                "action": policy.action,
                "enabled": policy.enabled,
                "threshold": policy.threshold,
                "window_seconds": policy.window_seconds,
            },
        )
        work.audit(
            "security_policy.update",
            "SecurityPolicy",
            threat_type.value,
            minSeverity=policy.min_severity.value,
            response=policy.action.value,
            enabled=policy.enabled,
            threshold=policy.threshold,
            windowSeconds=policy.window_seconds,
        )
    return policy


def _applied(default: Policy, row: SecurityPolicy | None) -> Policy:
    if row is None:
        return default
    return replace(
        default,
        min_severity=row.min_severity,
        action=row.action,
        enabled=row.enabled,
        threshold=row.threshold,
        window_seconds=row.window_seconds,
    )
