"""Registering MCP servers and recording who talks to them: declared by people, or detected by an
agent's SDK. A detected server nobody declared is configuration drift."""

from __future__ import annotations

import uuid

from tortoise.exceptions import IntegrityError

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Conflict, NotFound
from aim_identity.identity import keys
from aim_identity.identity.agents import locked as locked_agent
from aim_identity.identity.scoring import rescore
from aim_identity.models import Agent, AgentMCPServer, MCPServer, Severity, ThreatType
from aim_identity.security.threats import raise_threat
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import Work, atomic

MAX_REPORTED = 100
DESCRIPTION_MAX = 5000
SOURCE_MAX = 100


def _name(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 200:
        raise BadUserInput("An MCP server name needs 1 to 200 characters", field="name")
    return value


def _url(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 2000:
        raise BadUserInput("An MCP server URL needs 1 to 2000 characters", field="url")
    return value


def _tools(names: list[str] | None) -> list[dict]:
    return [{"name": _name(n), "kind": "TOOL", "description": None} for n in dict.fromkeys(names or [])]


async def _server(actor: Actor, server_id: uuid.UUID) -> MCPServer:
    assert actor.organization_id is not None
    server = await scoped(MCPServer, actor.organization_id).get_or_none(id=server_id)
    if server is None:
        raise NotFound("No such MCP server")
    return server


async def register(
    actor: Actor,
    *,
    name: str,
    url: str,
    description: str | None,
    public_key: str | None,
    capabilities: list[str] | None,
) -> MCPServer:
    name, url = _name(name), _url(url)
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise BadUserInput(f"description may have at most {DESCRIPTION_MAX} characters", field="description")
    if public_key is not None:
        keys.public_key(public_key)
    assert actor.organization_id is not None
    if await scoped(MCPServer, actor.organization_id).filter(name=name).exists():
        raise Conflict(f"An MCP server named {name!r} already exists", field="name")
    try:
        async with atomic(actor) as work:
            server = await MCPServer.create(
                organization_id=actor.organization_id,
                name=name,
                url=url,
                description=description,
                public_key=public_key,
                capabilities=_tools(capabilities),
            )
            _recorded(work, server, "mcp_server.registered", "mcp_server.register", name=name, url=url)
    except IntegrityError:
        raise Conflict(f"An MCP server named {name!r} already exists", field="name") from None
    return server


def _recorded(work: Work, server: MCPServer, kind: str, action: str, **metadata) -> None:
    gid = ids.encode("MCPServer", server.id)
    work.audit(action, "MCPServer", gid, **metadata)
    work.emit(kind, mcpServerId=gid)


def _linked(work: Work, agent: Agent, server: MCPServer, action: str) -> None:
    agent_gid = ids.encode("Agent", agent.id)
    work.audit(action, "Agent", agent_gid, mcpServerId=ids.encode("MCPServer", server.id))
    work.emit("agent.updated", agentId=agent_gid)


async def connect(actor: Actor, settings: Settings, agent_id: uuid.UUID, server_id: uuid.UUID) -> Agent:
    """Declare that the agent talks to the server; declaring a detected link resolves its drift."""
    async with atomic(actor) as work:
        agent = await locked_agent(actor, agent_id)
        server = await _server(actor, server_id)
        link, created = await AgentMCPServer.get_or_create(agent=agent, mcp_server=server, defaults={"declared": True})
        if created or not link.declared:
            link.declared = True
            await link.save(update_fields=["declared"])
            _linked(work, agent, server, "agent.mcp_connect")
            await rescore(work, agent, f"declared MCP server {server.name}", settings.key_rotation_days)
    return agent


async def disconnect(actor: Actor, settings: Settings, agent_id: uuid.UUID, server_id: uuid.UUID) -> Agent:
    async with atomic(actor) as work:
        agent = await locked_agent(actor, agent_id)
        server = await _server(actor, server_id)
        if not await AgentMCPServer.filter(agent=agent, mcp_server=server).delete():
            raise NotFound("The agent is not connected to that MCP server")
        _linked(work, agent, server, "agent.mcp_disconnect")
        await rescore(work, agent, f"disconnected MCP server {server.name}", settings.key_rotation_days)
    return agent


async def report_detected(
    actor: Actor, settings: Settings, agent_id: uuid.UUID, detected: list[dict], source: str
) -> tuple[Agent, list[MCPServer]]:
    """Servers the SDK found in the agent's configuration. Unknown ones join the registry as PENDING;
    links nobody declared are drift, and raise one CONFIGURATION_DRIFT threat per report."""
    if len(detected) > MAX_REPORTED:
        raise BadUserInput(f"Report at most {MAX_REPORTED} servers at a time", field="servers")
    if not 1 <= len(source) <= SOURCE_MAX:
        raise BadUserInput(f"source needs 1 to {SOURCE_MAX} characters", field="source")
    async with atomic(actor) as work:
        agent = await locked_agent(actor, agent_id)
        agent_gid = ids.encode("Agent", agent.id)
        assert actor.organization_id is not None
        servers, undeclared = [], []
        for item in detected:
            name = _name(item["name"])
            server = await scoped(MCPServer, actor.organization_id).get_or_none(name=name)
            if server is None:
                location = item.get("url") or " ".join([item.get("command") or "", *(item.get("args") or [])])
                server = await MCPServer.create(
                    organization_id=actor.organization_id,
                    name=name,
                    url=_url(location or f"stdio:{name}"),
                    description=f"detected in {source}",
                )
                _recorded(work, server, "mcp_server.registered", "mcp_server.detect", name=name, source=source)
            _, created = await AgentMCPServer.get_or_create(
                agent=agent, mcp_server=server, defaults={"declared": False}
            )
            if created:
                undeclared.append(name)
            servers.append(server)
        work.audit(
            "agent.mcp_report",
            "Agent",
            agent_gid,
            source=source,
            servers=[s.name for s in servers],
            undeclared=undeclared,
        )
        if undeclared:
            await raise_threat(
                work,
                agent.organization_id,
                ThreatType.CONFIGURATION_DRIFT,
                Severity.MEDIUM,
                "Undeclared MCP servers",
                f"Agent {agent.name} talks to MCP servers nobody declared: " + ", ".join(undeclared),
                agent_id=agent.id,
                evidence={"servers": undeclared, "source": source},
            )
            work.emit("agent.updated", agentId=agent_gid)
            await rescore(work, agent, "undeclared MCP servers detected", settings.key_rotation_days)
    return agent, servers
