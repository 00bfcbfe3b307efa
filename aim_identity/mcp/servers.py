"""The MCP server registry, and who talks to which server: declared by people, or detected by an
agent's SDK. A detected server nobody declared is configuration drift.

A live server's name and URL are each unique in its organization. A server with a URL is discovered
(mcp/discovery.py) and health-checked (mcp/health.py) by the workers, which claim it by
`discovery_due_at` and `health_due_at`; registering it, changing its URL and verifying it make it due
at once. A stdio server (a command the agent runs) cannot be reached by AIM: what it offers is what the
SDK reports. Deleting a server leaves a tombstone: its links go, the evidence that names it stays."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from aim_identity import ids, outbound
from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Conflict, NotFound
from aim_identity.identity import keys
from aim_identity.identity.agents import locked as locked_agent
from aim_identity.identity.scoring import rescore
from aim_identity.mcp import capabilities, trust
from aim_identity.models import (
    Agent,
    AgentMCPServer,
    HealthStatus,
    MCPServer,
    MCPServerStatus,
    MCPTransport,
    Severity,
    ThreatType,
)
from aim_identity.security.threats import raise_threat
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import Work, atomic

MAX_REPORTED = 100
DESCRIPTION_MAX = 5000
SOURCE_MAX = 100
COMMAND_MAX = 2000


def _name(value: str, field: str = "name") -> str:
    value = (value or "").strip()
    if not value or len(value) > 200:
        raise BadUserInput("An MCP server name needs 1 to 200 characters", field=field)
    return value


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise BadUserInput(f"description may have at most {DESCRIPTION_MAX} characters", field="description")
    return value or None


def _public_key(value: str | None) -> str | None:
    if value is not None:
        keys.public_key(value)
    return value


async def _server(actor: Actor, server_id: uuid.UUID, *, lock: bool = False) -> MCPServer:
    assert actor.organization_id is not None
    query = scoped(MCPServer, actor.organization_id)
    server = await (query.select_for_update() if lock else query).get_or_none(id=server_id)
    if server is None:
        raise NotFound("No such MCP server")
    return server


async def _unique(organization_id: uuid.UUID, name: str, url: str, but: uuid.UUID | None = None) -> None:
    live = scoped(MCPServer, organization_id).exclude(id=but) if but else scoped(MCPServer, organization_id)
    if await live.filter(name=name).exists():
        raise Conflict(f"An MCP server named {name!r} already exists", field="name")
    if await live.filter(url=url).exists():
        raise Conflict(f"An MCP server at {url} is already registered", field="url")


def _recorded(work: Work, server: MCPServer, kind: str, action: str, **metadata) -> None:
    gid = ids.encode("MCPServer", server.id)
    work.audit(action, "MCPServer", gid, **metadata)
    work.emit(kind, organization_id=server.organization_id, mcpServerId=gid)


async def register(
    actor: Actor,
    *,
    name: str,
    url: str,
    description: str | None,
    public_key: str | None,
    capabilities: list[str] | None,
) -> MCPServer:
    """A server people declare; it is discovered and health-checked at once."""
    name, url = _name(name), outbound.http_url(url)
    description, public_key = _description(description), _public_key(public_key)
    declared = _tool_names(capabilities or [], "capabilities")
    assert actor.organization_id is not None
    await _unique(actor.organization_id, name, url)
    now = datetime.now(UTC)
    try:
        async with atomic(actor) as work:
            server = await MCPServer.create(
                organization_id=actor.organization_id,
                name=name,
                url=url,
                description=description,
                public_key=public_key,
                capabilities=declared,
                discovery_due_at=now,
                health_due_at=now,
            )
            await trust.rescore(work, server, "registered")
            _recorded(work, server, "mcp_server.registered", "mcp_server.register", name=name, url=url)
    except IntegrityError:  # registered by someone else since the check: say which
        await _unique(actor.organization_id, name, url)
        raise Conflict("An MCP server with that name or URL already exists") from None
    return server


def _tool_names(names: list[str], field: str) -> list[dict]:
    return capabilities.declared([{"kind": "TOOL", "name": n} for n in names], field)


async def update(
    actor: Actor,
    *,
    server_id: uuid.UUID,
    name: str | None,
    description: str | None,
    url: str | None,
    public_key: str | None,
) -> MCPServer:
    """Changes what is given (None leaves a field as it is). A new URL is a new place to be discovered
    and checked; a new key has not proved itself yet, so a verified server is PENDING again."""
    given = {"name": name, "description": description, "url": url, "public_key": public_key}
    check: dict[str, Callable[[str], str | None]] = {
        "name": _name,
        "description": _description,
        "url": outbound.http_url,
        "public_key": _public_key,
    }
    wanted = {field: check[field](value) for field, value in given.items() if value is not None}
    async with atomic(actor) as work:
        server = await _server(actor, server_id, lock=True)
        changed = {field: value for field, value in wanted.items() if getattr(server, field) != value}
        if not changed:
            return server
        name, url = changed.get("name") or server.name, changed.get("url") or server.url
        await _unique(server.organization_id, name, url, server.id)
        for field, value in changed.items():
            setattr(server, field, value)
        now = datetime.now(UTC)
        if "url" in changed:
            server.transport, server.health, server.latency_ms = (
                MCPTransport.STREAMABLE_HTTP,
                HealthStatus.UNKNOWN,
                None,
            )
            server.discovery_due_at = server.health_due_at = now
        if "public_key" in changed and server.status == MCPServerStatus.VERIFIED:
            server.status, server.verified_at = MCPServerStatus.PENDING, None
        try:
            await server.save()
        except IntegrityError:
            raise Conflict("Another MCP server has that name or URL") from None
        await trust.rescore(work, server, f"updated {', '.join(changed)}")
        shown = {k: ("(new key)" if k == "public_key" else v) for k, v in changed.items()}
        _recorded(work, server, "mcp_server.updated", "mcp_server.update", **shown)
    return server


async def delete(actor: Actor, settings: Settings, server_id: uuid.UUID) -> None:
    """The server becomes a tombstone: gone from every live read, its name and URL free again, its links
    to agents removed (their scores recomputed); its threats, verification events and audit stay."""
    async with atomic(actor) as work:
        server = await _server(actor, server_id, lock=True)
        agents = await Agent.filter(mcp_links__mcp_server_id=server.id, deleted_at=None).select_for_update()
        server.status, server.deleted_at = MCPServerStatus.REVOKED, datetime.now(UTC)
        server.discovery_due_at = server.health_due_at = None
        await server.save(update_fields=["status", "deleted_at", "discovery_due_at", "health_due_at"])
        await AgentMCPServer.filter(mcp_server_id=server.id).delete()
        _recorded(work, server, "mcp_server.deleted", "mcp_server.delete", name=server.name, url=server.url)
        for agent in agents:
            work.emit("agent.updated", agentId=ids.encode("Agent", agent.id))
            await rescore(work, agent, f"MCP server {server.name} deleted", settings.key_rotation_days)


_TRANSITIONS = {
    "suspend": ({MCPServerStatus.PENDING, MCPServerStatus.VERIFIED}, MCPServerStatus.SUSPENDED),
    "reactivate": ({MCPServerStatus.SUSPENDED}, MCPServerStatus.PENDING),
}


async def change_status(actor: Actor, server_id: uuid.UUID, transition: str) -> MCPServer:
    """A suspended server's answers fail (AGENT_NOT_ACTIVE) and its score falls; reactivated, it is
    PENDING until it proves its key again."""
    allowed_from, to = _TRANSITIONS[transition]
    async with atomic(actor) as work:
        server = await _server(actor, server_id, lock=True)
        if server.status not in allowed_from:
            raise Conflict(f"Cannot {transition} an MCP server that is {server.status.value.lower()}")
        previous, server.status = server.status, to
        await server.save(update_fields=["status"])
        await trust.rescore(work, server, f"{transition}ed")
        _recorded(
            work,
            server,
            f"mcp_server.{transition}ed",
            f"mcp_server.{transition}",
            previous=previous.value,
            status=to.value,
        )
    return server


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


def _detected(item: dict, index: int) -> dict:
    """One reported server, checked before anything is written."""
    field = f"servers[{index}]"
    name = _name(item["name"], f"{field}.name")
    if item.get("url"):
        return {"name": name, "url": outbound.http_url(item["url"], f"{field}.url"), "transport": None}
    if not item.get("command"):
        raise BadUserInput("A detected MCP server has a url or a command", field=field)
    command = shlex.join([item["command"], *(item.get("args") or [])])
    if len(command) > COMMAND_MAX:
        raise BadUserInput(f"A command line may have at most {COMMAND_MAX} characters", field=f"{field}.command")
    found = capabilities.declared(item.get("capabilities") or [], f"{field}.capabilities")
    return {"name": name, "url": f"stdio:{name}", "command": command, "transport": MCPTransport.STDIO, "found": found}


async def report_detected(
    actor: Actor, settings: Settings, agent_id: uuid.UUID, detected: list[dict], source: str
) -> tuple[Agent, list[MCPServer]]:
    """Servers the SDK found in the agent's configuration. Unknown ones join the registry as PENDING (one
    with a URL is then discovered by AIM itself); for a stdio server, what the SDK found it offering is
    recorded as discovery would record it. Links nobody declared are drift, and raise one
    CONFIGURATION_DRIFT threat per report."""
    if len(detected) > MAX_REPORTED:
        raise BadUserInput(f"Report at most {MAX_REPORTED} servers at a time", field="servers")
    if not 1 <= len(source) <= SOURCE_MAX:
        raise BadUserInput(f"source needs 1 to {SOURCE_MAX} characters", field="source")
    checked = [_detected(item, i) for i, item in enumerate(detected)]
    async with atomic(actor) as work:
        agent = await locked_agent(actor, agent_id)
        agent_gid = ids.encode("Agent", agent.id)
        servers, undeclared = [], []
        for item in checked:
            server = await _known_or_new(work, agent, item, source)
            _, created = await AgentMCPServer.get_or_create(
                agent=agent, mcp_server=server, defaults={"declared": False}
            )
            if created:
                undeclared.append(server.name)
            if server.transport == MCPTransport.STDIO and "found" in item:
                await capabilities.record(work, server, item["found"], source, settings.key_rotation_days)
                server.discovered_at = datetime.now(UTC)
                await server.save(update_fields=["capabilities", "discovered_at"])
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
                key=",".join(sorted(undeclared)),
            )
            work.emit("agent.updated", agentId=agent_gid)
            await rescore(work, agent, "undeclared MCP servers detected", settings.key_rotation_days)
    return agent, servers


async def _known_or_new(work: Work, agent: Agent, item: dict, source: str) -> MCPServer:
    live = scoped(MCPServer, agent.organization_id)
    server = await live.filter(url=item["url"]).first() or await live.filter(name=item["name"]).first()
    if server is not None:
        return server
    now = datetime.now(UTC)
    stdio = item["transport"] == MCPTransport.STDIO
    server = await MCPServer.create(
        organization_id=agent.organization_id,
        name=item["name"],
        url=item["url"],
        command=item.get("command"),
        transport=item["transport"] or MCPTransport.STREAMABLE_HTTP,
        description=f"detected in {source}",
        discovery_due_at=None if stdio else now,
        health_due_at=None if stdio else now,
    )
    await trust.rescore(work, server, "detected")
    _recorded(work, server, "mcp_server.registered", "mcp_server.detect", name=server.name, source=source)
    return server
