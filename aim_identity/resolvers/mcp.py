from __future__ import annotations

import strawberry

from aim_identity import ids
from aim_identity.mcp import servers
from aim_identity.models import MCPServer as MCPServerRow
from aim_identity.models import Role
from aim_identity.schema.agents import Agent, AgentPayload
from aim_identity.schema.context import Info
from aim_identity.schema.mcp import (
    ConnectMCPServerInput,
    MCPServer,
    MCPServerPayload,
    RegisterMCPServerInput,
    ReportDetectedMCPServersInput,
    ReportDetectedMCPServersPayload,
)
from aim_identity.schema.pagination import Connection, Order, paginate
from aim_identity.tenancy import scoped


async def list_mcp_servers(info: Info, first: int | None = None, after: str | None = None,
                           search: str | None = None) -> Connection[MCPServer]:
    query = scoped(MCPServerRow, info.context.organization_id)
    if search:
        query = query.filter(name__icontains=search)
    return await paginate(query, Order("created_at"), MCPServer.of, first=first, after=after)


async def mcp_server(info: Info, id: strawberry.ID) -> MCPServer | None:
    row = await info.context.loaders.by_id(MCPServerRow).load(ids.decode(id, "MCPServer"))
    return MCPServer.of(row) if row else None


async def register_mcp_server(info: Info, input: RegisterMCPServerInput) -> MCPServerPayload:
    row = await servers.register(info.context.actor, name=input.name, url=input.url, description=input.description,
                                 public_key=input.public_key, capabilities=input.capabilities)
    return MCPServerPayload(mcp_server=MCPServer.of(row))


async def connect_mcp_server(info: Info, input: ConnectMCPServerInput) -> AgentPayload:
    row = await servers.connect(info.context.actor, info.context.settings, input.agent_id, input.mcp_server_id)
    return AgentPayload(agent=Agent.of(row))


async def disconnect_mcp_server(info: Info, input: ConnectMCPServerInput) -> AgentPayload:
    row = await servers.disconnect(info.context.actor, info.context.settings, input.agent_id, input.mcp_server_id)
    return AgentPayload(agent=Agent.of(row))


async def report_detected_mcp_servers(info: Info, input: ReportDetectedMCPServersInput
                                      ) -> ReportDetectedMCPServersPayload:
    """The agent reports with its own token; members may report for any agent."""
    info.context.require_self_or(Role.MEMBER, input.agent_id)
    detected = [{"name": s.name, "command": s.command, "args": s.args, "url": s.url} for s in input.servers]
    agent, found = await servers.report_detected(info.context.actor, info.context.settings, input.agent_id,
                                                 detected, input.source or "claude_desktop_config")
    return ReportDetectedMCPServersPayload(agent=Agent.of(agent), registered=[MCPServer.of(s) for s in found])
