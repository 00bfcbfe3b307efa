"""`python -m bench`: the floor, the GraphQL agents query, challenge-response, authorization, MCP
discovery and fan-out, in one run.

Needs AIM_BENCH_DATABASE_URL (an empty PostgreSQL database) and AIM_BENCH_REDIS_URL; `make bench`
starts both and sets them. It migrates the database, starts AIM (`aimctl serve`, AIM_ENV=production)
and the floor (`python -m bench.floor`) as one-worker uvicorn processes with the same pool size,
seeds one organization through the API with an agent per connection (at least 20), then runs each
scenario from a separate load process:

  (a) floor    GET /agents on the floor app: the first 20 agents read with asyncpg, returned as JSON
  (b) graphql  POST /graphql `agents(first: 20) { edges { node { id name status trustScore { score } } } }`
  (c) verify-floor
               the same round trip's essential work on the floor app (POST /verification, bench/floor.py)
      verify   requestVerificationChallenge + Ed25519 signature + verifyAgent, one round trip, each
               connection for its own agent; c = verify / verify-floor, target 0.4
      verify-open
               the same at a fixed arrival rate (an open loop) of half what verify measured: p95
               target 200 ms
  (e) authorize-floor
               POST /authorize on the floor app, the very body of `authorize`: one SELECT of the
               agent's key, status and grants, Ed25519 verification with PyNaCl, one INSERT of the
               decision whose unique (agent, nonce) refuses a replay (bench/floor.py)
      authorize
               `authorizeAction` signed by the agent's own key, with a fresh nonce and a current
               timestamp, each connection for its own agent (which holds `db:read`): nonce-checked,
               recorded, audited and queued for scoring by AIM; signed before the warm-up (bench/load.py)

  (g) token-floor
               POST /oauth/token on the floor app: one Ed25519 JWT client assertion verified with
               PyJWT (the agent's key read once, then kept) and one EdDSA JWT signed (bench/floor.py)
      token    POST /oauth/token on AIM: `client_credentials` with a fresh client assertion signed by
               the connection's agent, for the MCP server the bench registers (`resource`); signed
               before the warm-up (bench/load.py)

and prints req/s and latency percentiles for each, the ratios b/a, e and g (each against its floor) and
the targets. Numbers from a shared machine are noisy; the ratios within one run are what to compare. Then,
while the same AIM is otherwise idle:

  (f) discovery  discoverMCPServer of a 200-tool MCP server (tests/mcp/fixture.py), timed from the
               client, 10 runs: median and max, no floor (bench/discovery.py; AIM is started with
               AIM_ALLOW_PRIVATE_TARGETS=127.0.0.1 when it runs, so production lets it reach loopback)

  (h) detection
               the security engine: commit-to-threat lag p50/p99 at 200 events/s, and the events/s one
               `aimctl worker` judges from a backlog (bench/detection.py)

  (i) audit    verifying 100,000 audit entries (target 50,000/s), and each export format's time, size and
               peak Python memory over them, in this process (bench/audit.py)

  (j) sdk      the SDK's own cost: secure() on a fresh name, and calls per second of a guarded no-op
               (@perform_action: signed, authorized, its result reported) against the bare
               authorizeAction round trip, one call at a time (bench/sdk.py)

  (k) hardening
               the agents page against AIM with production's checks on and the same AIM with them off,
               both executing every request (response cache off): the ratio on / off, target 0.9
               (bench/hardening.py)

  (l) memory   the request-path AIM's resident memory idle, at its peak under (b)'s load, and per
               answer kept by the response cache (bench/memory.py)

  (m) audited  updateAgent in the one organization, each connection for its own agent, against AIM
               and the same AIM with the audit write skipped: the ratio audited / unaudited, target 0.8
               (bench/audited.py)

  (n) workers  the agents page executed every time and the challenge-response round trip, each against
               `aimctl serve --workers 1` and `--workers 2`: how throughput moves with a second worker
               (bench/workers.py)

  (o) mixed    the agents page read at full speed while agents verify and authorize in the same
               organization at 20 writes a second: reads over (a), target 0.5, and the p99 of both
               (bench/mixed.py)

  (d) fanout   N WebSocket subscribers (100, 1,000, 5,000) on one fresh API process, each receiving
               100 published events: commit-to-delivery p50/p99 and memory per idle subscription
               (bench/fanout.py; it starts its own API and worker, see there)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from nacl.signing import SigningKey

from bench import audit, audited, detection, discovery, fanout, hardening, memory, mixed, sdk, workers
from bench.harness import combined, free_port, gql, in_turn, tail, wait_healthy
from bench.load import AGENTS_QUERY, AUTHORIZE, AUTHORIZE_CAPABILITY, CHALLENGE, VERIFY, signed_action

ROOT = Path(__file__).resolve().parent.parent
AGENT_COUNT = 20  # what (a) and (b) read; (c) gives each connection an agent of its own
# A fixed secret, long and varied enough for production mode: every bench run signs alike.
SECRET = "bench-secret-7Hq2mX9pLw4ZkR8vN3yT6cF1sJ5dG0bA"
PASSWORD = "correct horse battery staple"

TARGET_RATIO = 0.5  # b/a
TARGET_AUTHORIZE_RATIO = 0.4  # e: authorize / authorize-floor
TARGET_TOKEN_RATIO = 0.4  # g: token / token-floor
TARGET_VERIFY_RATIO = 0.4  # c: verify / verify-floor
FLOORS = ("floor", "verify-floor", "authorize-floor", "token-floor")  # the scenarios served by the floor app
BENCH_MCP_SERVER = "http://127.0.0.1:9/bench/mcp"  # (g)'s `resource`: registered, never called
TARGET_P95_MS = {"graphql": 50.0, "verify-open": 200.0}

REGISTER = """mutation($i: RegisterInput!) {
  register(input: $i) { accessToken user { id organization { id } } } }"""
CREATE_AGENT = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"""
REGISTER_MCP = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"""


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    log: Path
    url: str


def aimctl() -> list[str]:
    script = Path(sys.executable).parent / "aimctl"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from aim_identity.cli import main; main()"]


def healthy(server: Server) -> None:
    def alive() -> None:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{tail(server.log)}")

    wait_healthy(
        server.url, alive, lambda: RuntimeError(f"{server.name} did not become healthy in time:\n{tail(server.log)}")
    )


def start(name: str, command: list[str], env: dict[str, str], port: int, workdir: Path) -> Server:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Server(name, process, log, f"http://127.0.0.1:{port}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


async def seed(url: str, count: int) -> dict:
    """One organization and its agents, created through the API; the private keys stay with us."""
    graphql = f"{url}/graphql"
    async with aiohttp.ClientSession() as session:
        suffix = uuid.uuid4().hex[:8]
        data = (
            await gql(
                session,
                graphql,
                REGISTER,
                i={
                    "email": f"bench-{suffix}@example.com",
                    "password": PASSWORD,
                    "name": "Bench",
                    "organizationName": f"Bench {suffix}",
                },
            )
        )["register"]
        token = data["accessToken"]
        agents = []
        for n in range(count):
            key = SigningKey.generate()
            created = await gql(
                session,
                graphql,
                CREATE_AGENT,
                token,
                i={
                    "name": f"bench-agent-{n:02d}",
                    "publicKey": base64.b64encode(bytes(key.verify_key)).decode(),
                    "capabilities": ["read:*", AUTHORIZE_CAPABILITY],
                },
            )
            agents.append({"id": created["createAgent"]["agent"]["id"], "seed": base64.b64encode(bytes(key)).decode()})
        await gql(session, graphql, REGISTER_MCP, token, i={"name": "bench-mcp", "url": BENCH_MCP_SERVER})
    organization = base64.b64decode(data["user"]["organization"]["id"]).decode().partition(":")[2]
    return {"token": token, "organization_id": organization, "agents": agents}


async def same_agents(floor_url: str, graphql_url: str, token: str) -> None:
    """Both sides must read the very same rows, or the ratio compares different work."""
    async with aiohttp.ClientSession() as session:
        async with session.get(floor_url) as response:
            floor = await response.json()
        graphql = await gql(session, graphql_url, AGENTS_QUERY, token)
    if floor["data"] != graphql:
        raise RuntimeError(f"the floor and GraphQL disagree:\n{floor['data']}\n{graphql}")


async def same_decisions(floor_url: str, graphql_url: str, agent: dict) -> None:
    """Both sides must grant the same signed request for the same reason, and the floor must refuse a
    replay (AIM's refusal is its tests' business: here it would raise a threat against the agent)."""
    key = SigningKey(base64.b64decode(agent["seed"]))
    once = {"query": AUTHORIZE, "variables": {"i": signed_action(agent["id"], key)}}
    fresh = {"query": AUTHORIZE, "variables": {"i": signed_action(agent["id"], key)}}
    answers = []
    async with aiohttp.ClientSession() as session:
        for url, body in ((floor_url, once), (floor_url, once), (graphql_url, fresh)):
            async with session.post(url, json=body) as response:
                payload = await response.json(content_type=None)
            if response.status != 200 or payload.get("errors"):
                raise RuntimeError(f"authorizing at {url} failed: HTTP {response.status} {str(payload)[:300]}")
            answers.append(payload["data"]["authorizeAction"])
    floor, replay, aim = answers
    if (
        not floor["allowed"]
        or replay["allowed"]
        or (floor["allowed"], floor["reason"]) != (aim["allowed"], aim["reason"])
    ):
        raise RuntimeError(f"the floor and authorizeAction disagree:\n{floor} (replayed: {replay})\n{aim}")


async def floor_verifies_honestly(floor_url: str, agent: dict) -> None:
    """The floor must accept a right answer once, and refuse a wrong signature and a second answer."""
    key = SigningKey(base64.b64decode(agent["seed"]))
    outcomes = []
    async with aiohttp.ClientSession() as session:

        async def post(body: dict) -> dict:
            async with session.post(floor_url, json=body) as response:
                return (await response.json())["data"]

        for wrong in (True, False):
            challenge = (await post({"query": CHALLENGE, "variables": {"i": {"agentId": agent["id"]}}}))[
                "requestVerificationChallenge"
            ]
            message = base64.b64decode(challenge["message"]) + (b"!" if wrong else b"")
            answer = {
                "challengeId": challenge["id"],
                "signature": base64.b64encode(key.sign(message).signature).decode(),
            }
            for _ in range(1 if wrong else 2):
                outcomes.append((await post({"query": VERIFY, "variables": {"i": answer}}))["verifyAgent"])
    verified = [o["verified"] for o in outcomes]
    if verified != [False, True, False] or outcomes[2]["failureReason"] != "CHALLENGE_ALREADY_USED":
        raise RuntimeError(f"the verification floor is not honest: {outcomes}")


def postmaster_pid(database_url: str) -> int | None:
    """The local PostgreSQL's postmaster, whose children (the backends) the load process accounts."""
    import asyncpg

    async def parent_of_backend() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            # Read while the connection is open: its backend process exits with it.
            with open(f"/proc/{await conn.fetchval('SELECT pg_backend_pid()')}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
        finally:
            await conn.close()

    try:
        return asyncio.run(parent_of_backend())
    except (OSError, ValueError):
        return None  # not on this machine: no database CPU column


def run_load(
    scenario: str,
    url: str,
    spec: Path,
    args: argparse.Namespace,
    watches: dict[str, str],
    *,
    rate: float | None = None,
    connections: int | None = None,
) -> dict:
    """One load process; with `rate`, an open loop (bench/load.py)."""
    command = [
        sys.executable,
        "-m",
        "bench.load",
        "--scenario",
        scenario,
        "--url",
        url,
        "--spec",
        str(spec),
        "--connections",
        str(connections or args.connections),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
    ]
    if rate:
        command += ["--rate", f"{rate:.3f}"]
    for name, pid in watches.items():
        command += ["--watch", f"{name}={pid}"]
    done = subprocess.run(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True, timeout=args.warmup + args.duration + 120
    )
    return json.loads(done.stdout)


def loop_and_http() -> str:
    """What uvicorn's `auto` picks in this environment (the same for both servers)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"loop={loop} http={http}"


def versions() -> str:
    names = ["uvicorn", "starlette", "strawberry-graphql", "graphql-core", "tortoise-orm", "asyncpg", "aiohttp"]
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found)


SCENARIO_NAMES = (
    "floor",
    "graphql",
    "verify-floor",
    "verify",
    "verify-open",
    "authorize-floor",
    "authorize",
    "token-floor",
    "token",
    "discovery",
    "detection",
    "audit",
    "sdk",
    "hardening",
    "memory",
    "audited",
    "workers",
    "mixed",
    "fanout",
)
# The scenarios measured apart from the request path, each reported by its own module.
APART = {
    "discovery": discovery,
    "detection": detection,
    "audit": audit,
    "sdk": sdk,
    "hardening": hardening,
    "memory": memory,
    "audited": audited,
    "workers": workers,
    "mixed": mixed,
}
LABELS = {
    "floor": "(a) floor: Starlette + asyncpg",
    "graphql": "(b) GraphQL agents(first: 20)",
    "verify-floor": "(c) floor: Starlette + asyncpg",
    "verify": "(c) challenge-response round trip",
    "verify-open": "(c) open loop at half of (c)",
    "authorize-floor": "(e) floor: PyNaCl + asyncpg",
    "authorize": "(e) authorizeAction",
    "token-floor": "(g) floor: PyJWT verify + sign",
    "token": "(g) POST /oauth/token",
}


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def floor_ratio(letter: str, floor: dict, aim: dict, target: float) -> dict:
    """Prints and returns `letter` = AIM / its floor, by throughput and by server CPU per request."""
    key = {"c": "verify", "e": "authorize", "g": "token"}[letter]
    ratio = aim["per_s"] / floor["per_s"]
    ok = ratio >= target
    verdict: dict = {f"ratio_{key}": round(ratio, 3), f"ratio_{key}_pass": ok}
    print(
        f"{letter} = {key} / floor = {aim['per_s']:,.1f} / {floor['per_s']:,.1f} = {ratio:.3f}"
        f"   (target >= {target})  {'PASS' if ok else 'MISS'}"
    )
    cpu_floor, cpu_aim = (r["cpu_s"].get("app", 0) / max(1, r["completed"]) for r in (floor, aim))
    if cpu_floor and cpu_aim:
        verdict[f"cpu_ratio_{key}"] = round(cpu_floor / cpu_aim, 3)
        print(
            f"server CPU per request floor/{key} = {cpu_floor * 1000:.3f} / {cpu_aim * 1000:.3f} ms"
            f" = {cpu_floor / cpu_aim:.3f}"
        )
    for r in (floor, aim):
        signing = r.get("signing", {})
        if signing.get("during_run"):
            print(f"    note: {signing['during_run']} requests of {r['scenario']} were signed during the run")
    return verdict


def report(results: dict[str, dict]) -> dict:
    header = (
        f"{'':36} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}"
        f" {'app CPU ms':>10} {'pg CPU ms':>9} {'load CPU':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for scenario, r in results.items():
        lat, cpu, n = r["latency_ms"], r["cpu_s"], max(1, r["completed"])
        print(
            f"{LABELS[scenario]:36} {fmt(r['per_s']):>8} {fmt(lat['p50'], 2):>8} {fmt(lat['p95'], 2):>8}"
            f" {fmt(lat['p99'], 2):>8} {fmt(lat['max'], 1):>8} {r['errors']:>6}"
            f" {fmt(cpu.get('app', 0) * 1000 / n, 3):>10}"
            f" {fmt(cpu['postgres'] * 1000 / n, 3) if 'postgres' in cpu else '-':>9}"
            f" {fmt(100 * cpu['load'] / r['duration_s'], 0) + '%' if cpu.get('load') is not None else '-':>8}"
        )
        for step, s in r.get("steps_ms", {}).items():
            print(
                f"{'    ' + step:36} {'':>8} {fmt(s['p50'], 2):>8} {fmt(s['p95'], 2):>8} {fmt(s['p99'], 2):>8}"
                f" {fmt(s['max'], 1):>8}"
            )
    print(
        "(app/pg CPU ms: CPU time of the server process / of all PostgreSQL backends per completed unit;"
        " load CPU: the load process's share of one core)"
    )

    verdict: dict = {}
    print()
    if "floor" in results and "graphql" in results and results["floor"]["per_s"]:
        ratio = results["graphql"]["per_s"] / results["floor"]["per_s"]
        verdict["ratio_b_a"] = round(ratio, 3)
        ok = ratio >= TARGET_RATIO
        verdict["ratio_pass"] = ok
        print(
            f"b/a = {results['graphql']['per_s']:,.1f} / {results['floor']['per_s']:,.1f} = {ratio:.3f}"
            f"   (target >= {TARGET_RATIO})  {'PASS' if ok else 'MISS'}"
        )
        cpu_a, cpu_b = (
            results[s]["cpu_s"].get("app", 0) / max(1, results[s]["completed"]) for s in ("floor", "graphql")
        )
        if cpu_a and cpu_b:
            verdict["cpu_ratio_a_b"] = round(cpu_a / cpu_b, 3)
            print(
                f"server CPU per request a/b = {cpu_a * 1000:.3f} / {cpu_b * 1000:.3f} ms = {cpu_a / cpu_b:.3f}"
                "   (the same ratio by CPU time, less sensitive to a busy machine)"
            )
    for letter, floor_name, name, target in (
        ("c", "verify-floor", "verify", TARGET_VERIFY_RATIO),
        ("e", "authorize-floor", "authorize", TARGET_AUTHORIZE_RATIO),
        ("g", "token-floor", "token", TARGET_TOKEN_RATIO),
    ):
        if floor_name in results and name in results and results[floor_name]["per_s"]:
            verdict |= floor_ratio(letter, results[floor_name], results[name], target)
    for scenario, limit in TARGET_P95_MS.items():
        if scenario in results:
            p95 = results[scenario]["latency_ms"]["p95"]
            ok = p95 is not None and p95 < limit
            verdict[f"{scenario}_p95_pass"] = ok
            print(f"{LABELS[scenario]} p95 = {fmt(p95, 2)} ms   (target < {limit:.0f} ms)  {'PASS' if ok else 'MISS'}")
    return verdict


def write_json(args: argparse.Namespace, results: dict, verdict: dict, **sections: dict | None) -> None:
    """`sections`: the results of the scenarios measured apart (discovery, detection, audit, sdk, fanout)."""
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "setup": {
                "connections": args.connections,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "uvicorn": loop_and_http(),
                "versions": versions(),
                "cpus": os.cpu_count(),
            },
            "results": results,
            "verdict": verdict,
        }
        document |= {name: section for name, section in sections.items() if section is not None}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"results written to {args.json}")


def run_fanout(
    options: fanout.Options,
    database_url: str,
    redis_url: str,
    base_env: dict[str, str],
    workdir: Path,
    args: argparse.Namespace,
    results: dict,
    verdict: dict,
    apart: dict[str, dict | None],
) -> int:
    """(d), after the others: each N on its own fresh API process (bench/fanout.py)."""
    print(f"running (d) fan-out, N = {', '.join(f'{n:,}' for n in options.sizes)} ...", flush=True)
    fanout_results = fanout.run(options, database_url, redis_url, SECRET, aimctl(), workdir, base_env)
    if results:
        print()
        print("request path (repeated from above, to sit with fan-out):")
        report(results)
    for name, module in APART.items():
        if apart.get(name) is not None:
            module.report(apart[name])
    verdict = {**verdict, **fanout.report(fanout_results)}
    write_json(args, results, verdict, fanout=fanout_results, **apart)
    return 1 if failed(results, apart) or fanout.failed(fanout_results) else 0


def failed(results: dict[str, dict], apart: dict[str, dict | None]) -> bool:
    """Whether a request-path scenario had errors, or a scenario measured apart that judges its own
    failures (its module's `failed`) did."""
    if any(r["errors"] for r in results.values()):
        return True
    judged = {name: module for name, module in APART.items() if hasattr(module, "failed")}
    return any(apart.get(name) is not None and module.failed(apart[name]) for name, module in judged.items())


def measure_sides(
    name: str,
    commands: dict[str, list[str]],
    scenario: str,
    env: dict[str, str],
    spec: Path,
    args: argparse.Namespace,
    workdir: Path,
) -> dict:
    """(k), (m) and (n): two servers, one per side (each command is given `--port`), both up at once,
    each driven in turn (harness.in_turn); a side's CPU is its process's and its children's."""
    sides = {}
    try:
        for side, command in commands.items():
            port = free_port()
            sides[side] = start(f"{name}-{side}", [*command, "--port", str(port)], env, port, workdir)
        for server in sides.values():
            healthy(server)
        half = argparse.Namespace(**{**vars(args), "duration": args.duration / 2})
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for side in in_turn(*sides):
            server = sides[side]
            watches = {"app": f"{server.process.pid}+"}
            runs[side].append(run_load(scenario, f"{server.url}/graphql", spec, half, watches))
        return {side: combined(side_runs) for side, side_runs in runs.items()}
    finally:
        for server in sides.values():
            stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("AIM_BENCH_DURATION", 10)),
        help="measured seconds per scenario (default 10)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=float(os.environ.get("AIM_BENCH_WARMUP", 3)),
        help="warm-up seconds per scenario, not measured (default 3)",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--pool", type=int, default=20, help="most PostgreSQL connections of each server (default 20, AIM's default)"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIO_NAMES),
        help=f"comma-separated subset of {','.join(SCENARIO_NAMES)}",
    )
    parser.add_argument("--discovery-runs", type=int, default=discovery.RUNS, help="discovery: timed runs (default 10)")
    parser.add_argument(
        "--fanout-sizes",
        default="100,1000,5000",
        help="fan-out: subscriber counts, one fresh API process each (default 100,1000,5000)",
    )
    parser.add_argument("--fanout-events", type=int, default=100, help="fan-out: events published per N")
    parser.add_argument("--fanout-rate", type=float, default=5.0, help="fan-out: createAgent mutations per second")
    parser.add_argument(
        "--fanout-drain",
        type=float,
        default=60.0,
        help="fan-out: seconds to wait for deliveries after the last publish",
    )
    parser.add_argument(
        "--fanout-relay",
        choices=("worker", "inprocess"),
        default="worker",
        help="fan-out: AIM_ENV=production + aimctl worker (default), or development relaying in the API process",
    )
    parser.add_argument(
        "--fanout-deflate",
        choices=("on", "off"),
        default="on",
        help="fan-out: subscribers offer permessage-deflate, as browsers do (default on)",
    )
    parser.add_argument(
        "--fanout-anchor",
        choices=("on", "off"),
        default="on",
        help="fan-out: one subscription holds the organization's channel before the N subscribe"
        " (default on; off exposes the concurrent-first-subscribe race)",
    )
    parser.add_argument(
        "--response-cache",
        choices=("on", "off"),
        default="on",
        help="the API's response cache (default on, as deployed); off measures every query executed",
    )
    parser.add_argument(
        "--admission",
        type=int,
        metavar="N",
        help="AIM_MAX_CONCURRENT_REQUESTS for AIM (default: AIM's own; 0 turns admission control off)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--hold",
        action="store_true",
        help="after seeding, print the URLs and pids and wait (for a profiler); Ctrl-C ends",
    )
    parser.add_argument("--keep", action="store_true", help="keep the server logs and spec file")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIO_NAMES)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if "verify-open" in scenarios and "verify" not in scenarios:
        parser.error("verify-open runs at half of what verify measures: name both")
    request_path = [s for s in scenarios if s in LABELS]
    try:
        fanout_options = fanout.Options(
            sizes=[int(n) for n in args.fanout_sizes.split(",") if n.strip()],
            events=args.fanout_events,
            rate=args.fanout_rate,
            relay=args.fanout_relay,
            deflate=args.fanout_deflate == "on",
            drain=args.fanout_drain,
            anchor=args.fanout_anchor == "on",
        )
    except ValueError:
        parser.error("--fanout-sizes takes comma-separated integers")

    database_url = os.environ.get("AIM_BENCH_DATABASE_URL")
    if not database_url or not database_url.startswith("postgres"):
        parser.error("set AIM_BENCH_DATABASE_URL to an empty PostgreSQL database (make bench does)")
    redis_url = os.environ.get("AIM_BENCH_REDIS_URL", "memory://")

    # make bench stops us with SIGTERM; turn it into an exception so `finally` stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    workdir = Path(tempfile.mkdtemp(prefix="aim-bench-"))
    servers: list[Server] = []
    try:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")}
        # Tortoise reads its pool's maximum from the URL; the floor gets the same (--pool).
        aim_database_url = f"{database_url}{'&' if '?' in database_url else '?'}maxsize={args.pool}"
        aim_env = {
            **base_env,
            "AIM_ENV": "production",
            # The clients open their organizations by `register`, all from this one address.
            "AIM_REGISTRATION": "open",
            "AIM_SIGNUP_RATE": "1000/hour",
            # One caller drives each scenario at hundreds of requests a second: its budget is charged
            # (so the cost of charging it is measured) but never runs out.
            "AIM_COST_BUDGET": "1000000000/minute",
            "AIM_SECRET_KEY": SECRET,
            "AIM_DATABASE_URL": aim_database_url,
            "AIM_REDIS_URL": redis_url,
            "AIM_HOST": "127.0.0.1",
            **({"AIM_RESPONSE_CACHE_SIZE": "0"} if args.response_cache == "off" else {}),
            **({"AIM_MAX_CONCURRENT_REQUESTS": str(args.admission)} if args.admission is not None else {}),
            # Production refuses loopback targets; discovery's MCP server listens on 127.0.0.1.
            **({"AIM_ALLOW_PRIVATE_TARGETS": "127.0.0.1"} if "discovery" in scenarios else {}),
        }
        print(f"migrating {database_url.rsplit('@', 1)[-1]}", flush=True)
        subprocess.run([*aimctl(), "migrate"], env=aim_env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

        if not request_path and not APART.keys() & set(scenarios) and not args.hold:
            return run_fanout(fanout_options, database_url, redis_url, base_env, workdir, args, {}, {}, {})

        aim_port, floor_port = free_port(), free_port()
        aim = start("aim", [*aimctl(), "serve", "--port", str(aim_port)], aim_env, aim_port, workdir)
        servers.append(aim)
        healthy(aim)
        data = asyncio.run(seed(aim.url, max(AGENT_COUNT, args.connections)))

        floor_env = {**base_env, "AIM_BENCH_DATABASE_URL": database_url, "AIM_BENCH_ORG_ID": data["organization_id"]}
        floor_command = [sys.executable, "-m", "bench.floor", "--port", str(floor_port), "--pool", str(args.pool)]
        floor = start(
            "floor",
            [*floor_command, "--issuer", aim.url],
            floor_env,
            floor_port,
            workdir,
        )
        servers.append(floor)
        healthy(floor)
        urls = {
            "floor": f"{floor.url}/agents",
            "graphql": f"{aim.url}/graphql",
            "verify-floor": f"{floor.url}/verification",
            "verify": f"{aim.url}/graphql",
            "verify-open": f"{aim.url}/graphql",
            "authorize-floor": f"{floor.url}/authorize",
            "authorize": f"{aim.url}/graphql",
            "token-floor": f"{floor.url}/oauth/token",
            "token": f"{aim.url}/oauth/token",
        }
        asyncio.run(same_agents(urls["floor"], urls["graphql"], data["token"]))
        if "verify-floor" in scenarios:
            asyncio.run(floor_verifies_honestly(urls["verify-floor"], data["agents"][0]))
        if "authorize-floor" in scenarios or "authorize" in scenarios:
            asyncio.run(same_decisions(urls["authorize-floor"], urls["authorize"], data["agents"][0]))

        spec = workdir / "spec.json"
        spec.touch(mode=0o600)
        spec.write_text(
            json.dumps(
                {"token": data["token"], "agents": data["agents"], "issuer": aim.url, "resource": BENCH_MCP_SERVER}
            )
        )
        postmaster = postmaster_pid(database_url)

        print(
            f"AIM (aimctl serve, AIM_ENV=production) pid {aim.process.pid} at {aim.url}; "
            f"floor pid {floor.process.pid} at {floor.url}"
        )
        print(
            f"both: one uvicorn worker, uvicorn auto = {loop_and_http()}, access log on (as aimctl serve), "
            f"PostgreSQL pool 1..{args.pool} connections; AIM response cache {args.response_cache}"
        )
        print(f"{platform.python_implementation()} {platform.python_version()}; {versions()}")
        print(
            f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"{args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s per scenario",
            flush=True,
        )
        if args.hold:
            print(f"holding; spec {spec}, postmaster {postmaster}. Ctrl-C to stop.", flush=True)
            while all(s.process.poll() is None for s in servers):
                time.sleep(1)
            return 1

        results: dict[str, dict] = {}
        for scenario in request_path:
            server = floor if scenario in FLOORS else aim
            watches = {"app": str(server.process.pid)}
            if postmaster:
                watches["postgres"] = f"{postmaster}+"
            print(f"running {LABELS[scenario]} ...", flush=True)
            if scenario == "verify-open":
                rate = results["verify"]["per_s"] / 2
                results[scenario] = run_load("verify", urls[scenario], spec, args, watches, rate=rate)
            else:
                results[scenario] = run_load(scenario, urls[scenario], spec, args, watches)
            for message, count in results[scenario]["error_samples"].items():
                print(f"    {count} x {message}")
        verdict = report(results) if results else {}
        discovery_results = None
        if "discovery" in scenarios:
            print(f"running (f) discovery of a {discovery.TOOLS}-tool MCP server ...", flush=True)
            discovery_results = discovery.run(
                aim.url, data["token"], aim.process.pid, workdir, base_env, args.discovery_runs
            )
            verdict |= discovery.report(discovery_results)
        detection_results = None
        if "detection" in scenarios:
            print(f"running (h) detection at {detection.RATE} events/s ...", flush=True)
            detection_results = detection.run(database_url, aim_env, aimctl(), workdir, args.duration)
            verdict |= detection.report(detection_results)
        audit_results = None
        if "audit" in scenarios:
            print(f"running (i) audit over {audit.ENTRIES:,} entries ...", flush=True)
            audit_results = audit.run(database_url, SECRET)
            verdict |= audit.report(audit_results)
        sdk_results = None
        if "sdk" in scenarios:
            print("running (j) the SDK's overhead ...", flush=True)
            sdk_results = sdk.run(aim.url, data["token"], workdir, args.duration)
            verdict |= sdk.report(sdk_results)
        hardening_results = None
        if "hardening" in scenarios:
            print("running (k) the agents page with production's checks on and off ...", flush=True)
            hardening_results = measure_sides(
                "aim-checks",
                {"on": [*aimctl(), "serve"], "off": [sys.executable, "-m", "bench.hardening"]},
                "graphql",
                {**aim_env, "AIM_RESPONSE_CACHE_SIZE": "0"},
                spec,
                args,
                workdir,
            )
            verdict |= hardening.report(hardening_results)
        audited_results = None
        if "audited" in scenarios:
            print("running (m) updateAgent in one organization, audited and unaudited ...", flush=True)
            audited_results = measure_sides(
                "aim-audit",
                {"on": [*aimctl(), "serve"], "off": [sys.executable, "-m", "bench.audited"]},
                "update-agent",
                aim_env,
                spec,
                args,
                workdir,
            )
            verdict |= audited.report(audited_results)
        mixed_results = None
        if "mixed" in scenarios:
            print(
                f"running (o) the agents page read while agents write {mixed.WRITES_PER_S:g} a second ...", flush=True
            )
            floor_reads = results.get("floor") or run_load("floor", urls["floor"], spec, args, {})
            mixed_results = mixed.run(
                lambda: run_load("graphql", urls["graphql"], spec, args, {}),
                lambda: run_load(
                    "agent-writes", urls["graphql"], spec, args, {}, rate=mixed.WRITES_PER_S, connections=mixed.WRITERS
                ),
                floor_reads,
            )
            verdict |= mixed.report(mixed_results)
        workers_results = None
        if "workers" in scenarios:
            print("running (n) one worker against two ...", flush=True)
            workers_results = {
                scenario: measure_sides(
                    f"aim-{scenario}-workers",
                    {side: [*aimctl(), "serve", "--workers", str(n)] for side, n in workers.SIDES.items()},
                    scenario,
                    {**aim_env, "AIM_RESPONSE_CACHE_SIZE": "0"},
                    spec,
                    args,
                    workdir,
                )
                for scenario in workers.SCENARIOS
            }
            verdict |= workers.report(workers_results)
        memory_results = None
        if "memory" in scenarios:
            print("running (l) memory ...", flush=True)
            memory_results = memory.run(
                aim.url,
                aim.process.pid,
                data["token"],
                lambda: run_load("graphql", urls["graphql"], spec, args, {"app": str(aim.process.pid)}),
            )
            verdict |= memory.report(memory_results)
        apart = {
            "discovery": discovery_results,
            "detection": detection_results,
            "audit": audit_results,
            "sdk": sdk_results,
            "hardening": hardening_results,
            "memory": memory_results,
            "audited": audited_results,
            "workers": workers_results,
            "mixed": mixed_results,
        }
        if "fanout" in scenarios:
            # The request-path servers are idle from here on; stop them so they share nothing with fan-out.
            for server in reversed(servers):
                stop(server)
            servers.clear()
            return run_fanout(fanout_options, database_url, redis_url, base_env, workdir, args, results, verdict, apart)
        write_json(args, results, verdict, **apart)
        return 1 if failed(results, apart) else 0
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        for server in servers:
            print(f"--- {server.name} log ---\n{tail(server.log)}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(servers):
            stop(server)
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
