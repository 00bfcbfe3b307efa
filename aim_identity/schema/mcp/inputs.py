from __future__ import annotations

import strawberry


@strawberry.input
class RegisterMCPServerInput:
    name: str
    url: str
    description: str | None = None
    public_key: str | None = None
    capabilities: list[str] | None = None


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


@strawberry.input
class ReportDetectedMCPServersInput:
    agent_id: strawberry.ID
    servers: list[DetectedMCPServer]
    source: str | None = "claude_desktop_config"
