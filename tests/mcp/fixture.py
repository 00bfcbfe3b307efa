"""A real MCP server for AIM's tests and benchmarks, built on the official `mcp` SDK.

    python -m tests.mcp.fixture --port 8123 [--transport streamable-http|sse] [--tools a,b | --tool-count N]
        [--resources docs://readme] [--prompts summarize] [--page-size 2] [--slow-ms 0] [--name N] [--version V]
    python -m tests.mcp.fixture --transport stdio [--require-env NAME] [the same lists]

AIM's MCP discovery talks to servers it does not control; this one is controllable instead. Its lists
paginate (so a client that ignores `nextCursor` sees only the first page), its handshake can be made slow
(so it looks DEGRADED), and over plain HTTP on the same port:

    POST /admin/tools     {"add": [...], "remove": [...]} changes the tool list at once -> {"tools": [...]}
    GET  /admin/requests  {"count": n, "methods": {"initialize": n, "tools/list": n, ...}}: what clients asked

Over stdio (as Claude Desktop starts a local server) there is no admin API; `--require-env NAME`
makes it refuse to start without that environment variable, as a server needing a secret would.
Only the chosen transport's endpoint is mounted (`/mcp`, or `/sse` + `/messages/`), so a client that
must fall back from one transport to the other can be tested; both serve the same `Server` and `State`.
`tests/mcp/fixtures.py` runs it as a subprocess for pytest.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.sse import SseServerTransport
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

HOST = "127.0.0.1"
# The handshake (legacy `initialize`, or the 2026-07-28 `server/discover` that replaces it) and `ping`
# are what a health check times, so these are what --slow-ms delays.
SLOW_METHODS = frozenset({"initialize", "server/discover", "ping"})
ARGUMENT_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
# The SDK turns DNS-rebinding protection on by default for a loopback server; SSE gets the same settings.
LOOPBACK_ONLY = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


@dataclass
class State:
    """What the server offers, and what it has been asked so far (for GET /admin/requests)."""

    tools: list[str]
    resources: list[str]
    prompts: list[str]
    page_size: int
    slow_ms: int
    methods: Counter[str] = field(default_factory=Counter)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise MCPError(code=types.INVALID_PARAMS, message=f"invalid cursor: {cursor!r}")


def page(state: State, items: list[Any], params: types.PaginatedRequestParams | None) -> tuple[list[Any], str | None]:
    """One page of `items` from the offset the cursor names, and the cursor of the next page if there is one."""
    start = decode_cursor(params.cursor if params else None)
    end = start + state.page_size
    return items[start:end], encode_cursor(end) if end < len(items) else None


def build_server(state: State, name: str, version: str) -> Server[Any]:
    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        names, cursor = page(state, state.tools, params)
        tools = [types.Tool(name=n, description=f"Tool {n}.", input_schema=ARGUMENT_SCHEMA) for n in names]
        return types.ListToolsResult(tools=tools, next_cursor=cursor)

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        uris, cursor = page(state, state.resources, params)
        resources = [
            types.Resource(uri=uri, name=uri.rstrip("/").rsplit("/", 1)[-1], description=f"Resource {uri}.")
            for uri in uris
        ]
        return types.ListResourcesResult(resources=resources, next_cursor=cursor)

    async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        names, cursor = page(state, state.prompts, params)
        prompts = [types.Prompt(name=n, description=f"Prompt {n}.") for n in names]
        return types.ListPromptsResult(prompts=prompts, next_cursor=cursor)

    # A capability is advertised only when its handler is registered, so a fixture started without
    # resources or prompts looks like a real server that has none. Tools can be added at runtime, so
    # they are always served.
    server: Server[Any] = Server(
        name,
        version=version,
        on_list_tools=list_tools,
        on_list_resources=list_resources if state.resources else None,
        on_list_prompts=list_prompts if state.prompts else None,
    )

    async def count_and_delay(ctx: Any, call_next: Any) -> Any:
        # Middleware sees every inbound message, `initialize` included (a handler cannot be registered for
        # it); a notification has no request id and is not a request.
        if ctx.request_id is not None:
            state.methods[ctx.method] += 1
            if ctx.method in SLOW_METHODS and state.slow_ms:
                await anyio.sleep(state.slow_ms / 1000)
        return await call_next(ctx)

    server.middleware.append(count_and_delay)
    return server


def admin_routes(state: State) -> list[Route]:
    async def change_tools(request: Request) -> JSONResponse:
        body = await request.json()
        removed = set(body.get("remove", []))
        state.tools = [t for t in state.tools if t not in removed]
        state.tools += [t for t in body.get("add", []) if t not in state.tools]
        return JSONResponse({"tools": state.tools})

    async def requests(request: Request) -> JSONResponse:
        return JSONResponse({"count": sum(state.methods.values()), "methods": dict(state.methods)})

    return [
        Route("/admin/tools", change_tools, methods=["POST"]),
        Route("/admin/requests", requests, methods=["GET"]),
    ]


class SseEndpoint:
    """GET /sse as a plain ASGI app: the SSE response is sent by the transport itself, so a Starlette
    request/response endpoint would have to return a second, dummy response after it."""

    def __init__(self, server: Server[Any], transport: SseServerTransport) -> None:
        self.server = server
        self.transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.transport.connect_sse(scope, receive, send) as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())


def build_app(state: State, transport: str, name: str, version: str) -> Starlette:
    server = build_server(state, name, version)
    if transport == "streamable-http":
        # Serves /mcp; its lifespan runs the session manager.
        return server.streamable_http_app(host=HOST, custom_starlette_routes=admin_routes(state))
    sse = SseServerTransport("/messages/", security_settings=LOOPBACK_ONLY)
    routes = [
        Route("/sse", SseEndpoint(server, sse), methods=["GET"]),
        Mount("/messages/", app=sse.handle_post_message),
        *admin_routes(state),
    ]
    return Starlette(routes=routes)


async def serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mcp.fixture", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int)
    parser.add_argument("--transport", choices=["streamable-http", "sse", "stdio"], default="streamable-http")
    parser.add_argument("--require-env", metavar="NAME", help="over stdio: refuse to start without this variable")
    parser.add_argument("--name", default="fixture")
    parser.add_argument("--version", default="1.0.0")
    which_tools = parser.add_mutually_exclusive_group()
    which_tools.add_argument("--tools", type=names, default=["get_weather", "search_docs", "send_email"])
    which_tools.add_argument("--tool-count", type=int, help="serve N tools named tool_000 ... instead")
    parser.add_argument("--resources", type=names, default=["docs://readme"])
    parser.add_argument("--prompts", type=names, default=["summarize"])
    parser.add_argument("--page-size", type=int, default=2)
    parser.add_argument("--slow-ms", type=int, default=0)
    args = parser.parse_args(argv)
    if args.page_size < 1:
        parser.error("--page-size must be at least 1")
    if args.transport != "stdio" and args.port is None:
        parser.error("--port is required over HTTP")

    tools = [f"tool_{i:03d}" for i in range(args.tool_count)] if args.tool_count is not None else args.tools
    state = State(tools, args.resources, args.prompts, args.page_size, args.slow_ms)
    if args.transport == "stdio":
        if args.require_env and not os.environ.get(args.require_env):
            sys.exit(f"{args.require_env} is not set")
        anyio.run(serve_stdio, build_server(state, args.name, args.version))
        return
    app = build_app(state, args.transport, args.name, args.version)
    # Open SSE and GET streams never end by themselves; don't let them hold up a SIGTERM for long.
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning", timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main()
