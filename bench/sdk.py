"""(j) sdk: what the SDK adds to an agent's tool call, against the running AIM, in this process.

- `secure()` on a fresh name (key generated, public key registered, first challenge-response, key
  stored): median and max of RUNS, from a new connection each time, as an agent starting up does;
- a guarded no-op: calls per second of `@identity.perform_action` around a coroutine that does nothing
  (each call signed, authorized, and its result reported in the background, all drained before the
  clock stops), against its floor, the bare `authorizeAction` round trip: the same mutation POSTed on
  one kept-alive connection with bodies signed beforehand. One call at a time on both sides, as an
  agent runs its tools."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
from nacl.signing import SigningKey

from aim_agent import AsyncIdentity, FileStore, asecure
from bench.harness import gql
from bench.load import AUTHORIZE, signed_action

RUNS = 10
CAPABILITY = "bench:noop"
CREATE_KEY = """mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }"""


def run(url: str, token: str, workdir: Path, seconds: float) -> dict:
    return asyncio.run(_run(url, token, FileStore(workdir / "sdk-identities"), seconds))


async def _run(url: str, token: str, store: FileStore, seconds: float) -> dict:
    async with aiohttp.ClientSession() as session:
        created = await gql(session, f"{url}/graphql", CREATE_KEY, token, i={"name": "bench-sdk", "role": "MANAGER"})
    api_key = created["createApiKey"]["secret"]
    startups = []
    for _ in range(RUNS):
        started = time.perf_counter()
        identity = await asecure(
            f"sdk-{uuid.uuid4().hex[:8]}", url=url, api_key=api_key, capabilities=[CAPABILITY], store=store
        )
        startups.append((time.perf_counter() - started) * 1000)
        await identity.close()
    identity = await asecure("sdk-guarded", url=url, api_key=api_key, capabilities=[CAPABILITY], store=store)
    try:
        guarded = await _guarded_per_s(identity, seconds)
        stored = store.load(identity.connection.url, identity.name)
        assert stored is not None
        bare = await _bare_per_s(url, identity.agent_id, stored.key, seconds)
    finally:
        await identity.close()
    return {
        "secure_ms": {"median": round(statistics.median(startups), 1), "max": round(max(startups), 1)},
        "guarded_per_s": round(guarded, 1),
        "bare_per_s": round(bare, 1),
    }


async def _guarded_per_s(identity: AsyncIdentity, seconds: float) -> float:
    @identity.perform_action(capability=CAPABILITY)
    async def noop() -> None:
        return None

    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await noop()
        calls += 1
    await identity.flush()  # the reports are part of the work
    return calls / (time.perf_counter() - started)


async def _bare_per_s(url: str, agent_id: str, key: SigningKey, seconds: float) -> float:
    # Signed beforehand, a little over what the window can use; each nonce is spent once.
    bodies = [{"query": AUTHORIZE, "variables": {"i": signed_action(agent_id, key, CAPABILITY)}} for _ in range(5000)]
    calls, started = 0, time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            if time.perf_counter() - started >= seconds:
                break
            async with session.post(f"{url}/graphql", json=body) as response:
                answer = await response.json(content_type=None)
            if not answer["data"]["authorizeAction"]["allowed"]:
                raise RuntimeError(f"the bare authorizeAction was refused: {answer}")
            calls += 1
    return calls / (time.perf_counter() - started)


def report(results: dict) -> dict:
    ratio = results["guarded_per_s"] / results["bare_per_s"]
    startup = results["secure_ms"]
    print(f"(j) sdk: secure() on a fresh name: median {startup['median']:.1f} ms, max {startup['max']:.1f} ms")
    print(
        f"    guarded no-op / bare authorizeAction = {results['guarded_per_s']:,.1f} / {results['bare_per_s']:,.1f}"
        f" calls/s = {ratio:.3f}   (one call at a time)"
    )
    return {"sdk_guarded_ratio": round(ratio, 3), "sdk_secure_median_ms": startup["median"]}
