from __future__ import annotations

import strawberry

from aim_identity.schema.agents.types import Agent
from aim_identity.schema.mcp.types import MCPServer


@strawberry.type
class MCPServerPayload:
    mcp_server: MCPServer


@strawberry.type
class ReportDetectedMCPServersPayload:
    agent: Agent
    registered: list[MCPServer]
