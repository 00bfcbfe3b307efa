"""Pytest helpers that run `tests/mcp/fixture.py` (a real MCP server) as a subprocess on a loopback port.

    server = mcp_fixture(tmp_path, tools=("a", "b"), transport="sse")
    await server.start()
    ...  # connect to server.url; server.change_tools(...), server.requests(), server.restart()
    await server.stop()

or take the `mcp_server` fixture (import it into the test module) for a started default server.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest_asyncio

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # importing the mcp SDK alone takes about 2 s
STOP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FixtureServer:
    port: int
    transport: str
    url: str
    log_path: Path
    tools: tuple[str, ...] = ("get_weather", "search_docs", "send_email")
    resources: tuple[str, ...] = ("docs://readme",)
    prompts: tuple[str, ...] = ("summarize",)
    page_size: int = 2
    tool_count: int | None = None
    slow_ms: int = 0
    name: str = "fixture"
    version: str = "1.0.0"
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "tests.mcp.fixture", "--port", str(self.port)]
        command += ["--transport", self.transport, "--name", self.name, "--version", self.version]
        if self.tool_count is not None:
            command += ["--tool-count", str(self.tool_count)]
        else:
            command += ["--tools", ",".join(self.tools)]
        command += ["--resources", ",".join(self.resources), "--prompts", ",".join(self.prompts)]
        return [*command, "--page-size", str(self.page_size), "--slow-ms", str(self.slow_ms)]

    async def start(self) -> None:
        if self.process is not None:
            raise RuntimeError(f"MCP fixture on port {self.port} is already running")
        # Appended to, so a restart keeps the log of the run before it.
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(), cwd=REPO_ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.process.returncode is not None:
                    code, self.process = self.process.returncode, None
                    raise RuntimeError(f"MCP fixture exited with {code}:\n{self.log_tail()}")
                try:
                    (await client.get(f"{self.base_url}/admin/requests")).raise_for_status()
                    return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"MCP fixture did not answer within {START_TIMEOUT}s:\n{self.log_tail()}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def change_tools(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
        """Add and remove tools at once; returns the tool names the server now lists."""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/admin/tools", json={"add": list(add), "remove": list(remove)}
            )
            response.raise_for_status()
            return response.json()["tools"]

    async def requests(self) -> dict:
        """{"count": n, "methods": {method: n}}: the MCP requests received since this process started."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.base_url}/admin/requests")
            response.raise_for_status()
            return response.json()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def mcp_fixture(
    tmp_path: Path,
    *,
    tools: Iterable[str] = ("get_weather", "search_docs", "send_email"),
    resources: Iterable[str] = ("docs://readme",),
    prompts: Iterable[str] = ("summarize",),
    transport: str = "streamable-http",
    page_size: int = 2,
    tool_count: int | None = None,
    slow_ms: int = 0,
    name: str = "fixture",
    version: str = "1.0.0",
) -> FixtureServer:
    """A FixtureServer on a free loopback port, not yet started."""
    if transport not in ("streamable-http", "sse"):
        raise ValueError(f"unknown MCP transport {transport!r}")
    port = free_port()
    path = "/mcp" if transport == "streamable-http" else "/sse"
    return FixtureServer(
        port=port,
        transport=transport,
        url=f"http://127.0.0.1:{port}{path}",
        log_path=tmp_path / f"mcp-fixture-{port}.log",
        tools=tuple(tools),
        resources=tuple(resources),
        prompts=tuple(prompts),
        page_size=page_size,
        tool_count=tool_count,
        slow_ms=slow_ms,
        name=name,
        version=version,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def mcp_server(tmp_path: Path) -> AsyncIterator[FixtureServer]:
    """A started default fixture: tools get_weather, search_docs, send_email; docs://readme; summarize."""
    server = mcp_fixture(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
