"""The fan-out scenario: N WebSocket subscribers on one API process, each receiving the same events.

For each N (100, 1,000 and 5,000 by default) it starts a fresh API process (`aimctl serve`) and,
with `--fanout-relay worker` (the default, the production layout), one `aimctl worker` relaying the
outbox through the bench Redis; with `--fanout-relay inprocess` the API runs with AIM_ENV=development
and relays in-process. Then:

1. registers a new organization; opens one anchor subscription, held to the end, so that the N join
   a channel already subscribed (`--fanout-anchor off` drops it: concurrent first subscriptions race
   in broadcaster and some never receive anything, see README "Fan-out"); warms the API: 20
   subscriptions receive one event, then close;
2. reads the API's RSS (VmRSS) once its CPU is idle: the baseline;
3. opens N graphql-transport-ws connections from 1-4 subscriber processes (`bench.subscribers`),
   each `subscription { agentEvents { kind agentId agent { createdAt } } }`, authenticated with a
   Bearer token in connection_init, a bounded number of handshakes in flight at a time;
4. once the API is idle again, reads its RSS: (held - baseline) / N is the memory per idle
   subscription; then publishes one probe agent and waits until every subscription has it, which
   proves all N are subscribed;
5. publishes `--fanout-events` createAgent mutations at `--fanout-rate` per second and waits (at
   most `--fanout-drain` seconds after the last) for every subscriber to receive each agent.created.

Latency is the subscriber's receive time minus the agent's `createdAt`, which the server stamps in
the inserting transaction (the same machine's clock): commit to delivery, slightly over-stated by
the rest of the transaction (the publisher reports createdAt -> mutation response as a bound).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.harness import free_port, gql, raise_nofile, tail, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIPTION = "subscription Fanout { agentEvents { kind agentId agent { createdAt } } }"
REGISTER = """mutation($i: RegisterInput!) {
  register(input: $i) { accessToken user { id organization { id } } } }"""
CREATE_AGENT = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id createdAt } } }"""
PASSWORD = "correct horse battery staple"

TARGET_P99_MS, TARGET_P99_AT = 250.0, 1000
TARGET_HELD = 5000
TARGET_KB_PER_SUBSCRIPTION = 50.0
PER_PROCESS = 250  # subscribers per subscriber process, up to SUBSCRIBER_PROCESSES processes
SUBSCRIBER_PROCESSES = 4  # receiving is CPU-bound in Python: spread it, so the clients are not what is measured
HANDSHAKES_IN_FLIGHT = 48  # across all subscriber processes
WARM_SUBSCRIBERS = 20
MUTATION_TIMEOUT_S = 120.0  # a createAgent unanswered this long counts as not published (a measured outcome)
STALL_S = 15.0  # a wait ends early once no subscriber has received anything new for this long
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Options:
    sizes: list[int]
    events: int = 100
    rate: float = 5.0
    relay: str = "worker"  # worker: AIM_ENV=production + aimctl worker; inprocess: AIM_ENV=development
    deflate: bool = True
    drain: float = 60.0
    anchor: bool = True  # one subscription holds the channel before the N subscribe (see measure)


class FanoutError(RuntimeError):
    pass


# ---------------------------------------------------------------- processes


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise FanoutError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class Processes:
    """The API, the worker and the subscriber processes of one run; `stop_all` ends every one of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.started.append((name, process))
        return process

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def check(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise FanoutError(f"{name} exited with {process.returncode}:\n{tail(self.log(name))}")

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _, process in reversed(self.started):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.started.clear()


async def quiesce(pid: int, timeout: float = 45.0, window: float = 0.5, idle_share: float = 0.05) -> float:
    """Waits until the process has used under `idle_share` of a core for two windows in a row; returns the
    seconds waited (or the timeout)."""
    start = time.monotonic()
    quiet, last = 0, cpu_seconds(pid)
    while time.monotonic() - start < timeout:
        await asyncio.sleep(window)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < idle_share * window else 0
        last = now
        if quiet >= 2:
            break
    return round(time.monotonic() - start, 2)


class Subscribers:
    """One `python -m bench.subscribers` process, spoken to in JSON lines."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process

    @classmethod
    async def start(cls, name: str, setup: dict, log: Path) -> Subscribers:
        with open(log, "ab") as err:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.subscribers",
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                limit=256 * 1024 * 1024,
            )
        self = cls(name, process)
        await self.send(setup)
        return self

    async def send(self, obj: dict) -> None:
        self.process.stdin.write((json.dumps(obj) + "\n").encode())
        await self.process.stdin.drain()

    async def receive(self, event: str, timeout: float) -> dict:
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise FanoutError(f"{self.name}: no '{event}' in {timeout:.0f} s") from None
        if not line:
            raise FanoutError(f"{self.name} exited ({await self.process.wait()}) before '{event}'")
        message = json.loads(line)
        if message.get("event") != event:
            raise FanoutError(f"{self.name}: expected '{event}', got {str(message)[:300]}")
        return message

    async def ask(self, command: dict, event: str, timeout: float) -> dict:
        await self.send(command)
        return await self.receive(event, timeout)

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        try:
            self.process.stdin.close()  # end of input: it closes its connections and exits
            await asyncio.wait_for(self.process.wait(), 30)
        except (TimeoutError, OSError):
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()


# ---------------------------------------------------------------- GraphQL over HTTP


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def register(session: aiohttp.ClientSession, url: str) -> str:
    suffix = uuid.uuid4().hex[:8]
    data = await gql(
        session,
        url,
        REGISTER,
        i={
            "email": f"fanout-{suffix}@example.com",
            "password": PASSWORD,
            "name": "Fan-out",
            "organizationName": f"Fan-out {suffix}",
        },
    )
    return data["register"]["accessToken"]


async def create_agent(
    session: aiohttp.ClientSession, url: str, token: str, name: str
) -> tuple[str, float, float, float]:
    """(agent id, createdAt, when the request was sent, when the response arrived)."""
    sent = time.time()
    agent = (await gql(session, url, CREATE_AGENT, token, i={"name": name}))["createAgent"]["agent"]
    return agent["id"], timestamp(agent["createdAt"]), sent, time.time()


async def publish(
    session: aiohttp.ClientSession, url: str, token: str, count: int, rate: float, prefix: str
) -> tuple[list[tuple[str, float, float, float]], list[str], float]:
    """`count` createAgent mutations, each sent at its time on a fixed schedule however long the earlier ones
    take (open loop): a busy API delays the commits, not the schedule. Returns the published agents, the
    failures and the seconds from the first send to the last response."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    errors: list[str] = []

    async def one(i: int) -> tuple[str, float, float, float] | None:
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        try:
            return await create_agent(session, url, token, f"{prefix}-{i:04d}")
        except TimeoutError:
            errors.append(f"timeout: no answer in {MUTATION_TIMEOUT_S:g} s")
            return None
        except (RuntimeError, aiohttp.ClientError) as exc:  # a failed mutation, FanoutError included
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return None

    done = await asyncio.gather(*(one(i) for i in range(count)))
    return [d for d in done if d is not None], errors, loop.time() - start


# ---------------------------------------------------------------- one N


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


async def spawn(n: int, ws_url: str, token: str, options: Options, workdir: Path, tag: str) -> list[Subscribers]:
    processes = min(SUBSCRIBER_PROCESSES, max(1, math.ceil(n / PER_PROCESS)))
    shares = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    concurrency = max(4, HANDSHAKES_IN_FLIGHT // processes)
    started = []
    for i, share in enumerate(shares):
        setup = {
            "url": ws_url,
            "token": token,
            "count": share,
            "concurrency": concurrency,
            "query": SUBSCRIPTION,
            "deflate": options.deflate,
            "open_timeout": 30,
        }
        started.append(await Subscribers.start(f"subscribers-{tag}-{i}", setup, workdir / f"subscribers-{tag}-{i}.log"))
    return started


async def ask_all(fleet: list[Subscribers], command: dict, event: str, timeout: float) -> list[dict]:
    return list(await asyncio.gather(*(s.ask(command, event, timeout) for s in fleet)))


async def warm(
    session: aiohttp.ClientSession, url: str, ws_url: str, token: str, options: Options, workdir: Path, tag: str
) -> None:
    """Every path the measurement takes, once: handshakes, subscriptions, a delivery, closing."""
    fleet = await spawn(WARM_SUBSCRIBERS, ws_url, token, options, workdir, f"{tag}-warm")
    try:
        connected = await fleet[0].receive("connected", 90)
        if connected["ok"] != WARM_SUBSCRIBERS:
            raise FanoutError(
                f"warm-up: {connected['ok']}/{WARM_SUBSCRIBERS} subscribers connected: {connected['errors']}"
            )
        await asyncio.sleep(0.5)
        agent_id, *_ = await create_agent(session, url, token, f"warm-{tag}")
        waited = await fleet[0].ask({"cmd": "wait", "ids": [agent_id], "timeout": 30}, "waited", 60)
        if not waited["complete"]:
            raise FanoutError(f"warm-up: the event reached {waited['seen']} of {WARM_SUBSCRIBERS} subscribers")
        await fleet[0].ask({"cmd": "report", "ids": []}, "report", 30)
    finally:
        for s in fleet:
            await s.stop()


async def database_transactions(database_url: str) -> int:
    """Committed + rolled-back transactions in the bench database so far: every autocommit query is one."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()


async def measure(n: int, url: str, api_pid: int, options: Options, database_url: str, workdir: Path, say) -> dict:
    graphql = f"{url}/graphql"
    ws_url = graphql.replace("http://", "ws://", 1)
    result: dict = {"n": n}
    timeout = aiohttp.ClientTimeout(total=MUTATION_TIMEOUT_S)
    anchor: list[Subscribers] = []
    fleet: list[Subscribers] = []
    async with aiohttp.ClientSession(timeout=timeout) as session:
        token = await register(session, graphql)
        try:
            if options.anchor:
                # One subscription alone first, held to the end: the N then join a channel that is already
                # subscribed, instead of racing to subscribe it (see README, "Fan-out").
                anchor = await spawn(1, ws_url, token, options, workdir, f"{n}-anchor")
                if (await anchor[0].receive("connected", 60))["ok"] != 1:
                    raise FanoutError("the anchor subscription did not connect")
                await asyncio.sleep(0.5)
            await warm(session, graphql, ws_url, token, options, workdir, str(n))
            result["settle_s"] = {"baseline": await quiesce(api_pid)}
            await asyncio.sleep(0.5)
            base = rss_kb(api_pid)

            t0 = time.monotonic()
            fleet = await spawn(n, ws_url, token, options, workdir, str(n))
            result["processes"] = len(fleet)
            connect_timeout = 60 + n * 0.05
            connected = await asyncio.gather(*(s.receive("connected", connect_timeout) for s in fleet))
            result["connect_s"] = round(time.monotonic() - t0, 2)
            result["connected"] = sum(c["ok"] for c in connected)
            result["connect_failures"] = {k: v for c in connected for k, v in c["errors"].items()}
            say(
                f"    {result['connected']:,}/{n:,} connected in {result['connect_s']:.1f} s"
                + (f"; failures: {result['connect_failures']}" if result["connect_failures"] else "")
            )

            result["settle_s"]["held"] = await quiesce(api_pid)
            await asyncio.sleep(0.5)
            held = rss_kb(api_pid)
            result["rss_kb"] = {"baseline": base, "held": held}
            result["kb_per_subscription"] = round((held - base) / max(1, result["connected"]), 2)
            say(
                f"    API VmRSS {base / 1024:.1f} MB -> {held / 1024:.1f} MB with the subscriptions idle:"
                f" {result['kb_per_subscription']:.1f} KB each"
            )

            # One probe event proves every connection's subscription is live before the measured ones.
            probe, *_ = await create_agent(session, graphql, token, f"probe-{n}")
            probe_timeout = 30 + n * 0.03
            waited = await ask_all(
                fleet,
                {"cmd": "wait", "ids": [probe], "timeout": probe_timeout, "stall": STALL_S},
                "waited",
                probe_timeout + 30,
            )
            result["subscribed"] = sum(w["seen"][probe] for w in waited)
            result["probe_s"] = max(w["waited_s"] for w in waited)
            say(f"    the probe event reached {result['subscribed']:,} subscriptions in {result['probe_s']:.1f} s")
            result["settle_s"]["probe"] = await quiesce(api_pid)

            cpu0, t_publish = cpu_seconds(api_pid), time.monotonic()
            xacts0 = await database_transactions(database_url)
            published, errors, publish_s = await publish(
                session, graphql, token, options.events, options.rate, f"fanout-{n}"
            )
            result["published"] = len(published)
            result["publish_errors"] = errors
            result["publish_s"] = round(publish_s, 2)
            bias = sorted(received - created for _, created, _, received in published)
            result["created_to_response_ms"] = {
                "p50": round(percentile(bias, 50) * 1000, 1) if bias else None,
                "max": round(bias[-1] * 1000, 1) if bias else None,
            }
            trips = sorted(received - sent for _, _, sent, received in published)
            result["mutation_ms"] = {
                "p50": round(percentile(trips, 50) * 1000, 1) if trips else None,
                "max": round(trips[-1] * 1000, 1) if trips else None,
            }
            say(
                f"    {len(published)} createAgent answered in {publish_s:.1f} s (mutation round trip p50"
                f" {fmt(result['mutation_ms']['p50'], 0)} ms, max {fmt(result['mutation_ms']['max'], 0)} ms)"
            )
            ids = [agent_id for agent_id, *_ in published]
            drained = await ask_all(
                fleet,
                {"cmd": "wait", "ids": ids, "timeout": options.drain, "stall": STALL_S},
                "waited",
                options.drain + 60,
            )
            result["drain_s"] = max(d["waited_s"] for d in drained)
            result["drained"] = all(d["complete"] for d in drained)
            result["api_cpu_s"] = round(cpu_seconds(api_pid) - cpu0, 2)
            result["window_s"] = round(time.monotonic() - t_publish, 2)
            result["rss_kb"]["after"] = rss_kb(api_pid)
            await asyncio.sleep(1.0)  # PostgreSQL publishes its counters about once a second
            result["db_transactions"] = await database_transactions(database_url) - xacts0

            reports = await ask_all(fleet, {"cmd": "report", "ids": ids, "probes": [probe]}, "report", 120)
        finally:
            await asyncio.gather(*(s.stop() for s in [*fleet, *anchor]), return_exceptions=True)

    latencies = sorted(v for r in reports for v in r["latencies_ms"])
    result["held"] = sum(r["alive"] for r in reports)
    result["closed_by_server"] = {k: v for r in reports for k, v in r["closed_by_server"].items()}
    result["operation_errors"] = {k: v for r in reports for k, v in r["operation_errors"].items()}
    result["duplicates"] = sum(r["duplicates"] for r in reports)
    result["expected"] = n * options.events
    result["delivered"] = len(latencies)
    result["deliveries_per_s"] = round(len(latencies) / result["window_s"], 1)
    probes = sorted(v for r in reports for v in r["probe_latencies_ms"])
    result["probe_latency_ms"] = {
        "p50": percentile(probes, 50),
        "p99": percentile(probes, 99),
        "max": probes[-1] if probes else None,
    }
    result["missing"] = result["expected"] - result["delivered"]
    result["latency_ms"] = {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else None,
    }
    result["subscriber_cpu_s"] = round(sum(r["cpu_s"] for r in reports), 2)
    result["subscriber_loop_lag_ms"] = max((r["loop_lag_ms"]["max"] or 0) for r in reports)
    return result


def run_one(
    n: int, options: Options, env: dict[str, str], database_url: str, aimctl: list[str], workdir: Path, say
) -> dict:
    processes = Processes(workdir)
    port = free_port()
    api_env = {
        **env,
        "AIM_ENV": "production" if options.relay == "worker" else "development",
        # One client opens the organization by `register`, run after run from this one address.
        "AIM_REGISTRATION": "open",
        "AIM_SIGNUP_RATE": "1000/hour",
        "AIM_WS_MAX_CONNECTIONS_PER_PRINCIPAL": str(max(10_000, 2 * n)),
    }
    try:
        api = processes.start("api", [*aimctl, "serve", "--port", str(port)], api_env)
        if options.relay == "worker":
            processes.start("worker", [*aimctl, "worker"], api_env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(
            url,
            processes.check,
            lambda: FanoutError(f"the API did not become healthy in time:\n{tail(processes.log('api'))}"),
        )
        say(f"  N = {n:,}: API pid {api.pid} at {url}")
        try:
            result = asyncio.run(measure(n, url, api.pid, options, database_url, workdir, say))
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise FanoutError(
                f"N = {n}: {type(exc).__name__}: {exc}\n--- api log ---\n{tail(processes.log('api'))}"
            ) from exc
        processes.check()  # the API and the worker must have survived the run
        return result
    finally:
        processes.stop_all()


# ---------------------------------------------------------------- all of them


def describe(options: Options) -> str:
    relay = (
        "AIM_ENV=production API + one `aimctl worker` relaying the outbox "
        "(woken by NOTIFY at each commit, polling every 0.1 s besides)"
        if options.relay == "worker"
        else "AIM_ENV=development API relaying the outbox in-process (nudged on commit)"
    )
    return (
        f"{relay}, broker Redis; subscribers: {PER_PROCESS:,} raw websockets connections per `bench.subscribers` "
        f"process (at most {SUBSCRIBER_PROCESSES}) (permessage-deflate {'offered' if options.deflate else 'off'}), "
        f"{HANDSHAKES_IN_FLIGHT} handshakes in flight"
        f"{', after one anchor subscription' if options.anchor else ', no anchor subscription'};"
        f" {options.events} createAgent at {options.rate:g}/s, drain <= {options.drain:g} s"
    )


def run(
    options: Options,
    database_url: str,
    redis_url: str,
    secret: str,
    aimctl: list[str],
    workdir: Path,
    base_env: dict[str, str],
) -> dict:
    """Every N in turn, each on a fresh API process. Raises FanoutError on a failure of the bench itself."""
    # The API inherits this: it holds one socket per subscriber.
    raise_nofile(max(options.sizes) * 2 + 1024)
    env = {
        **base_env,
        "AIM_SECRET_KEY": secret,
        "AIM_DATABASE_URL": database_url,
        "AIM_REDIS_URL": redis_url,
        "AIM_HOST": "127.0.0.1",
    }

    def say(text: str) -> None:
        print(text, flush=True)

    say(f"fan-out: {describe(options)}")
    results = {}
    for n in options.sizes:
        results[str(n)] = run_one(n, options, env, database_url, aimctl, workdir, say)
    return {"setup": describe(options), "runs": results}


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(fanout: dict) -> dict:
    runs = fanout["runs"]
    header = (
        f"{'N':>6} {'procs':>5} {'connected':>9} {'subscribed':>10} {'held':>6} {'delivered':>10} {'missing':>8}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'1 event p50/p99 ms':>18} {'deliv/s':>8} {'KB/sub':>7}"
        f" {'RSS MB':>10}"
    )
    print()
    print(f"fan-out: {fanout['setup']}")
    print(header)
    print("-" * len(header))
    for r in runs.values():
        rss, lat, one = r["rss_kb"], r["latency_ms"], r["probe_latency_ms"]
        print(
            f"{r['n']:>6,} {r['processes']:>5} {r['connected']:>9,} {r['subscribed']:>10,} {r['held']:>6,}"
            f" {r['delivered']:>10,} {r['missing']:>8,} {fmt(lat['p50']):>8} {fmt(lat['p99']):>8} {fmt(lat['max']):>8}"
            f" {fmt(one['p50'], 0) + ' / ' + fmt(one['p99'], 0):>18} {fmt(r['deliveries_per_s'], 0):>8}"
            f" {fmt(r['kb_per_subscription']):>7} {rss['baseline'] / 1024:>4.0f}->{rss['held'] / 1024:<5.0f}"
        )
    print(
        "(p50/p99/max: subscriber receive time - agent.createdAt over the agent.created deliveries that arrived;"
        " missing: N x events - delivered; 1 event: the probe, one event to all N on an idle API;"
        " deliv/s: agent.created deliveries per second from the first publish to the end of the drain;"
        " KB/sub: API VmRSS with N idle subscriptions minus after warm-up, per connection; RSS MB: those two)"
    )
    for r in runs.values():
        notes = []
        if r["connect_failures"]:
            notes.append(f"connect failures {r['connect_failures']}")
        if r["subscribed"] < r["connected"]:
            notes.append(f"{r['connected'] - r['subscribed']:,} connected subscriptions never received the probe")
        if r["closed_by_server"]:
            notes.append(f"closed by the server {r['closed_by_server']}")
        if r["operation_errors"]:
            notes.append(f"operation errors {r['operation_errors']}")
        if r["duplicates"]:
            notes.append(f"{r['duplicates']} duplicate deliveries")
        if r["publish_errors"]:
            notes.append(
                f"{len(r['publish_errors'])} of {r['published'] + len(r['publish_errors'])} createAgent"
                f" failed, e.g. {r['publish_errors'][0]}"
            )
        notes.append(
            f"connect {r['connect_s']:g} s; {r['published']} createAgent answered in {r['publish_s']:g} s"
            f" (round trip p50 {fmt(r['mutation_ms']['p50'], 0)} ms, max {fmt(r['mutation_ms']['max'], 0)} ms;"
            f" createdAt->response p50 {fmt(r['created_to_response_ms']['p50'])} ms)"
        )
        notes.append(("drained" if r["drained"] else "NOT drained") + f" {r['drain_s']:g} s after the last response")
        if r["published"]:
            notes.append(
                f"API CPU {r['api_cpu_s']:g} s = {1000 * r['api_cpu_s'] / max(1, r['delivered']):.2f} ms per"
                f" delivery; {r['db_transactions'] / max(1, r['delivered']):,.1f} database transactions per"
                f" delivery (PostgreSQL's counters, flushed about once a second)"
            )
        notes.append(f"API VmRSS after the drain {r['rss_kb']['after'] / 1024:,.0f} MB")
        notes.append(
            f"subscriber processes CPU {r['subscriber_cpu_s']:g} s, loop lag max {fmt(r['subscriber_loop_lag_ms'])} ms"
        )
        print(f"  N={r['n']:,}: " + "; ".join(notes))

    verdict: dict = {}
    print()
    at = runs.get(str(TARGET_P99_AT))
    if at:
        p99 = at["latency_ms"]["p99"]
        ok = at["missing"] == 0 and p99 is not None and p99 < TARGET_P99_MS
        verdict["fanout_p99_pass"] = ok
        print(
            f"fan-out p99 at {TARGET_P99_AT:,} subscribers = {fmt(p99)} ms, {at['missing']:,} missing"
            f"   (target < {TARGET_P99_MS:.0f} ms, none missing)  {'PASS' if ok else 'MISS'}"
        )
    big = runs.get(str(TARGET_HELD))
    if big:
        ok = big["connected"] == big["subscribed"] == big["held"] == TARGET_HELD
        verdict["fanout_held_pass"] = ok
        print(
            f"fan-out {TARGET_HELD:,} subscribers on one process: {big['connected']:,} connected,"
            f" {big['subscribed']:,} subscribed, {big['held']:,} held to the end"
            f"   (target all {TARGET_HELD:,})  {'PASS' if ok else 'MISS'}"
        )
    for r in runs.values():
        ok = r["kb_per_subscription"] < TARGET_KB_PER_SUBSCRIPTION
        verdict[f"fanout_kb_{r['n']}_pass"] = ok
        print(
            f"fan-out memory per idle subscription at {r['n']:,} = {fmt(r['kb_per_subscription'])} KB"
            f"   (target < {TARGET_KB_PER_SUBSCRIPTION:.0f} KB)  {'PASS' if ok else 'MISS'}"
        )
    return verdict


def failed(fanout: dict) -> bool:
    """Errors of the run itself (not missed targets): mutations that failed other than by timing out."""
    return any(not e.startswith("timeout") for r in fanout["runs"].values() for e in r["publish_errors"])
