"""MCP servers from Claude Desktop's configuration, read where PROTOCOL.md says Claude keeps it:

- `~/Library/Application Support/Claude/` (macOS);
- `%APPDATA%\\Claude\\` (Windows);
- `~/.config/Claude/` (Linux);
- or a path given explicitly.

`env` holds the servers' secrets: it is used to start a stdio server on this machine, to ask it for
its tools with the official `mcp` client, and is never part of what is reported."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("aim_agent")

CONFIG_NAME = "claude_desktop_config.json"
LIST_TIMEOUT = 15.0  # seconds for a local server to start and list what it offers


@dataclass(frozen=True)
class ConfiguredServer:
    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def reported(self) -> dict[str, Any]:
        """What AIM receives: everything but `env`."""
        entry: dict[str, Any] = {"name": self.name}
        if self.command:
            entry["command"], entry["args"] = self.command, self.args
        if self.url:
            entry["url"] = self.url
        return entry


def config_paths(explicit: str | Path | None = None) -> list[Path]:
    """The configuration files that exist: the explicit one only, when given (it must exist)."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no Claude Desktop configuration at {path}")
        return [path]
    places = [Path.home() / "Library" / "Application Support" / "Claude", Path.home() / ".config" / "Claude"]
    if appdata := os.environ.get("APPDATA"):
        places.insert(1, Path(appdata) / "Claude")
    return [place / CONFIG_NAME for place in places if (place / CONFIG_NAME).is_file()]


def read_configs(paths: list[Path]) -> list[ConfiguredServer]:
    """Every server of every file, once per name (the first file that names it wins)."""
    found: dict[str, ConfiguredServer] = {}
    for path in paths:
        for server in parse(json.loads(path.read_text(encoding="utf-8"))):
            found.setdefault(server.name, server)
    return list(found.values())


def parse(config: Any) -> list[ConfiguredServer]:
    servers = config.get("mcpServers") if isinstance(config, dict) else None
    if not isinstance(servers, dict):
        return []
    found = []
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            continue
        command, url = entry.get("command"), entry.get("url")
        if not isinstance(command, str) and not isinstance(url, str):
            continue
        args = entry.get("args") or []
        env = entry.get("env") or {}
        found.append(
            ConfiguredServer(
                name=str(name),
                command=command if isinstance(command, str) else None,
                args=[str(a) for a in args] if isinstance(args, list) else [],
                url=url if isinstance(url, str) else None,
                env={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
            )
        )
    return found


async def local_capabilities(server: ConfiguredServer) -> list[dict[str, Any]]:
    """The tools, resources and prompts a stdio server lists when started here, as
    MCPCapabilityInput; none (with a warning) when the `mcp` extra is missing or the server fails."""
    try:
        import anyio
        import mcp_types
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client
    except ImportError:
        log.warning("install aim-agent-identity[mcp] to report the tools of stdio MCP servers")
        return []
    assert server.command is not None
    parameters = StdioServerParameters(command=server.command, args=server.args, env=server.env or None)
    found: list[dict[str, Any]] = []
    try:
        with anyio.fail_after(LIST_TIMEOUT):
            async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
                offered = (await session.initialize()).capabilities
                lists: list[tuple[str, Any, Any, str]] = [
                    ("TOOL", offered.tools, session.list_tools, "tools"),
                    ("RESOURCE", offered.resources, session.list_resources, "resources"),
                    ("PROMPT", offered.prompts, session.list_prompts, "prompts"),
                ]
                for kind, announced, list_page, attribute in lists:
                    if announced is not None:
                        items = await _every(mcp_types, list_page, attribute)
                        found += [{"kind": kind, "name": i.name, "description": i.description} for i in items]
    except Exception as exc:  # a broken local server must not stop the others from being reported
        cause: BaseException = exc
        while isinstance(cause, BaseExceptionGroup) and cause.exceptions:  # anyio's task groups wrap the cause
            cause = cause.exceptions[0]
        log.warning("could not list what the MCP server %s offers: %s", server.name, type(cause).__name__)
        return []
    return found


async def _every(mcp_types: Any, list_page: Any, attribute: str, pages: int = 100) -> list[Any]:
    """Every item of a paginated list, cursor after cursor (at most `pages` of them)."""
    items: list[Any] = []
    cursor = None
    for _ in range(pages):
        page = await list_page(params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        items += getattr(page, attribute)
        cursor = page.next_cursor
        if not cursor:
            break
    return items
