"""(f) discovery: AIM discovers an MCP server of 200 tools, timed end to end from the client.

It starts the test MCP server, `python -m tests.mcp.fixture --tool-count 200 --page-size 50
--transport streamable-http` (the official `mcp` SDK serving Streamable HTTP at /mcp; its lists come
50 to a page, so the tools take four `tools/list` calls; it also offers one resource and one prompt),
registers it with the running AIM (`registerMCPServer`; AIM runs in production mode, so the bench
starts it with AIM_ALLOW_PRIVATE_TARGETS=127.0.0.1 for it to reach loopback), then sends
`discoverMCPServer` RUNS times, one after the other, timing each from request to response. Every run
must return 200 tools and no `discoveryError`. There is no floor: the figure is printed plainly, with
AIM's CPU per discovery and the MCP requests the server counted per discovery (its GET /admin/requests).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.harness import free_port, gql, tail, wait_healthy
from bench.load import Watch

ROOT = Path(__file__).resolve().parent.parent
TOOLS = 200
PAGE_SIZE = 50
RUNS = 10

REGISTER_MCP = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"""
DISCOVER_MCP = """mutation($i: MCPServerInput!) {
  discoverMCPServer(input: $i) { mcpServer { capabilities { name kind } discoveryError } } }"""


def fixture_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.mcp.fixture",
        "--port",
        str(port),
        "--tool-count",
        str(TOOLS),
        "--page-size",
        str(PAGE_SIZE),
        "--transport",
        "streamable-http",
    ]


async def _requests(session: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with session.get(f"{base}/admin/requests") as response:
        return (await response.json())["methods"]


async def _discover(aim_url: str, token: str, aim_pid: int, mcp_base: str, mcp_pid: int, runs: int) -> dict:
    graphql = f"{aim_url}/graphql"
    seconds: list[float] = []
    app_cpu: list[float] = []
    mcp_cpu: list[float] = []
    failures: list[str] = []
    per_run: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        registered = await gql(
            session, graphql, REGISTER_MCP, token, i={"name": f"bench-mcp-{TOOLS}", "url": f"{mcp_base}/mcp"}
        )
        server_id = registered["registerMCPServer"]["mcpServer"]["id"]
        for _ in range(runs):
            before = await _requests(session, mcp_base)
            watches = [Watch("app", aim_pid, False), Watch("mcp", mcp_pid, False)]
            for w in watches:
                w.start = w.sample()
            t0 = time.perf_counter()
            try:
                data = await gql(session, graphql, DISCOVER_MCP, token, i={"id": server_id})
            except RuntimeError as exc:
                failures.append(str(exc)[:200])
                continue
            elapsed = time.perf_counter() - t0
            for w in watches:
                w.end = w.sample()
            after = await _requests(session, mcp_base)
            server = data["discoverMCPServer"]["mcpServer"]
            tools = sum(c["kind"] == "TOOL" for c in server["capabilities"])
            if server["discoveryError"] or tools != TOOLS:
                failures.append(f"{tools} tools, discoveryError {server['discoveryError']!r}")
                continue
            seconds.append(elapsed)
            app_cpu.append(watches[0].cpu_seconds)
            mcp_cpu.append(watches[1].cpu_seconds)
            per_run = {m: n - before.get(m, 0) for m, n in sorted(after.items()) if n - before.get(m, 0)}
    return {
        "runs": runs,
        "tools": TOOLS,
        "page_size": PAGE_SIZE,
        "completed": len(seconds),
        "failures": failures,
        "seconds": [round(s, 4) for s in seconds],
        "median_ms": round(statistics.median(seconds) * 1000, 1) if seconds else None,
        "max_ms": round(max(seconds) * 1000, 1) if seconds else None,
        "min_ms": round(min(seconds) * 1000, 1) if seconds else None,
        "first_ms": round(seconds[0] * 1000, 1) if seconds else None,
        # CPU ticks are 10 ms: a median over the runs, not one run's figure.
        "app_cpu_ms": round(statistics.median(app_cpu) * 1000, 1) if app_cpu else None,
        "mcp_cpu_ms": round(statistics.median(mcp_cpu) * 1000, 1) if mcp_cpu else None,
        "mcp_requests": per_run,
    }


def run(aim_url: str, token: str, aim_pid: int, workdir: Path, env: dict[str, str], runs: int = RUNS) -> dict:
    """Starts the MCP fixture, registers it with AIM at `aim_url`, times `runs` discoveries, stops it."""
    port = free_port()
    log = workdir / "mcp-fixture.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            fixture_command(port), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def alive() -> None:
            if process.poll() is not None:
                raise RuntimeError(f"the MCP fixture exited with {process.returncode}:\n{tail(log)}")

        wait_healthy(
            base,
            alive,
            lambda: RuntimeError(f"the MCP fixture did not answer in time:\n{tail(log)}"),
            path="/admin/requests",
        )
        return asyncio.run(_discover(aim_url, token, aim_pid, base, process.pid, runs))
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def report(result: dict) -> dict:
    print()
    label = f"(f) discovery of a {result['tools']}-tool MCP server ({result['page_size']} a page)"
    if result["completed"]:
        print(
            f"{label}, {result['completed']} of {result['runs']} runs with {result['tools']} tools:"
            f" median {fmt_ms(result['median_ms'])}, max {fmt_ms(result['max_ms'])}"
            f" (min {fmt_ms(result['min_ms'])}, first {fmt_ms(result['first_ms'])}; no floor, no target)"
        )
        requests = ", ".join(f"{m} {n}" for m, n in result["mcp_requests"].items())
        print(
            f"    per discovery: AIM CPU {fmt_ms(result['app_cpu_ms'])}, MCP server CPU {fmt_ms(result['mcp_cpu_ms'])}"
            f" (medians); MCP requests: {requests}"
        )
    else:
        print(f"{label}: no run came back with {result['tools']} tools")
    for failure in result["failures"][:5]:
        print(f"    failed: {failure}")
    return {
        "discovery_median_ms": result["median_ms"],
        "discovery_max_ms": result["max_ms"],
        "discovery_all_tools": not result["failures"] and result["completed"] == result["runs"],
    }


def failed(result: dict) -> bool:
    return bool(result["failures"]) or result["completed"] != result["runs"]


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"
