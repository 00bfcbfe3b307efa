"""(l) memory: the resident memory of the request-path AIM process (production, response cache on),
read from /proc: idle after seeding; at its peak while (b)'s load runs against it (sampled every 50
ms); and per cached answer, as the growth over CACHED answers of the agents page kept by the response
cache. Those answers share one document (only an unused variable differs, which the cache keys on),
so the parsed-document and validation caches do not grow with them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bench.load import AGENTS_QUERY

CACHED = 1000  # within AIM_RESPONSE_CACHE_SIZE's default of 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def run(url: str, pid: int, token: str, load: Callable[[], dict]) -> dict:
    idle = rss_mb(pid)
    peak, done = [idle], threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak.append(rss_mb(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        loaded = load()
    finally:
        done.set()
        sampler.join()
    before = rss_mb(pid)
    asyncio.run(_fill(f"{url}/graphql", token))
    after = rss_mb(pid)
    return {
        "idle_mb": round(idle, 1),
        "under_load_mb": round(max(peak), 1),
        "load_per_s": loaded["per_s"],
        "cached_answers": CACHED,
        "per_cached_answer_kb": round((after - before) * 1024 / CACHED, 2),
        "after_caching_mb": round(after, 1),
    }


async def _fill(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(CACHED):
            body = {"query": AGENTS_QUERY, "variables": {"unused": n}}
            async with session.post(url, json=body) as response:
                answer = await response.json()
            if response.status != 200 or answer.get("errors"):
                raise RuntimeError(f"caching answer {n} failed: HTTP {response.status} {str(answer)[:300]}")


def report(results: dict) -> dict:
    print()
    print("(l) memory of the request-path AIM process (VmRSS):")
    print(
        f"    idle {results['idle_mb']:.1f} MB; at most {results['under_load_mb']:.1f} MB under (b)'s load "
        f"({results['load_per_s']:,.1f} req/s); {results['per_cached_answer_kb']:.2f} KB per cached answer "
        f"of the agents page ({results['cached_answers']:,} kept: {results['after_caching_mb']:.1f} MB)"
    )
    return {}
