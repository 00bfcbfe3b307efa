"""Security policies: every rule listed with its documented defaults, changed by an admin only, with
bad values refused and nothing changed, and a threat below the minimum severity kept but not alerted."""

from __future__ import annotations

from aim_identity import ids
from aim_identity.models import AuditLogEntry, OutboxEvent, ThreatType
from aim_identity.security.policies import DEFAULTS
from tests.security.test_threats import listed, violate
from tests.support import Org, create_agent

POLICIES = "{ securityPolicies { threatType minSeverity action enabled threshold windowSeconds rule } }"
UPDATE = """mutation($i: UpdateSecurityPolicyInput!) {
  updateSecurityPolicy(input: $i) { threatType minSeverity action enabled threshold windowSeconds } }"""


async def test_every_threat_type_has_a_policy_with_its_documented_defaults(org: Org):
    viewer = await org.member("VIEWER")
    policies = {p["threatType"]: p for p in (await viewer.api(POLICIES))["securityPolicies"]}
    assert set(policies) == {t.value for t in ThreatType}
    assert policies["VERIFICATION_FAILURES"] | {"rule": ""} == {
        "threatType": "VERIFICATION_FAILURES",
        "minSeverity": "LOW",
        "action": "ALERT",
        "enabled": True,
        "threshold": 3.0,
        "windowSeconds": 600,
        "rule": "",
    }
    assert policies["CREDENTIAL_MISUSE"]["action"] == "ALERT_AND_SUSPEND"
    assert policies["TRUST_SCORE_DROP"]["threshold"] == 0.15 and policies["TRUST_SCORE_DROP"]["windowSeconds"] == 86400
    assert all(p["rule"] for p in policies.values())


async def test_an_admin_changes_a_policy_for_the_organization_only_and_it_is_audited(org: Org, other_org: Org):
    change = {"threatType": "BRUTE_FORCE", "minSeverity": "HIGH", "action": "ALERT", "enabled": True, "threshold": 8}
    manager = await org.member("MANAGER")
    assert await manager.api.error(UPDATE, i=change) == "FORBIDDEN"
    updated = (await org.admin.api(UPDATE, i=change))["updateSecurityPolicy"]
    assert updated == {
        "threatType": "BRUTE_FORCE",
        "minSeverity": "HIGH",
        "action": "ALERT",
        "enabled": True,
        "threshold": 8.0,
        "windowSeconds": DEFAULTS[ThreatType.BRUTE_FORCE].window_seconds,  # left out: unchanged
    }
    mine = {p["threatType"]: p for p in (await org.admin.api(POLICIES))["securityPolicies"]}
    theirs = {p["threatType"]: p for p in (await other_org.admin.api(POLICIES))["securityPolicies"]}
    assert mine["BRUTE_FORCE"]["threshold"] == 8 and theirs["BRUTE_FORCE"]["threshold"] == 5
    entry = await AuditLogEntry.get(organization_id=ids.decode(org.id, "Organization"), action="security_policy.update")
    assert entry.metadata["threshold"] == 8 and entry.target_id == "BRUTE_FORCE"


async def test_bad_values_are_refused_and_change_nothing(org: Org):
    base = {"threatType": "BRUTE_FORCE", "minSeverity": "HIGH", "action": "ALERT", "enabled": False}
    assert await org.admin.api.error(UPDATE, i=base | {"threshold": 0}) == "BAD_USER_INPUT"
    assert await org.admin.api.error(UPDATE, i=base | {"windowSeconds": 0}) == "BAD_USER_INPUT"
    policies = {p["threatType"]: p for p in (await org.admin.api(POLICIES))["securityPolicies"]}
    assert policies["BRUTE_FORCE"]["enabled"] and policies["BRUTE_FORCE"]["minSeverity"] == "LOW"


async def test_a_threat_below_the_minimum_severity_is_kept_but_not_alerted(org: Org, anonymous):
    await org.admin.api(
        UPDATE, i={"threatType": "CAPABILITY_VIOLATION", "minSeverity": "HIGH", "action": "ALERT", "enabled": True}
    )
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    assert (await violate(anonymous, agent, "db:write"))["threat"]["severity"] == "MEDIUM"
    (threat,) = await listed(org.admin.api)
    threat_events = OutboxEvent.filter(organization_id=ids.decode(org.id, "Organization"), kind__startswith="threat.")
    assert await threat_events.order_by("id").values_list("kind", flat=True) == ["threat.recorded"]
    await violate(anonymous, agent, "db:drop")  # HIGH: joins the threat, now alerted
    assert await threat_events.order_by("id").values_list("kind", flat=True) == ["threat.recorded", "threat.updated"]
    assert (await listed(org.admin.api))[0]["id"] == threat["id"]


async def test_a_capability_violation_threshold_counts_the_agents_violations_in_the_window(org: Org, anonymous):
    await org.admin.api(
        UPDATE,
        i={"threatType": "CAPABILITY_VIOLATION", "minSeverity": "LOW", "action": "ALERT", "enabled": True}
        | {"threshold": 3},
    )
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    decisions = [await violate(anonymous, agent, capability) for capability in ("db:write", "db:drop", "db:write")]
    assert [d["allowed"] for d in decisions] == [False] * 3
    assert [d["threat"] is not None for d in decisions] == [False, False, True]
    (threat,) = await listed(org.admin.api)
    assert threat["evidence"]["count"] == 3


async def test_one_event_proves_credential_misuse_and_drift_so_their_threshold_stays_one(org: Org):
    for threat_type in ("CREDENTIAL_MISUSE", "CONFIGURATION_DRIFT"):
        change = {"threatType": threat_type, "minSeverity": "LOW", "action": "ALERT", "enabled": True}
        assert await org.admin.api.error(UPDATE, i=change | {"threshold": 2}) == "BAD_USER_INPUT"
        assert (await org.admin.api(UPDATE, i=change | {"threshold": 1, "windowSeconds": 60}))["updateSecurityPolicy"][
            "windowSeconds"
        ] == 60
