"""The kinds of event each live feed carries, and the severity of those that carry none of their own."""

from __future__ import annotations

from aim_identity.models import Severity

SECURITY = frozenset(
    {"threat.detected", "threat.updated", "anomaly.detected", "agent.verification_failed", "agent.suspended"}
)
AGENT = frozenset(
    {
        "agent.created",
        "agent.updated",
        "agent.verified",
        "agent.verification_failed",
        "agent.suspended",
        "agent.reactivated",
        "agent.revoked",
        "agent.deleted",
        "agent.key_rotated",
        "agent.trust_changed",
    }
)
MCP_SERVER = frozenset(
    {
        "mcp_server.registered",
        "mcp_server.updated",
        "mcp_server.deleted",
        "mcp_server.suspended",
        "mcp_server.reactivated",
        "mcp_server.verified",
        "mcp_server.verification_failed",
        "mcp_server.discovered",
        "mcp_server.discovery_failed",
        "mcp_server.capabilities_changed",
        "mcp_server.health_changed",
        "mcp_server.trust_changed",
    }
)
TRUST_CHANGED = "agent.trust_changed"
AUDIT_APPENDED = "audit.appended"
# After these, every subscriber's right to listen is checked again.
CREDENTIAL = frozenset(
    {
        "user.role_changed",
        "api_key.revoked",
        "session.revoked",
        "agent.suspended",
        "agent.revoked",
        "agent.deleted",
        "organization.updated",
    }
)

_SEVERITY = {"agent.verification_failed": Severity.LOW, "agent.suspended": Severity.MEDIUM}


def severity(event: dict) -> Severity:
    return Severity(event.get("severity") or _SEVERITY.get(event["kind"], Severity.INFO))
