"""What every scenario needs to drive servers: ports, logs, health, and a GraphQL call."""

from __future__ import annotations

import resource
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(
    url: str,
    check_alive: Callable[[], None],
    failure: Callable[[], Exception],
    timeout: float = 60.0,
    path: str = "/healthz",
) -> None:
    """Poll `url` + `path` until it answers 200; `check_alive` raises if the server died, `failure` is
    raised on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive()
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise failure()


async def gql(session: aiohttp.ClientSession, url: str, query: str, token: str | None = None, **variables) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json={"query": query, "variables": variables}, headers=headers) as response:
        body = await response.json(content_type=None)
    if response.status != 200 or body.get("errors"):
        raise RuntimeError(f"{query.split('(')[0].strip()} failed: HTTP {response.status} {str(body)[:300]}")
    return body["data"]


def raise_nofile(wanted: int) -> int:
    """Lift the soft file-descriptor limit towards `wanted` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def in_turn(first: str, second: str) -> tuple[str, ...]:
    """The order two servers compared in one run are driven in, half the scenario's duration each
    time, so that a drift of the machine falls on both alike."""
    return (first, second, second, first)


def combined(runs: list[dict]) -> dict:
    """Several runs of one side as one: requests per second over their whole time, the worst p95."""
    completed = sum(r["completed"] for r in runs)
    seconds = sum(r["duration_s"] for r in runs)
    return {
        "per_s": round(completed / seconds, 1),
        "completed": completed,
        "errors": sum(r["errors"] for r in runs),
        "p95_ms": max(r["latency_ms"]["p95"] or 0 for r in runs),
        "app_cpu_ms": round(1000 * sum(r["cpu_s"].get("app", 0) for r in runs) / max(1, completed), 3),
    }
