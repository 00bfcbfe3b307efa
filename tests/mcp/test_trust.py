"""An MCP server's trust score, from its evidence alone (mcp/trust.py): no factor holds a fixed value."""

from __future__ import annotations

import pytest

from aim_identity.mcp.trust import WEIGHTS, Evidence, compute
from aim_identity.models import HealthStatus, MCPServerStatus, Severity

H, D, X = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.DOWN


def evidence(**changes) -> Evidence:
    base = {"status": MCPServerStatus.VERIFIED, "has_key": True, "answers": [], "checks": [], "open_threats": []}
    return Evidence(**(base | changes))


def factor(e: Evidence, name: str):
    return next(f for f in compute(e).factors if f.name == name)


def test_the_contributions_add_up_to_the_score_and_the_weights_to_one():
    trust = compute(evidence(answers=[True, False, True], checks=[H, H, D, X], open_threats=[Severity.LOW]))
    assert sum(f.contribution for f in trust.factors) == pytest.approx(trust.score)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert [f.name for f in trust.factors] == list(WEIGHTS)


def test_verification_is_the_share_of_recent_answers_that_verified():
    assert factor(evidence(answers=[True, True, False, True]), "verification").value == 0.75
    # Only the last 20 count.
    assert factor(evidence(answers=[True] * 20 + [False] * 30), "verification").value == 1.0
    assert factor(evidence(), "verification").explanation == "never answered a challenge"
    assert factor(evidence(has_key=False, answers=[True]), "verification").value == 0.0
    suspended = factor(evidence(status=MCPServerStatus.SUSPENDED, answers=[True] * 5), "verification")
    assert (suspended.value, suspended.explanation) == (0.0, "server is suspended")


def test_uptime_counts_degraded_checks_as_half():
    up = factor(evidence(checks=[H, H, D, X]), "uptime")
    assert up.value == pytest.approx(2.5 / 4)
    assert up.explanation == "2 healthy, 1 degraded and 1 down of 4 health check(s) in 7 days"
    assert factor(evidence(), "uptime").value == 0.0
    assert factor(evidence(checks=[H] * 30), "uptime").evidence == pytest.approx(0.5)


def test_open_threats_lower_security_alerts_by_their_severity():
    assert factor(evidence(), "securityAlerts").value == 1.0
    alerts = factor(evidence(open_threats=[Severity.HIGH, Severity.MEDIUM]), "securityAlerts")
    assert alerts.value == pytest.approx(0.25)
    assert alerts.explanation == "2 open threat(s) in the last 30 days (1 high, 1 medium)"
    assert factor(evidence(open_threats=[Severity.CRITICAL] * 2), "securityAlerts").value == 0.0


def test_more_evidence_of_good_behaviour_means_a_higher_score():
    new = compute(evidence(has_key=True))
    proven = compute(evidence(answers=[True] * 5, checks=[H] * 10))
    assert new.score < proven.score and new.confidence < proven.confidence
