"""securityMetrics against a hand-counted organization."""

from __future__ import annotations

from nacl.signing import SigningKey

from tests.security.test_threats import ACKNOWLEDGE, RESOLVE, listed, violate
from tests.support import Org, create_agent, verify

METRICS = """{ securityMetrics { openThreats threatsBySeverity { key count } agentsByStatus { key count }
  verificationSuccessRate averageTrustScore } }"""
SCORES = "{ agents { edges { node { trustScore { score } } } } }"
SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""


async def test_the_metrics_count_what_the_organization_holds(org: Org, other_org: Org, anonymous):
    empty = (await org.admin.api(METRICS))["securityMetrics"]
    assert empty == {
        "openThreats": 0,
        "threatsBySeverity": [{"key": s, "count": 0} for s in ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")],
        "agentsByStatus": [{"key": s, "count": 0} for s in ("PENDING", "VERIFIED", "SUSPENDED", "REVOKED")],
        "verificationSuccessRate": 0.0,
        "averageTrustScore": 0.0,
    }
    verified, suspended, pending = [await create_agent(org.admin.api, capabilities=["db:read"]) for _ in range(3)]
    await verify(anonymous, verified)
    await verify(anonymous, verified)
    await verify(anonymous, pending, signer=SigningKey.generate())  # 2 of 3 answers verified
    await org.admin.api(SUSPEND, i={"id": suspended.id, "reason": "test"})
    await violate(anonymous, verified, "db:write")  # MEDIUM
    await violate(anonymous, pending, "db:users:delete")  # HIGH
    await violate(anonymous, suspended, "db:write")  # a suspended agent is refused, not a violation
    high = next(t for t in await listed(org.admin.api) if t["severity"] == "HIGH")
    await org.admin.api(ACKNOWLEDGE, i={"id": high["id"]})  # acknowledged is still open
    dropped = await create_agent(org.admin.api, capabilities=["db:read"])
    await violate(anonymous, dropped, "db:write")
    await org.admin.api(RESOLVE, i={"id": (await listed(org.admin.api, agentId=dropped.id))[0]["id"]})
    # Another organization's threats and agents count only there.
    await violate(anonymous, await create_agent(other_org.admin.api, capabilities=["db:read"]), "db:drop")

    metrics = (await org.admin.api(METRICS))["securityMetrics"]
    scores = [e["node"]["trustScore"]["score"] for e in (await org.admin.api(SCORES))["agents"]["edges"]]
    assert metrics == {
        "openThreats": 2,
        "threatsBySeverity": [
            {"key": "INFO", "count": 0},
            {"key": "LOW", "count": 0},
            {"key": "MEDIUM", "count": 1},
            {"key": "HIGH", "count": 1},
            {"key": "CRITICAL", "count": 0},
        ],
        "agentsByStatus": [
            {"key": "PENDING", "count": 2},
            {"key": "VERIFIED", "count": 1},
            {"key": "SUSPENDED", "count": 1},
            {"key": "REVOKED", "count": 0},
        ],
        "verificationSuccessRate": 2 / 3,
        "averageTrustScore": round(sum(scores) / 4, 4),
    }
