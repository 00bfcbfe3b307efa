from __future__ import annotations

import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

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


class MCPServer(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="mcp_servers", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    name = fields.CharField(max_length=200)
    url = fields.CharField(max_length=2000)
    description: str | None = fields.TextField(null=True)
    status = fields.CharEnumField(MCPServerStatus, max_length=16, default=MCPServerStatus.PENDING)
    public_key = fields.CharField(max_length=64, null=True)
    capabilities: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    trust_score = fields.FloatField(default=0.0)
    health = fields.CharEnumField(HealthStatus, max_length=16, default=HealthStatus.UNKNOWN)
    last_health_check_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "mcp_servers"
        unique_together = (("organization", "name"),)


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
