"""The trust score: eight factors with the seed's weights, each computed from recorded evidence and
explained in words. A pure function of `Evidence`, so every rule is testable without a database.

Missing data is not faked: a factor with no evidence takes a neutral prior (or zero, where absence
is itself the signal), and `confidence` says how much evidence stands behind the score."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aim_identity.models import AgentStatus, Severity

WEIGHTS = {
    "verification": 0.25,
    "uptime": 0.15,
    "successRate": 0.15,
    "securityAlerts": 0.15,
    "compliance": 0.10,
    "age": 0.10,
    "drift": 0.05,
    "feedback": 0.05,
}

VERIFICATION_WINDOW = 20  # recent challenge answers that count
UPTIME_WINDOW_DAYS = 7
MATURE_AGE_DAYS = 90
THREAT_PENALTY = {
    Severity.CRITICAL: 1.0,
    Severity.HIGH: 0.5,
    Severity.MEDIUM: 0.25,
    Severity.LOW: 0.1,
    Severity.INFO: 0.0,
}


@dataclass(frozen=True)
class Evidence:
    now: datetime
    status: AgentStatus
    created_at: datetime
    key_created_at: datetime
    key_rotation_days: int
    verifications: Sequence[bool]  # recent challenge answers, newest first
    active_days: int  # days in the uptime window with a successful verification or action
    actions_succeeded: int  # results the agent reported, last 30 days
    actions_failed: int
    actions_allowed: int  # authorization decisions, last 30 days
    actions_denied: int
    open_threats: Sequence[Severity]  # unresolved threats against the agent, last 30 days
    grants: Sequence[str]
    mcp_declared: int
    mcp_undeclared: int
    ratings: Sequence[int]  # 1..5


@dataclass(frozen=True)
class Factor:
    name: str
    value: float  # 0..1
    evidence: float  # 0..1, how much data stands behind the value
    explanation: str

    @property
    def weight(self) -> float:
        return WEIGHTS[self.name]

    @property
    def contribution(self) -> float:
        return self.weight * self.value

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "weight": self.weight,
            "value": self.value,
            "contribution": self.contribution,
            "evidence": self.evidence,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class TrustResult:
    score: float
    confidence: float
    factors: tuple[Factor, ...]


def compute(e: Evidence) -> TrustResult:
    factors = (
        verification(e),
        uptime(e),
        success_rate(e),
        security_alerts(e),
        compliance(e),
        age(e),
        drift(e),
        feedback(e),
    )
    return TrustResult(
        score=sum(f.contribution for f in factors),
        confidence=sum(f.weight * f.evidence for f in factors),
        factors=factors,
    )


def _age_days(e: Evidence, since: datetime) -> float:
    return max(0.0, (e.now - since).total_seconds() / 86400)


def verification(e: Evidence) -> Factor:
    recent = list(e.verifications)[:VERIFICATION_WINDOW]
    evidence = min(1.0, len(recent) / 5)
    if e.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
        return Factor("verification", 0.0, evidence, f"agent is {e.status.value.lower()}")
    if not recent:
        return Factor("verification", 0.0, 0.0, "never answered a challenge")
    passed = sum(recent)
    return Factor(
        "verification", passed / len(recent), evidence, f"{passed} of the last {len(recent)} challenge answers verified"
    )


def uptime(e: Evidence) -> Factor:
    window = max(1, min(UPTIME_WINDOW_DAYS, int(_age_days(e, e.created_at)) + 1))
    active = min(e.active_days, window)
    return Factor(
        "uptime", active / window, window / UPTIME_WINDOW_DAYS, f"active on {active} of the last {window} day(s)"
    )


def success_rate(e: Evidence) -> Factor:
    n = e.actions_succeeded + e.actions_failed
    # Laplace's rule of succession: no reports means an even prior, not a perfect record.
    value = (e.actions_succeeded + 1) / (n + 2)
    text = (
        f"{e.actions_succeeded} of {n} reported actions succeeded in 30 days" if n else "no action results reported yet"
    )
    return Factor("successRate", value, min(1.0, n / 20), text)


def security_alerts(e: Evidence) -> Factor:
    penalty = sum(THREAT_PENALTY[s] for s in e.open_threats)
    watched = min(1.0, _age_days(e, e.created_at) / 30)
    if not e.open_threats:
        return Factor("securityAlerts", 1.0, watched, "no open threats in the last 30 days")
    counts = Counter(s.value.lower() for s in e.open_threats)
    listed = ", ".join(f"{n} {sev}" for sev, n in counts.items())
    return Factor(
        "securityAlerts",
        max(0.0, 1.0 - penalty),
        max(watched, 0.5),
        f"{len(e.open_threats)} open threat(s) in the last 30 days ({listed})",
    )


def compliance(e: Evidence) -> Factor:
    key_age = _age_days(e, e.key_created_at)
    policy = e.key_rotation_days
    # Fresh until the rotation policy's age, then decaying to zero at twice that age.
    key_value = 1.0 if key_age <= policy else max(0.0, 1.0 - (key_age - policy) / policy)
    wildcards = [g for g in e.grants if g.endswith("*")]
    privilege_value = 0.5 if "*" in wildcards else max(0.5, 1.0 - 0.1 * len(wildcards))
    decided = e.actions_allowed + e.actions_denied
    within_grants = 1.0 - e.actions_denied / decided if decided else 1.0
    parts = [
        f"key is {key_age:.0f} day(s) old (rotation policy {policy} days)",
        f"{len(wildcards)} wildcard grant(s)" if wildcards else "no wildcard grants",
    ]
    if decided:
        parts.append(f"{e.actions_denied} of {decided} requested actions were outside its grants")
    return Factor("compliance", key_value * privilege_value * within_grants, 1.0, "; ".join(parts))


def age(e: Evidence) -> Factor:
    days = _age_days(e, e.created_at)
    return Factor(
        "age",
        min(1.0, days / MATURE_AGE_DAYS),
        1.0,
        f"registered {days:.1f} day(s) ago ({MATURE_AGE_DAYS} days counts as established)",
    )


def drift(e: Evidence) -> Factor:
    total = e.mcp_declared + e.mcp_undeclared
    if not total:
        return Factor("drift", 1.0, 0.0, "no MCP server connections observed")
    return Factor(
        "drift",
        e.mcp_declared / total,
        1.0,
        f"{e.mcp_undeclared} of {total} MCP server(s) it talks to were never declared",
    )


def feedback(e: Evidence) -> Factor:
    n = len(e.ratings)
    # Two neutral (3-star) pseudo-ratings keep a single review from swinging the factor to an extreme.
    mean = (sum(e.ratings) + 3 * 2) / (n + 2)
    text = f"average rating {sum(e.ratings) / n:.1f}/5 from {n} review(s)" if n else "no user feedback yet"
    return Factor("feedback", (mean - 1) / 4, min(1.0, n / 5), text)
