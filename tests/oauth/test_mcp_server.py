"""A real MCP server (the official `mcp` SDK, with its own auth support) that trusts AIM with nothing but
AIM's issuer URL and the credentials AIM issued it, called by an agent through the official `mcp` client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.fixtures import free_port
from tests.oauth.support import OAuth, credentials, registered_server
from tests.support import Org, create_agent

REPO = Path(__file__).resolve().parents[2]
SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""


@contextlib.asynccontextmanager
async def protected_server(tmp_path: Path, port: int, issuer: str, client: tuple[str, str]) -> AsyncIterator[str]:
    env = {**os.environ, "AIM_RS_CLIENT_ID": client[0], "AIM_RS_CLIENT_SECRET": client[1]}
    with (tmp_path / f"protected-{port}.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.oauth.protected_server", "--port", str(port), "--issuer", issuer,
            cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            for _ in range(600):
                assert process.returncode is None, (tmp_path / f"protected-{port}.log").read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield f"{base}/mcp"
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def call(url: str, token: str, tool: str) -> str:
    """One tool call through the official client with the token as its bearer; the tool's text, or the error."""
    arguments = {"city": "Oslo"} if tool == "get_weather" else {"to": "a@b.c"}
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool(tool, arguments)
    text = result.content[0].text
    return f"error: {text}" if result.is_error else text


async def bearer_status(url: str, token: str) -> int:
    """The HTTP status the server's auth layer gives a request with this bearer token (401: refused)."""
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        assert "resource_metadata=" in response.headers["www-authenticate"]
    return response.status_code


async def test_an_agent_calls_a_tool_with_an_aim_token_until_it_is_suspended(tmp_path: Path, org: Org, server: str):
    oauth = OAuth(server)
    agent = await create_agent(org.admin.api, capabilities=["mcp:get_weather"])
    other = await registered_server(org.admin.api, f"http://127.0.0.1:9/{agent.id[-6:]}/elsewhere")
    # Registered first, then started on that URL: AIM issues tokens only for servers it knows.
    port = free_port()
    weather = await registered_server(org.admin.api, f"http://127.0.0.1:{port}/mcp")
    client = await credentials(org.admin.api, weather["id"])
    async with protected_server(tmp_path, port, server, client) as url:
        # Unauthenticated, the server points at AIM (RFC 9728).
        async with httpx.AsyncClient() as http:
            metadata = (await http.get(url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))).json()
            assert metadata["authorization_servers"] == [server]
            assert (await http.post(url, json={})).status_code == 401

        token = (await oauth.token(agent, url)).json()["access_token"]
        assert await call(url, token, "get_weather") == "Sunny in Oslo"
        # A scope that does not cover the tool.
        assert "does not cover mcp:send_email" in await call(url, token, "send_email")
        # A token minted for another server's URL.
        elsewhere = (await oauth.token(agent, other["url"])).json()["access_token"]
        assert await bearer_status(url, elsewhere) == 401
        with pytest.raises(BaseExceptionGroup):
            await call(url, elsewhere, "get_weather")

        # Suspended: the same token, the same running server, refused at the next call.
        assert await bearer_status(url, token) != 401
        await org.admin.api(SUSPEND, i={"id": agent.id})
        assert await bearer_status(url, token) == 401
        with pytest.raises(BaseExceptionGroup):
            await call(url, token, "get_weather")
