"""An MCP server's trust score: three factors, each computed from what AIM has recorded of the server
and explained in words. `compute` is a pure function of `Evidence`; `rescore` gathers the evidence,
stores the result on the server and publishes a visible change.

    score = 0.5 * verification + 0.3 * uptime + 0.2 * securityAlerts

- verification: the share of the server's last 20 answers signed by its key that verified; 0 while it
  has no key, has never answered, or is suspended or revoked;
- uptime: the health checks of the last 7 days that found it up, HEALTHY counting 1 and DEGRADED ½,
  over all of them; 0 before the first check (so a stdio server, which AIM cannot reach, never has it);
- securityAlerts: 1 less the unresolved threats against it in the last 30 days (critical 1, high ½,
  medium ¼, low 0.1), at least 0.
`confidence` is how much evidence stands behind each factor, weighted the same way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aim_identity import db, ids
from aim_identity.identity import trust
from aim_identity.identity.trust import THREAT_PENALTY, VERIFICATION_WINDOW
from aim_identity.models import HealthStatus, MCPServer, MCPServerStatus, Severity, ThreatStatus
from aim_identity.unit_of_work import Work

WEIGHTS = {"verification": 0.5, "uptime": 0.3, "securityAlerts": 0.2}
UPTIME_WINDOW = timedelta(days=7)
THREAT_WINDOW = timedelta(days=30)
CHECKS_FOR_FULL_EVIDENCE = 60  # an hour of checks at the default interval
# Uptime moves a little with every health check; only a change this large is published.
VISIBLE_CHANGE = 0.01


@dataclass(frozen=True)
class Evidence:
    status: MCPServerStatus
    has_key: bool
    answers: Sequence[bool]  # its recent proven challenge answers, newest first
    checks: Sequence[HealthStatus]  # its health checks in the uptime window
    open_threats: Sequence[Severity]


@dataclass(frozen=True)
class Factor(trust.Factor):
    """An agent's factor, weighted by the server's own weights."""

    @property
    def weight(self) -> float:
        return WEIGHTS[self.name]


def compute(e: Evidence) -> trust.TrustResult:
    factors = (verification(e), uptime(e), security_alerts(e))
    return trust.TrustResult(
        score=sum(f.contribution for f in factors),
        confidence=sum(f.weight * f.evidence for f in factors),
        factors=factors,
    )


def verification(e: Evidence) -> Factor:
    recent = list(e.answers)[:VERIFICATION_WINDOW]
    evidence = min(1.0, len(recent) / 5)
    if e.status in (MCPServerStatus.SUSPENDED, MCPServerStatus.REVOKED):
        return Factor("verification", 0.0, evidence, f"server is {e.status.value.lower()}")
    if not e.has_key:
        return Factor("verification", 0.0, 0.0, "no public key registered, so it cannot prove itself")
    if not recent:
        return Factor("verification", 0.0, 0.0, "never answered a challenge")
    passed = sum(recent)
    return Factor(
        "verification", passed / len(recent), evidence, f"{passed} of the last {len(recent)} challenge answers verified"
    )


def uptime(e: Evidence) -> Factor:
    if not e.checks:
        return Factor("uptime", 0.0, 0.0, "not health-checked yet")
    counts = Counter(e.checks)
    up = counts[HealthStatus.HEALTHY] + 0.5 * counts[HealthStatus.DEGRADED]
    return Factor(
        "uptime",
        up / len(e.checks),
        min(1.0, len(e.checks) / CHECKS_FOR_FULL_EVIDENCE),
        f"{counts[HealthStatus.HEALTHY]} healthy, {counts[HealthStatus.DEGRADED]} degraded and "
        f"{counts[HealthStatus.DOWN]} down of {len(e.checks)} health check(s) in 7 days",
    )


def security_alerts(e: Evidence) -> Factor:
    if not e.open_threats:
        return Factor("securityAlerts", 1.0, 1.0, "no open threats in the last 30 days")
    penalty = sum(THREAT_PENALTY[s] for s in e.open_threats)
    listed = ", ".join(f"{n} {severity}" for severity, n in Counter(s.value.lower() for s in e.open_threats).items())
    return Factor(
        "securityAlerts",
        max(0.0, 1.0 - penalty),
        1.0,
        f"{len(e.open_threats)} open threat(s) in the last 30 days ({listed})",
    )


_EVIDENCE = """
SELECT 'answer' AS kind, result AS label, created_at AS at FROM (
  SELECT result, created_at FROM mcp_verification_events WHERE mcp_server_id = $1 AND proven
  ORDER BY created_at DESC LIMIT $2) answers
UNION ALL
SELECT 'check', status, NULL FROM mcp_health_checks WHERE mcp_server_id = $1 AND checked_at >= $3
UNION ALL
SELECT 'threat', severity, NULL FROM threats
WHERE mcp_server_id = $1 AND detected_at >= $4 AND status IN ($5, $6)"""


async def gather(server: MCPServer, now: datetime) -> Evidence:
    rows = await db.fetch(
        _EVIDENCE,
        server.id,
        VERIFICATION_WINDOW,
        now - UPTIME_WINDOW,
        now - THREAT_WINDOW,
        ThreatStatus.OPEN.value,
        ThreatStatus.ACKNOWLEDGED.value,
    )
    answers = sorted((r for r in rows if r["kind"] == "answer"), key=lambda r: r["at"], reverse=True)
    return Evidence(
        status=server.status,
        has_key=server.public_key is not None,
        answers=[r["label"] == "VERIFIED" for r in answers],
        checks=[HealthStatus(r["label"]) for r in rows if r["kind"] == "check"],
        open_threats=[Severity(r["label"]) for r in rows if r["kind"] == "threat"],
    )


async def rescore(work: Work, server: MCPServer, reason: str) -> tuple[float, float]:
    """Recomputes and stores the server's score, inside the caller's transaction; returns it before and
    after. A visible change is published as `mcp_server.trust_changed`."""
    before, now = server.trust_score, datetime.now(UTC)
    result = compute(await gather(server, now))
    server.trust_score, server.trust_computed_at = result.score, now
    server.trust_factors = [f.as_dict() for f in result.factors]
    await MCPServer.filter(id=server.id).update(
        trust_score=server.trust_score, trust_factors=server.trust_factors, trust_computed_at=now
    )
    if abs(result.score - before) >= VISIBLE_CHANGE:
        work.emit(
            "mcp_server.trust_changed",
            organization_id=server.organization_id,
            mcpServerId=ids.encode("MCPServer", server.id),
            previous=before,
            current=result.score,
            reason=reason,
        )
    return before, result.score
