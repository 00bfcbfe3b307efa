"""The MCP server registry, proof of a server's key, discovery, and who talks to which server."""

from __future__ import annotations

import strawberry

from aim_identity import ids
from aim_identity.mcp import discovery, servers, verification
from aim_identity.models import Role
from aim_identity.oauth import introspection
from aim_identity.schema.agents.payloads import AgentPayload
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.withheld import withheld
from aim_identity.schema.mcp.inputs import (
    ConnectMCPServerInput,
    DeleteMCPServerInput,
    MCPServerInput,
    RegisterMCPServerInput,
    ReportDetectedMCPServersInput,
    RequestMCPChallengeInput,
    UpdateMCPServerInput,
    VerifyMCPServerInput,
)
from aim_identity.schema.mcp.payloads import (
    DeleteMCPServerPayload,
    MCPServerCredentialsPayload,
    MCPServerPayload,
    ReportDetectedMCPServersPayload,
    VerifyMCPServerPayload,
)
from aim_identity.schema.mcp.types import MCPServer
from aim_identity.schema.verification.types import VerificationChallenge

WITHHELD = "Sign in to see more of this MCP server"
# What a server that proved its key may read of itself without signing in: not who talks to it.
OWN_RECORD = ("name", "url", "description", "status", "public_key", "capabilities", "trust_score", "health")


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


async def update_mcp_server(info: Info, input: UpdateMCPServerInput) -> MCPServerPayload:
    row = await servers.update(
        info.context.actor,
        server_id=ids.decode(input.id, "MCPServer"),
        name=input.name,
        description=input.description,
        url=input.url,
        public_key=input.public_key,
    )
    return MCPServerPayload(mcp_server=MCPServer.of(row))


async def delete_mcp_server(info: Info, input: DeleteMCPServerInput) -> DeleteMCPServerPayload:
    await servers.delete(info.context.actor, info.context.settings, ids.decode(input.id, "MCPServer"))
    return DeleteMCPServerPayload(deleted_id=input.id)


async def suspend_mcp_server(info: Info, input: MCPServerInput) -> MCPServerPayload:
    row = await servers.change_status(info.context.actor, ids.decode(input.id, "MCPServer"), "suspend")
    return MCPServerPayload(mcp_server=MCPServer.of(row))


async def reactivate_mcp_server(info: Info, input: MCPServerInput) -> MCPServerPayload:
    row = await servers.change_status(info.context.actor, ids.decode(input.id, "MCPServer"), "reactivate")
    return MCPServerPayload(mcp_server=MCPServer.of(row))


async def create_mcp_server_credentials(info: Info, input: MCPServerInput) -> MCPServerCredentialsPayload:
    server_id = ids.decode(input.id, "MCPServer")
    row, client_id, secret = await introspection.create_credentials(info.context.actor, server_id)
    return MCPServerCredentialsPayload(mcp_server=MCPServer.of(row), client_id=client_id, client_secret=secret)


async def discover_mcp_server(info: Info, input: MCPServerInput) -> MCPServerPayload:
    """Discovers the server now and answers with what was found (or why not, in `discoveryError`)."""
    ctx = info.context
    row = await discovery.discover(ctx.actor, ctx.settings, ids.decode(input.id, "MCPServer"))
    return MCPServerPayload(mcp_server=MCPServer.of(row))


async def request_mcp_server_challenge(info: Info, input: RequestMCPChallengeInput) -> VerificationChallenge:
    ctx = info.context
    issued = await verification.issue(
        ctx.actor, ctx.settings, ctx.keyring, ids.decode(input.mcp_server_id, "MCPServer")
    )
    return VerificationChallenge(
        id=strawberry.ID(issued.id), nonce=issued.nonce, message=issued.message, expires_at=issued.expires_at
    )


async def verify_mcp_server(info: Info, input: VerifyMCPServerInput) -> VerifyMCPServerPayload:
    ctx = info.context
    outcome = await verification.answer(ctx.actor, ctx.settings, ctx.keyring, input.challenge_id, input.signature)
    server = MCPServer.of(outcome.server)
    if ctx.principal is None:
        # Anonymous: a server that proved its key reads its own record; anyone else, its id and status.
        shown = OWN_RECORD if outcome.verified else ("status",)
        server = withheld(MCPServer, WITHHELD, id=server.id, **{f: getattr(server, f) for f in shown})
    return VerifyMCPServerPayload(verified=outcome.verified, failure_reason=outcome.failure_reason, mcp_server=server)


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
    detected = [
        {
            "name": s.name,
            "command": s.command,
            "args": s.args,
            "url": s.url,
            "capabilities": [
                {"kind": c.kind.value, "name": c.name, "description": c.description} for c in s.capabilities or []
            ],
        }
        for s in input.servers
    ]
    agent, found = await servers.report_detected(
        info.context.actor, info.context.settings, agent_id, detected, input.source or "claude_desktop_config"
    )
    return ReportDetectedMCPServersPayload(agent=Agent.of(agent), registered=[MCPServer.of(s) for s in found])
