"""The load generator, run as its own process so its CPU time is never the server's.

A fixed number of keep-alive connections (one aiohttp session, one worker task per connection)
send requests back to back for a warm-up and then for a measured window. Only requests that
complete inside the window count. Each successful response is checked (HTTP 200, no GraphQL
`errors`, 20 agents, a verified outcome); anything else is an error. The result is one JSON object
on stdout.

    python -m bench.load --scenario floor|graphql|verify --url URL --spec spec.json \
        [--connections 32] [--duration 10] [--warmup 3] [--watch name=pid[+]]...

`spec.json` carries what the scenario needs: `token` (graphql) and `agents`, a list of
`{"id": global id, "seed": base64 Ed25519 seed}` (verify). `--watch` reports the CPU seconds a
process (with `+`: and its children, e.g. the PostgreSQL postmaster) spent in the window.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from nacl.signing import SigningKey

AGENTS_QUERY = "query Agents { agents(first: 20) { edges { node { id name status trustScore { score } } } } }"
CHALLENGE = """mutation Challenge($i: RequestChallengeInput!) {
  requestVerificationChallenge(input: $i) { id message } }"""
VERIFY = """mutation Verify($i: VerifyAgentInput!) {
  verifyAgent(input: $i) { verified failureReason agentToken agentTokenExpiresAt trustScore { score } } }"""
EXPECTED_AGENTS = 20
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class Failed(Exception):
    """A response that came back but is not the right answer."""


# ---------------------------------------------------------------- CPU accounting through /proc

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime in ticks) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _tree_ticks(pid: int, children: bool) -> dict[int, int]:
    ticks = {}
    own = _stat(pid)
    if own is not None:
        ticks[pid] = own[1]
    if children:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = _stat(int(entry))
                if st is not None and st[0] == pid:
                    ticks[int(entry)] = st[1]
    return ticks


@dataclass
class Watch:
    name: str
    pid: int
    children: bool
    start: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Watch:
        name, _, pid = text.partition("=")
        return cls(name, int(pid.rstrip("+")), pid.endswith("+"))

    def sample(self) -> dict[int, int]:
        return _tree_ticks(self.pid, self.children)

    @property
    def cpu_seconds(self) -> float:
        # Processes that exited inside the window are lost; pools keep their connections, so few do.
        return sum(t - self.start.get(p, 0) for p, t in self.end.items()) / _TICK


# ---------------------------------------------------------------- the scenarios


def _check_agents(body: dict) -> None:
    if body.get("errors"):
        raise Failed(body["errors"][0].get("message", "GraphQL error"))
    edges = body["data"]["agents"]["edges"]
    if len(edges) != EXPECTED_AGENTS:
        raise Failed(f"{len(edges)} agents instead of {EXPECTED_AGENTS}")


async def _json(response: aiohttp.ClientResponse) -> dict:
    raw = await response.read()
    if response.status != 200:
        raise Failed(f"HTTP {response.status}: {raw[:120]!r}")
    return json.loads(raw)


async def _graphql(session: aiohttp.ClientSession, url: str, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    async with session.post(url, data=body, headers=JSON_HEADERS) as response:
        payload = await _json(response)
    if payload.get("errors"):
        raise Failed(payload["errors"][0].get("message", "GraphQL error"))
    return payload["data"]


class Scenario:
    """One unit of work; `steps` names the requests inside it, timed separately."""

    steps: tuple[str, ...] = ()

    async def run(self, session: aiohttp.ClientSession, times: dict[str, float]) -> None:
        raise NotImplementedError


class Floor(Scenario):
    def __init__(self, url: str, spec: dict) -> None:
        self.url = url

    async def run(self, session, times) -> None:
        async with session.get(self.url) as response:
            _check_agents(await _json(response))


class GraphQLAgents(Scenario):
    def __init__(self, url: str, spec: dict) -> None:
        self.url = url
        self.body = json.dumps({"query": AGENTS_QUERY}).encode()
        self.headers = {**JSON_HEADERS, "Authorization": f"Bearer {spec['token']}"}

    async def run(self, session, times) -> None:
        async with session.post(self.url, data=self.body, headers=self.headers) as response:
            _check_agents(await _json(response))


class ChallengeResponse(Scenario):
    """requestVerificationChallenge, sign with the agent's own key, verifyAgent: one round trip."""

    steps = ("challenge", "verify")

    def __init__(self, url: str, spec: dict) -> None:
        self.url = url
        self.agents = [(a["id"], SigningKey(base64.b64decode(a["seed"]))) for a in spec["agents"]]
        self.turn = itertools.cycle(self.agents)

    async def run(self, session, times) -> None:
        agent_id, key = next(self.turn)
        t0 = time.perf_counter()
        challenge = (await _graphql(session, self.url, CHALLENGE, {"i": {"agentId": agent_id}}))[
            "requestVerificationChallenge"]
        t1 = time.perf_counter()
        signature = base64.b64encode(key.sign(base64.b64decode(challenge["message"])).signature).decode()
        outcome = (await _graphql(session, self.url, VERIFY,
                                  {"i": {"challengeId": challenge["id"], "signature": signature}}))["verifyAgent"]
        t2 = time.perf_counter()
        if not outcome["verified"] or not outcome["agentToken"]:
            raise Failed(f"not verified: {outcome['failureReason']}")
        times["challenge"], times["verify"] = t1 - t0, t2 - t1


SCENARIOS = {"floor": Floor, "graphql": GraphQLAgents, "verify": ChallengeResponse}


# ---------------------------------------------------------------- the driver


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of the samples at or below it."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def summary_ms(values: list[float]) -> dict:
    values = sorted(values)
    out = {f"p{q}": percentile(values, q) for q in (50, 95, 99)}
    out["mean"] = sum(values) / len(values) if values else None
    out["max"] = values[-1] if values else None
    return {k: (round(v * 1000, 3) if v is not None else None) for k, v in out.items()}


async def drive(scenario: Scenario, connections: int, warmup: float, duration: float,
                watches: list[Watch]) -> dict:
    latencies: list[float] = []
    step_times: dict[str, list[float]] = {s: [] for s in scenario.steps}
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + duration
    cpu_self: list[float] = []

    async def account() -> None:
        await asyncio.sleep(max(0.0, start - loop.time()))
        for w in watches:
            w.start = w.sample()
        cpu_self.append(time.process_time())
        await asyncio.sleep(max(0.0, end - loop.time()))
        for w in watches:
            w.end = w.sample()
        cpu_self.append(time.process_time())

    async def worker(session: aiohttp.ClientSession) -> None:
        while loop.time() < end:
            times: dict[str, float] = {}
            t0 = time.perf_counter()
            try:
                await scenario.run(session, times)
                failure = None
            except (Failed, aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError, ValueError) as exc:
                failure = f"{type(exc).__name__}: {exc}"[:200]
            elapsed = time.perf_counter() - t0
            if start <= loop.time() <= end:
                if failure is None:
                    latencies.append(elapsed)
                    for step, t in times.items():
                        step_times[step].append(t)
                else:
                    errors[failure] += 1
            elif failure is not None and not errors and loop.time() < start:
                # A warm-up that fails outright fails fast rather than after the whole window.
                errors[f"(warm-up) {failure}"] += 1

    connector = aiohttp.TCPConnector(limit=connections, force_close=False, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        accountant = asyncio.create_task(account())
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        await accountant

    result = {
        "connections": connections,
        "duration_s": duration,
        "warmup_s": warmup,
        "completed": len(latencies),
        "errors": sum(v for k, v in errors.items() if not k.startswith("(warm-up)")),
        "error_samples": dict(errors.most_common(5)),
        "per_s": round(len(latencies) / duration, 1),
        "latency_ms": summary_ms(latencies),
        "cpu_s": {w.name: round(w.cpu_seconds, 3) for w in watches},
    }
    result["cpu_s"]["load"] = round(cpu_self[1] - cpu_self[0], 3) if len(cpu_self) == 2 else None
    if step_times:
        result["steps_ms"] = {s: summary_ms(v) for s, v in step_times.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--spec", help="JSON file with the token and the agents' keys")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--watch", action="append", default=[], type=Watch.parse, metavar="NAME=PID[+]")
    args = parser.parse_args()
    spec = {}
    if args.spec:
        with open(args.spec) as f:
            spec = json.load(f)
    scenario = SCENARIOS[args.scenario](args.url, spec)
    try:
        import uvloop  # the client's own overhead is noise in every number: keep it low
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    result = run(drive(scenario, args.connections, args.warmup, args.duration, args.watch))
    result["scenario"] = args.scenario
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
