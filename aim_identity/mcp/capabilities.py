"""What an MCP server offers (its tools, resources and prompts) and what a change in it means.

Each is kept as {"kind", "name", "description"} (and "uri" for a resource), in the order the server
listed them. A change is published on the server's feed and audited. The first discovery (or the
SDK's first report) sets what the server offers; a tool that appears after it is a new power in the
hands of every agent connected to the server, so each connected agent whose capability grants do not
allow the tool (`mcp:<tool name>`, lowercased: `mcp:search_docs`, or `mcp:*`, or `*`) gets one
CONFIGURATION_DRIFT threat naming the tools it did not declare."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aim_identity import ids
from aim_identity.errors import BadUserInput
from aim_identity.identity import capabilities as grants
from aim_identity.identity.scoring import rescore
from aim_identity.models import Agent, CapabilityGrant, MCPServer, Severity, ThreatType
from aim_identity.security.threats import raise_threat
from aim_identity.unit_of_work import Work

KINDS = ("TOOL", "RESOURCE", "PROMPT")
NAME_MAX = 200
DESCRIPTION_MAX = 2000  # longer descriptions are cut: a server's prose is not worth a refusal
MAX_DECLARED = 500  # names a person or an SDK may send at once


def item(kind: str, name: str, description: str | None = None, uri: str | None = None) -> dict:
    if kind not in KINDS:
        raise BadUserInput(f"A capability kind is one of {', '.join(KINDS)}", field="kind")
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise BadUserInput(f"A capability name needs 1 to {NAME_MAX} characters", field="name")
    found = {"kind": kind, "name": name, "description": (description or None) and description[:DESCRIPTION_MAX]}
    if uri:
        found["uri"] = uri[:2000]
    return found


def declared(items: list[dict], field: str) -> list[dict]:
    """Capabilities that people or an SDK send, checked: each once, at most MAX_DECLARED."""
    if len(items) > MAX_DECLARED:
        raise BadUserInput(f"Send at most {MAX_DECLARED} capabilities at a time", field=field)
    unique = {(c["kind"], c["name"]): c for c in (item(**c) for c in items)}
    return list(unique.values())


@dataclass(frozen=True)
class Change:
    added: list[dict]
    removed: list[dict]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def diff(before: list[dict], after: list[dict]) -> Change:
    old, new = ({(c["kind"], c["name"]) for c in items} for items in (before, after))
    return Change(
        added=[c for c in after if (c["kind"], c["name"]) not in old],
        removed=[c for c in before if (c["kind"], c["name"]) not in new],
    )


async def record(work: Work, server: MCPServer, found: list[dict], source: str, key_rotation_days: int) -> Change:
    """Stores what the server offers now (the caller saves the row, and sets `discovered_at` after this)
    and answers for what changed."""
    change = diff(server.capabilities, found)
    server.capabilities = found
    if not change:
        return change
    gid = ids.encode("MCPServer", server.id)
    names = {"added": [_label(c) for c in change.added], "removed": [_label(c) for c in change.removed]}
    work.audit(
        "mcp_server.capabilities_change",
        "MCPServer",
        gid,
        source=source,
        added=names["added"],
        removed=names["removed"],
    )
    work.emit("mcp_server.capabilities_changed", organization_id=server.organization_id, mcpServerId=gid, **names)
    new_tools = [c["name"] for c in change.added if c["kind"] == "TOOL"]
    if new_tools and server.discovered_at is not None:
        await _drift(work, server, new_tools, key_rotation_days)
    return change


def tool_capability(tool: str) -> str:
    """The capability an agent is granted to use an MCP tool: `mcp:` and the tool's name, lowercased,
    with what a capability name may not hold made `_`."""
    return "mcp:" + re.sub(r"[^a-z0-9_.-]", "_", tool.lower())


def _label(capability: dict) -> str:
    return f"{capability['kind'].lower()}:{capability['name']}"


async def _drift(work: Work, server: MCPServer, tools: list[str], key_rotation_days: int) -> None:
    agents = await Agent.filter(mcp_links__mcp_server_id=server.id, deleted_at=None).select_for_update().order_by("id")
    granted: dict = {}
    for agent_id, name in await CapabilityGrant.filter(agent_id__in=[a.id for a in agents]).values_list(
        "agent_id", "name"
    ):
        granted.setdefault(agent_id, []).append(name)
    for agent in agents:
        undeclared = [t for t in tools if not grants.allows(granted.get(agent.id, ()), tool_capability(t))]
        if not undeclared:
            continue
        await raise_threat(
            work,
            agent.organization_id,
            ThreatType.CONFIGURATION_DRIFT,
            Severity.MEDIUM,
            "MCP server offers tools the agent never declared",
            f"MCP server {server.name} now offers {', '.join(undeclared)}, which agent {agent.name} has no "
            "capability for",
            agent_id=agent.id,
            mcp_server_id=server.id,
            evidence={"mcpServer": server.name, "tools": undeclared},
            key=f"{server.name}:" + ",".join(sorted(undeclared)),
        )
        work.emit("agent.updated", agentId=ids.encode("Agent", agent.id))
        await rescore(work, agent, f"MCP server {server.name} offers undeclared tools", key_rotation_days)
