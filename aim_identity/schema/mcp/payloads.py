from __future__ import annotations

import strawberry

from aim_identity.schema.agents.types import Agent
from aim_identity.schema.mcp.types import MCPServer
from aim_identity.schema.verification.types import VerificationFailureReason


@strawberry.type
class MCPServerPayload:
    mcp_server: MCPServer


@strawberry.type
class DeleteMCPServerPayload:
    deleted_id: strawberry.ID


@strawberry.type
class VerifyMCPServerPayload:
    verified: bool
    failure_reason: VerificationFailureReason | None
    mcp_server: MCPServer


@strawberry.type
class ReportDetectedMCPServersPayload:
    agent: Agent
    registered: list[MCPServer]


@strawberry.type
class MCPServerCredentialsPayload:
    """What the MCP server authenticates with to AIM's introspection and revocation endpoints
    (`client_secret_basic` or `client_secret_post`). The secret is shown this once."""

    mcp_server: MCPServer
    client_id: str
    client_secret: str
