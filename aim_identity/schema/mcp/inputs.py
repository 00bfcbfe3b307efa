from __future__ import annotations

import strawberry

from aim_identity.schema.mcp.types import CapabilityKind


@strawberry.input
class RegisterMCPServerInput:
    name: str
    url: str
    description: str | None = None
    public_key: str | None = None
    capabilities: list[str] | None = None


@strawberry.input
class UpdateMCPServerInput:
    id: strawberry.ID
    name: str | None = None
    description: str | None = None
    url: str | None = None
    public_key: str | None = None


@strawberry.input
class DeleteMCPServerInput:
    id: strawberry.ID


@strawberry.input
class MCPServerInput:
    """One MCP server, by ID (discoverMCPServer, suspendMCPServer, reactivateMCPServer,
    createMCPServerCredentials)."""

    id: strawberry.ID


@strawberry.input
class RequestMCPChallengeInput:
    mcp_server_id: strawberry.ID


@strawberry.input
class VerifyMCPServerInput:
    challenge_id: strawberry.ID
    signature: str


@strawberry.input
class MCPCapabilityInput:
    name: str
    kind: CapabilityKind = CapabilityKind.TOOL
    description: str | None = None


@strawberry.input
class ConnectMCPServerInput:
    agent_id: strawberry.ID
    mcp_server_id: strawberry.ID


@strawberry.input
class DetectedMCPServer:
    name: str
    command: str | None = None
    args: list[str] | None = None
    url: str | None = None
    capabilities: list[MCPCapabilityInput] | None = strawberry.field(
        default=None,
        description="what the SDK found a stdio server offering (AIM discovers a server with a URL itself)",
    )


@strawberry.input
class ReportDetectedMCPServersInput:
    agent_id: strawberry.ID
    servers: list[DetectedMCPServer]
    source: str | None = "claude_desktop_config"
