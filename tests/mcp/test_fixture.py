"""The MCP fixture server (tests/mcp/fixture.py), proved with the official `mcp` client: what other tests
rely on it for, over both transports."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcp.fixtures import FixtureServer, mcp_fixture

# A pytest fixture: importing it makes it available here (and `as` marks the import as used).
from tests.mcp.fixtures import mcp_server as mcp_server

TOOLS = ["get_weather", "search_docs", "send_email"]


@asynccontextmanager
async def connected(server: FixtureServer) -> AsyncIterator[tuple[ClientSession, types.InitializeResult]]:
    transport = sse_client(server.url) if server.transport == "sse" else streamable_http_client(server.url)
    with anyio.fail_after(30):
        async with transport as (read, write), ClientSession(read, write) as session:
            yield session, await session.initialize()


async def every_page(list_page: Callable[..., Awaitable[Any]], items: str) -> tuple[list[Any], int]:
    """All items of a paginated list, following nextCursor; and how many pages that took."""
    found, cursor, pages = [], None, 0
    while True:
        result = await list_page(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        found += getattr(result, items)
        pages += 1
        cursor = result.next_cursor
        if cursor is None:
            return found, pages


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


async def tool_names(server: FixtureServer) -> list[str]:
    async with connected(server) as (session, _):
        return [tool.name for tool in (await every_page(session.list_tools, "tools"))[0]]


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_lists_every_page_and_answers_ping(tmp_path, transport):
    server = mcp_fixture(tmp_path, transport=transport, name=f"fixture-{transport}", version="2.5.0")
    await server.start()
    try:
        async with connected(server) as (session, init):
            assert init.server_info.name == f"fixture-{transport}"
            assert init.server_info.version == "2.5.0"
            assert init.protocol_version == "2025-11-25"
            assert init.capabilities.tools is not None
            assert init.capabilities.resources is not None
            assert init.capabilities.prompts is not None

            first = await session.list_tools()
            assert [tool.name for tool in first.tools] == TOOLS[:2]
            assert first.next_cursor is not None

            tools, pages = await every_page(session.list_tools, "tools")
            assert [tool.name for tool in tools] == TOOLS
            assert pages == 2
            assert tools[0].description == "Tool get_weather."
            assert tools[0].input_schema["type"] == "object"

            resources, _ = await every_page(session.list_resources, "resources")
            assert [(r.uri, r.name, r.description) for r in resources] == [
                ("docs://readme", "readme", "Resource docs://readme.")
            ]
            prompts, _ = await every_page(session.list_prompts, "prompts")
            assert [(p.name, p.description) for p in prompts] == [("summarize", "Prompt summarize.")]

            assert isinstance(await session.send_ping(), types.EmptyResult)
            with pytest.raises(MCPError) as bad_cursor:
                await session.list_tools(params=types.PaginatedRequestParams(cursor="not-a-cursor"))
            assert bad_cursor.value.error.code == types.INVALID_PARAMS

        requests = await server.requests()
        assert requests["methods"] == {
            "initialize": 1,
            "tools/list": 4,
            "resources/list": 1,
            "prompts/list": 1,
            "ping": 1,
        }
        assert requests["count"] == 8

        # Only the chosen transport is served, so a client falling back from one to the other can be tested.
        other = "/mcp" if transport == "sse" else "/sse"
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{server.base_url}{other}")).status_code == 404
    finally:
        await server.stop()


async def test_tool_changes_show_in_the_next_listing(mcp_server):
    async with connected(mcp_server) as (session, _):
        assert [t.name for t in (await every_page(session.list_tools, "tools"))[0]] == TOOLS
        now = await mcp_server.change_tools(add=["new_tool"], remove=["send_email"])
        assert now == ["get_weather", "search_docs", "new_tool"]
        assert [t.name for t in (await every_page(session.list_tools, "tools"))[0]] == now


async def test_stop_refuses_connections_and_restart_brings_them_back(mcp_server):
    assert await tool_names(mcp_server) == TOOLS
    await mcp_server.stop()
    # The ConnectError arrives wrapped in an ExceptionGroup over streamable HTTP.
    with pytest.raises(Exception) as refused:
        await tool_names(mcp_server)
    assert any(isinstance(leaf, httpx2.ConnectError) for leaf in leaves(refused.value)), refused.value
    with pytest.raises(httpx.ConnectError):
        await mcp_server.requests()

    await mcp_server.restart()
    assert await tool_names(mcp_server) == TOOLS
    # A new process: what it was asked starts again from nothing.
    assert (await mcp_server.requests())["methods"] == {"initialize": 1, "tools/list": 2}


async def test_two_hundred_tools_across_pages(tmp_path):
    server = mcp_fixture(tmp_path, tool_count=200)
    await server.start()
    try:
        async with connected(server) as (session, _):
            tools, pages = await every_page(session.list_tools, "tools")
        assert [tool.name for tool in tools] == [f"tool_{i:03d}" for i in range(200)]
        assert pages == 100
    finally:
        await server.stop()


async def test_slow_handshake_and_ping(tmp_path):
    server = mcp_fixture(tmp_path, slow_ms=300, resources=(), prompts=())
    await server.start()
    try:
        started = time.monotonic()
        async with connected(server) as (session, init):
            assert time.monotonic() - started >= 0.3
            # Without resources or prompts the server does not claim the capabilities.
            assert init.capabilities.resources is None
            assert init.capabilities.prompts is None
            started = time.monotonic()
            await session.send_ping()
            assert time.monotonic() - started >= 0.3
            started = time.monotonic()
            await session.list_tools()
            assert time.monotonic() - started < 0.3
    finally:
        await server.stop()
