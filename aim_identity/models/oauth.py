from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from aim_identity.models.agents import Agent
    from aim_identity.models.mcp import MCPServer
    from aim_identity.models.organizations import Organization


class ResourceToken(Model):
    """An access token AIM issued an agent for one MCP server, as introspection and revocation need it.

    Its claims are in the signed token itself (oauth/issuing.py)."""

    id = fields.UUIDField(primary_key=True)  # the token's `jti`
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="resource_tokens", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="resource_tokens", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    mcp_server: fields.ForeignKeyRelation[MCPServer] = fields.ForeignKeyField(
        "aim.MCPServer", related_name="resource_tokens", on_delete=fields.CASCADE
    )
    mcp_server_id: uuid.UUID
    scope = fields.TextField()
    grant_type = fields.CharField(max_length=64)
    # The `jti` of the client assertion this token was issued for: unique per agent, so an assertion
    # is spent once (a token exchange has none).
    assertion_jti = fields.CharField(max_length=200, null=True)
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "resource_tokens"
        unique_together = (("agent", "assertion_jti"),)
