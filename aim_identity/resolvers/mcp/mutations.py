from __future__ import annotations

from aim_identity import ids
from aim_identity.mcp import servers
from aim_identity.models import Role
from aim_identity.schema.agents.payloads import AgentPayload
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info
from aim_identity.schema.mcp.inputs import ConnectMCPServerInput, RegisterMCPServerInput, ReportDetectedMCPServersInput
from aim_identity.schema.mcp.payloads import MCPServerPayload, ReportDetectedMCPServersPayload
from aim_identity.schema.mcp.types import MCPServer


async def register_mcp_server(info: Info, input: RegisterMCPServerInput) -> MCPServerPayload:
    row = await servers.register(
        info.context.actor,
        name=input.name,
        url=input.url,
        description=input.description,
        public_key=input.public_key,
        capabilities=input.capabilities,
    )
    return MCPServerPayload(mcp_server=MCPServer.of(row))


async def connect_mcp_server(info: Info, input: ConnectMCPServerInput) -> AgentPayload:
    row = await servers.connect(
        info.context.actor,
        info.context.settings,
        ids.decode(input.agent_id, "Agent"),
        ids.decode(input.mcp_server_id, "MCPServer"),
    )
    return AgentPayload(agent=Agent.of(row))


async def disconnect_mcp_server(info: Info, input: ConnectMCPServerInput) -> AgentPayload:
    row = await servers.disconnect(
        info.context.actor,
        info.context.settings,
        ids.decode(input.agent_id, "Agent"),
        ids.decode(input.mcp_server_id, "MCPServer"),
    )
    return AgentPayload(agent=Agent.of(row))


async def report_detected_mcp_servers(
    info: Info, input: ReportDetectedMCPServersInput
) -> ReportDetectedMCPServersPayload:
    """The agent reports with its own token; members may report for any agent."""
    agent_id = ids.decode(input.agent_id, "Agent")
    info.context.require_self_or(Role.MEMBER, agent_id)
    detected = [{"name": s.name, "command": s.command, "args": s.args, "url": s.url} for s in input.servers]
    agent, found = await servers.report_detected(
        info.context.actor, info.context.settings, agent_id, detected, input.source or "claude_desktop_config"
    )
    return ReportDetectedMCPServersPayload(agent=Agent.of(agent), registered=[MCPServer.of(s) for s in found])
