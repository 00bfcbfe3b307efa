from __future__ import annotations

import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.verification import VerificationFailureReason, VerificationResult

if TYPE_CHECKING:
    from aim_identity.models.agents import Agent
    from aim_identity.models.organizations import Organization


class MCPServerStatus(str, Enum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"


class HealthStatus(str, Enum):
    UNKNOWN = "UNKNOWN"
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


class MCPTransport(str, Enum):
    STREAMABLE_HTTP = "STREAMABLE_HTTP"
    SSE = "SSE"
    STDIO = "STDIO"  # run by the agent from a command; AIM cannot reach it, and takes the SDK's report


class MCPServer(Model):
    """An MCP server an organization knows of, kept as a tombstone once deleted (for the evidence)."""

    # A live server's name and its URL are each unique in its organization: partial unique indexes over
    # servers not deleted (migration 0013), so a deleted server's name and URL are free again.
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="mcp_servers", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    name = fields.CharField(max_length=200)
    url = fields.CharField(max_length=2000)
    # A stdio server's command line, as the agent's configuration has it (never its environment).
    command: str | None = fields.TextField(null=True)
    transport = fields.CharEnumField(
        MCPTransport, max_length=16, default=MCPTransport.STREAMABLE_HTTP, db_default=MCPTransport.STREAMABLE_HTTP.value
    )
    description: str | None = fields.TextField(null=True)
    status = fields.CharEnumField(MCPServerStatus, max_length=16, default=MCPServerStatus.PENDING)
    public_key = fields.CharField(max_length=64, null=True)
    verified_at = fields.DatetimeField(null=True)
    # Each {"name", "kind", "description"} (and "uri" for a resource), as discovery or the SDK found them.
    capabilities: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    # What `initialize` said of the server.
    server_name = fields.CharField(max_length=200, null=True)
    server_version = fields.CharField(max_length=100, null=True)
    protocol_version = fields.CharField(max_length=50, null=True)
    discovered_at = fields.DatetimeField(null=True)
    discovery_error: str | None = fields.TextField(null=True)
    # When a worker should next discover it, and check its health (workers claim servers by these).
    discovery_due_at = fields.DatetimeField(null=True, db_index=True)
    health_due_at = fields.DatetimeField(null=True, db_index=True)
    trust_score = fields.FloatField(default=0.0)
    trust_factors: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list, db_default="[]")
    trust_computed_at = fields.DatetimeField(null=True)
    health = fields.CharEnumField(HealthStatus, max_length=16, default=HealthStatus.UNKNOWN)
    latency_ms: int | None = fields.IntField(null=True)
    last_health_check_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    deleted_at = fields.DatetimeField(null=True)
    # The SHA-256 of the secret the server authenticates with to introspect and revoke its tokens
    # (oauth/introspection.py); the secret itself is shown once.
    client_secret_hash = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "mcp_servers"


class MCPHealthCheck(Model):
    """One health check's answer: the server's uptime over a window is read from these."""

    id = fields.BigIntField(primary_key=True)
    mcp_server: fields.ForeignKeyRelation[MCPServer] = fields.ForeignKeyField(
        "aim.MCPServer", related_name="health_checks", on_delete=fields.CASCADE
    )
    mcp_server_id: uuid.UUID
    status = fields.CharEnumField(HealthStatus, max_length=16)
    latency_ms: int | None = fields.IntField(null=True)
    error: str | None = fields.TextField(null=True)
    checked_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "mcp_health_checks"
        indexes = (("mcp_server_id", "checked_at"),)


class MCPVerificationEvent(Model):
    """An answer to an MCP server's challenge (mcp/verification.py), recorded like an agent's."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="mcp_verification_events", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    mcp_server: fields.ForeignKeyRelation[MCPServer] = fields.ForeignKeyField(
        "aim.MCPServer", related_name="verification_events", on_delete=fields.CASCADE
    )
    mcp_server_id: uuid.UUID
    result = fields.CharEnumField(VerificationResult, max_length=16)
    failure_reason = fields.CharEnumField(VerificationFailureReason, max_length=32, null=True)
    # Signed by the server's key; the rest could come from anyone who knows its ID, and counts for nothing.
    proven = fields.BooleanField()
    trust_score_before = fields.FloatField()
    trust_score_after = fields.FloatField()
    ip_address = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "mcp_verification_events"
        indexes = (("mcp_server_id", "created_at"),)


class MCPChallenge(Model):
    """A spent MCP server challenge (challenges are stateless until answered, identity/challenges.py)."""

    id = fields.UUIDField(primary_key=True)
    mcp_server: fields.ForeignKeyRelation[MCPServer] = fields.ForeignKeyField(
        "aim.MCPServer", related_name="challenges", on_delete=fields.CASCADE
    )
    mcp_server_id: uuid.UUID
    expires_at = fields.DatetimeField(db_index=True)
    answered_at = fields.DatetimeField()

    class Meta:
        table = "mcp_challenges"


class AgentMCPServer(Model):
    """An agent talks to an MCP server: declared by a user or detected and reported by the SDK."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="mcp_links", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    mcp_server: fields.ForeignKeyRelation[MCPServer] = fields.ForeignKeyField(
        "aim.MCPServer", related_name="agent_links", on_delete=fields.CASCADE
    )
    mcp_server_id: uuid.UUID
    declared = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "agent_mcp_servers"
        unique_together = (("agent", "mcp_server"),)
        indexes = (("mcp_server_id",),)  # a server's agents (the unique index leads with the agent)
