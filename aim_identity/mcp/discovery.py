"""Discovery speaks MCP: AIM connects to a server with the official `mcp` client, runs `initialize`,
then `tools/list`, `resources/list` and `prompts/list` for what the server announces, following every
pagination cursor, and records what it found (mcp/capabilities.py) with the server's name, version and
protocol version.

Streamable HTTP is tried first; a server that answers it with anything but MCP is tried over the older
HTTP+SSE transport (a failure is then reported as streamable HTTP's).
Every request goes through outbound.py (timeouts, a size cap, no private targets in production) and
the whole discovery has AIM_MCP_DISCOVERY_TIMEOUT to finish. The network part runs outside any
transaction; a failure is recorded with its reason, and nothing else about the server changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx2
import mcp_types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from aim_identity import ids, outbound
from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.errors import Conflict, NotFound
from aim_identity.mcp import capabilities
from aim_identity.models import MCPServer, MCPTransport
from aim_identity.unit_of_work import atomic

CLIENT = mcp_types.Implementation(name="aim-discovery", version="1")
MAX_PAGES = 100  # per list: a server whose cursors never end is not followed for ever


@asynccontextmanager
async def session(
    settings: Settings, url: str, transport: MCPTransport, seconds: float
) -> AsyncIterator[tuple[ClientSession, mcp_types.InitializeResult]]:
    """An initialized MCP session with the server, over `transport`, each read allowed `seconds`."""
    if transport == MCPTransport.SSE:

        def guarded(headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None) -> httpx2.AsyncClient:
            return outbound.client(settings, timeout=seconds, headers=headers, auth=auth)

        streams = sse_client(url, timeout=seconds, sse_read_timeout=seconds, httpx_client_factory=guarded)
        async with streams as (read, write), ClientSession(read, write, client_info=CLIENT) as mcp:
            yield mcp, await mcp.initialize()
        return
    async with (
        outbound.client(settings, timeout=seconds) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, client_info=CLIENT) as mcp,
    ):
        yield mcp, await mcp.initialize()


@dataclass(frozen=True)
class Found:
    transport: MCPTransport
    server_name: str
    server_version: str
    protocol_version: str
    capabilities: list[dict]


async def explore(settings: Settings, url: str) -> Found:
    """What the server at `url` says of itself; raises what went wrong (see `reason`)."""
    with anyio.fail_after(settings.mcp_discovery_timeout):
        try:
            return await _explore(settings, url, MCPTransport.STREAMABLE_HTTP)
        except Exception as exc:
            if not _may_speak_sse(exc):
                raise
            first = exc
        try:
            return await _explore(settings, url, MCPTransport.SSE)
        except Exception:
            raise first from None


async def _explore(settings: Settings, url: str, transport: MCPTransport) -> Found:
    async with session(settings, url, transport, settings.mcp_discovery_timeout) as (mcp, hello):
        offered = hello.capabilities
        found: list[dict] = []
        if offered.tools is not None:
            found += [
                capabilities.item("TOOL", t.name, t.description)
                for t in await _all(mcp.list_tools, lambda r: r.tools, settings)
            ]
        if offered.resources is not None:
            found += [
                capabilities.item("RESOURCE", r.name, r.description, str(r.uri))
                for r in await _all(mcp.list_resources, lambda r: r.resources, settings)
            ]
        if offered.prompts is not None:
            found += [
                capabilities.item("PROMPT", p.name, p.description)
                for p in await _all(mcp.list_prompts, lambda r: r.prompts, settings)
            ]
    return Found(transport, hello.server_info.name, hello.server_info.version, hello.protocol_version, _unique(found))


async def _all(list_page: Callable[..., Awaitable[Any]], items: Callable[[Any], list], settings: Settings) -> list:
    """Every item of a paginated list, cursor after cursor."""
    found: list = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await list_page(params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        found += items(page)
        if len(found) > settings.mcp_max_capabilities:
            raise outbound.OutboundError(f"the server lists more than {settings.mcp_max_capabilities} items")
        cursor = page.next_cursor
        if not cursor:
            return found
    raise outbound.OutboundError(f"the server's list did not end after {MAX_PAGES} pages")


def _unique(found: list[dict]) -> list[dict]:
    return list({(c["kind"], c["name"]): c for c in found}.values())


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the exception groups that anyio's task groups raise."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _may_speak_sse(exc: BaseException) -> bool:
    """A server that was reached, but did not answer a streamable HTTP POST as MCP does (an older one
    answers 404 or 405), may speak the SSE transport; one that could not be reached, was refused or
    flooded, will not over SSE either."""
    return isinstance(_leaf(exc), MCPError)


def reason(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words a user can act on."""
    leaf = _leaf(exc)
    if isinstance(leaf, TimeoutError):
        return f"no complete answer within {timeout:g} s"
    if isinstance(leaf, outbound.OutboundError):
        return str(leaf)
    if isinstance(leaf, httpx2.HTTPStatusError):
        return f"the server answered HTTP {leaf.response.status_code}"
    if isinstance(leaf, httpx2.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(leaf, httpx2.TransportError):
        return f"could not reach the server: {leaf}"[:500] if str(leaf) else "could not reach the server"
    if isinstance(leaf, MCPError):
        return f"the server did not answer as MCP expects: {leaf}"[:500]
    return f"not a valid MCP answer ({type(leaf).__name__}: {leaf})"[:500]


async def discover(actor: Actor, settings: Settings, server_id: uuid.UUID) -> MCPServer:
    """Discovers the caller's server now (`discoverMCPServer`)."""
    assert actor.organization_id is not None
    server = await MCPServer.get_or_none(id=server_id, organization_id=actor.organization_id, deleted_at=None)
    if server is None:
        raise NotFound("No such MCP server")
    if server.transport == MCPTransport.STDIO:
        raise Conflict("AIM cannot reach a stdio MCP server: its SDK reports what it offers", field="id")
    return await run(actor, settings, server)


async def run(actor: Actor, settings: Settings, server: MCPServer) -> MCPServer:
    """Discovers `server` and records the outcome; the next scheduled discovery follows the interval."""
    url = server.url
    try:
        found: Found | None = await explore(settings, url)
        failure = None
    except Exception as exc:
        found, failure = None, reason(exc, settings.mcp_discovery_timeout)
    async with atomic(actor.within(server.organization_id)) as work:
        current = await MCPServer.select_for_update().get_or_none(id=server.id, deleted_at=None)
        if current is None or current.url != url:  # deleted, or moved, while we were away
            return current or server
        now = datetime.now(UTC)
        current.discovery_due_at = now + timedelta(seconds=settings.mcp_discovery_interval)
        gid = ids.encode("MCPServer", current.id)
        if found is None:
            current.discovery_error = failure
            await current.save(update_fields=["discovery_error", "discovery_due_at"])
            work.audit("mcp_server.discovery_failed", "MCPServer", gid, url=url, reason=failure)
            work.emit(
                "mcp_server.discovery_failed", organization_id=current.organization_id, mcpServerId=gid, reason=failure
            )
            return current
        await capabilities.record(work, current, found.capabilities, "discovery", settings.key_rotation_days)
        current.transport, current.discovered_at, current.discovery_error = found.transport, now, None
        current.server_name, current.server_version = found.server_name[:200], found.server_version[:100]
        current.protocol_version = found.protocol_version[:50]
        await current.save()
        counts = {kind: sum(c["kind"] == kind for c in found.capabilities) for kind in capabilities.KINDS}
        work.audit("mcp_server.discover", "MCPServer", gid, transport=found.transport.value, **counts)
        work.emit("mcp_server.discovered", organization_id=current.organization_id, mcpServerId=gid)
    return current
