"""The load generator, run as its own process so its CPU time is never the server's.

A fixed number of keep-alive connections (one worker task per connection) send requests back to
back for a warm-up and then for a measured window. Each connection writes prepared HTTP/1.1 bytes
and parses the response with httptools (uvicorn's own parser): the load shares the machine's two
cores with the servers, and a general-purpose client (aiohttp) cost about 1 ms of CPU a request,
as much as the floor itself. Only requests that complete inside the window count. Each successful
response is checked (HTTP 200, no GraphQL `errors`, 20 agents, a verified outcome, an allowed
action, the updated agent); anything else is an error. The result is one JSON object on stdout.

    python -m bench.load --scenario NAME (a key of SCENARIOS, below) \
        --url URL --spec spec.json [--connections 32] [--duration 10] [--warmup 3] [--rate R] [--watch name=pid[+]]...

With `--rate R` the load is an open loop instead: units start at R a second on a fixed schedule, each
on whichever of the connections is free, and a unit's latency runs from when it was due to start, so
time spent waiting for the server (or a free connection) counts, as a real client's would.

`spec.json` carries what the scenario needs: `token` (graphql, update-agent) and `agents`, a list of
`{"id": global id, "seed": base64 Ed25519 seed}` (verify, authorize, update-agent). `--watch` reports the CPU
seconds a process (with `+`: and its children, e.g. the PostgreSQL postmaster) spent in the window.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import math
import os
import secrets
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import httptools
import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

AGENTS_QUERY = "query Agents { agents(first: 20) { edges { node { id name status trustScore { score } } } } }"
CHALLENGE = """mutation Challenge($i: RequestChallengeInput!) {
  requestVerificationChallenge(input: $i) { id message } }"""
VERIFY = """mutation Verify($i: VerifyAgentInput!) {
  verifyAgent(input: $i) { verified failureReason agentToken agentTokenExpiresAt trustScore { score } } }"""
AUTHORIZE = """mutation Authorize($i: AuthorizeActionInput!) {
  authorizeAction(input: $i) { id allowed reason } }"""
UPDATE_AGENT = """mutation Update($i: UpdateAgentInput!) { updateAgent(input: $i) { agent { id } } }"""
AUTHORIZE_CAPABILITY = "db:read"  # granted to every agent the bench seeds
EXPECTED_AGENTS = 20
REQUEST_TIMEOUT_S = 30
# (e) signs its requests before the warm-up, enough for this many a second of the run (the floor of (a)
# serves about 1,300): signing and encoding one costs the load process about 70 us of CPU, which in
# the window would be taken from the server it measures. A connection whose signed requests run out
# (or grow older than PRESIGNED_MAX_AGE_S; the server accepts +-60 s) signs the rest as it goes, and
# the result counts them.
PRESIGN_RATE = 2500
PRESIGNED_MAX_AGE_S = 40.0


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


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.waiter: asyncio.Future | None = None

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        _, connection = await asyncio.get_running_loop().create_connection(cls, parts.hostname, parts.port)
        return connection

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Failed(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("the server closed the connection"))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def send(self, request: bytes) -> dict:
        """Sends one prepared request; returns the JSON body of a 200 response."""
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self.body.clear()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        status, raw = await self.waiter
        if status != 200:
            raise Failed(f"HTTP {status}: {raw[:120]!r}")
        return json.loads(raw)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def prepare(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    parts = urlsplit(url)
    lines = [
        f"{method} {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Accept: application/json",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    if body:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def graphql_request(url: str, query: str, variables: dict | None = None, token: str | None = None) -> bytes:
    body = json.dumps({"query": query, **({"variables": variables} if variables else {})}).encode()
    return prepare("POST", url, body, {"Authorization": f"Bearer {token}"} if token else None)


def _data(payload: dict) -> dict:
    if payload.get("errors"):
        raise Failed(payload["errors"][0].get("message", "GraphQL error"))
    return payload["data"]


class Scenario:
    """One unit of work; `steps` names the requests inside it, timed separately."""

    steps: tuple[str, ...] = ()

    async def run(self, connection: Connection, times: dict[str, float]) -> None:
        raise NotImplementedError


class Floor(Scenario):
    def __init__(self, url: str, spec: dict) -> None:
        self.request = prepare("GET", url)

    async def run(self, connection, times) -> None:
        _check_agents(await connection.send(self.request))


class GraphQLAgents(Scenario):
    def __init__(self, url: str, spec: dict) -> None:
        self.request = graphql_request(url, AGENTS_QUERY, token=spec["token"])

    async def run(self, connection, times) -> None:
        _check_agents(await connection.send(self.request))


class ChallengeResponse(Scenario):
    """requestVerificationChallenge, sign with the agent's own key, verifyAgent: one round trip. Each
    connection speaks for an agent of its own, as each agent's SDK would (the bench seeds one agent per
    connection); agents are shared only if there are fewer."""

    steps = ("challenge", "verify")

    def __init__(self, url: str, spec: dict) -> None:
        self.url = url
        self.agents = itertools.cycle([(a["id"], SigningKey(base64.b64decode(a["seed"]))) for a in spec["agents"]])
        self.agent_of: dict[Connection, tuple[str, SigningKey]] = {}

    async def run(self, connection, times) -> None:
        if connection not in self.agent_of:
            self.agent_of[connection] = next(self.agents)
        agent_id, key = self.agent_of[connection]
        t0 = time.perf_counter()
        challenge = _data(await connection.send(graphql_request(self.url, CHALLENGE, {"i": {"agentId": agent_id}})))[
            "requestVerificationChallenge"
        ]
        t1 = time.perf_counter()
        signature = base64.b64encode(key.sign(base64.b64decode(challenge["message"])).signature).decode()
        outcome = _data(
            await connection.send(
                graphql_request(self.url, VERIFY, {"i": {"challengeId": challenge["id"], "signature": signature}})
            )
        )["verifyAgent"]
        t2 = time.perf_counter()
        if not outcome["verified"] or not outcome["agentToken"]:
            raise Failed(f"not verified: {outcome['failureReason']}")
        times["challenge"], times["verify"] = t1 - t0, t2 - t1


def action_message(
    agent_id: str, capability: str, resource: str | None, timestamp: str, nonce: str, context: dict | None
) -> bytes:
    """PROTOCOL.md, "Action authorization": the bytes an agent signs. Built here from the document, not
    from aim_identity.protocol, so that the bench holds AIM to PROTOCOL.md; the floor signs alike."""
    digest = hashlib.sha256(rfc8785.dumps(context or {})).hexdigest()
    return "\n".join(["aim/action/v1", agent_id, capability, resource or "", timestamp, nonce, digest]).encode()


def signed_action(agent_id: str, key: SigningKey, capability: str = AUTHORIZE_CAPABILITY) -> dict:
    """An `AuthorizeActionInput` as an agent's SDK sends it: a timestamp of now (RFC 3339, seconds, Z),
    16 fresh random bytes of nonce, no resource, no context."""
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    signature = key.sign(action_message(agent_id, capability, None, timestamp, nonce, None)).signature
    return {
        "agentId": agent_id,
        "capability": capability,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": base64.b64encode(signature).decode(),
    }


class Authorize(Scenario):
    """authorizeAction: one signed, single-use request, answered allowed (the agent holds the grant).
    Each connection speaks for an agent of its own, as in ChallengeResponse. AIM (POST /graphql) and the
    floor (POST /authorize, bench/floor.py) are sent the very same bytes and answer in the same shape;
    anything but `allowed: true` is an error. Requests are signed before the warm-up (see PRESIGN_RATE),
    so the window measures the server, not the signing (`presign`)."""

    def __init__(self, url: str, spec: dict) -> None:
        self.url = url
        self.agents = [(a["id"], SigningKey(base64.b64decode(a["seed"]))) for a in spec["agents"]]
        self.pools: list[deque[tuple[float, bytes]]] = [deque() for _ in self.agents]
        self.agent_of: dict[Connection, int] = {}
        self.next_agent = itertools.count()
        self.signing = {"before_run": 0, "during_run": 0, "before_run_s": 0.0}

    def request(self, index: int) -> bytes:
        agent_id, key = self.agents[index]
        return graphql_request(self.url, AUTHORIZE, {"i": signed_action(agent_id, key)})

    def presign(self, connections: int, seconds: float) -> None:
        """Signs enough for PRESIGN_RATE requests a second over `seconds`, spread over the agents in use."""
        used = min(connections, len(self.agents))
        per_agent = math.ceil(PRESIGN_RATE * seconds / used)
        t0 = time.perf_counter()
        for index in range(used):
            self.pools[index].extend((time.monotonic(), self.request(index)) for _ in range(per_agent))
        self.signing["before_run"] = per_agent * used
        self.signing["before_run_s"] = round(time.perf_counter() - t0, 2)

    def take(self, index: int) -> bytes:
        pool = self.pools[index]
        if pool:
            signed_at, request = pool.popleft()
            if time.monotonic() - signed_at <= PRESIGNED_MAX_AGE_S:
                return request
            pool.clear()  # the rest were signed no later: sign from here on
        self.signing["during_run"] += 1
        return self.request(index)

    async def run(self, connection, times) -> None:
        if connection not in self.agent_of:
            self.agent_of[connection] = next(self.next_agent) % len(self.agents)
        decision = _data(await connection.send(self.take(self.agent_of[connection])))["authorizeAction"]
        if decision["allowed"] is not True:
            raise Failed(f"denied: {decision['reason']}")


class TokenIssue(Authorize):
    """An access token from the token endpoint: `client_credentials` with a client assertion signed by
    the agent's key (EdDSA, a fresh jti each), for the bench's MCP server (`spec["resource"]`), with the
    audience `spec["issuer"]`. AIM and the floor (POST /oauth/token, bench/floor.py) get the same bytes;
    anything but a 200 with an `access_token` is an error. Presigned like Authorize."""

    def __init__(self, url: str, spec: dict) -> None:
        super().__init__(url, spec)
        self.issuer, self.resource = spec["issuer"], spec["resource"]
        self.private = [Ed25519PrivateKey.from_private_bytes(bytes(key)) for _, key in self.agents]

    def request(self, index: int) -> bytes:
        agent_id = self.agents[index][0]
        now = int(time.time())
        claims = {"iss": agent_id, "sub": agent_id, "aud": self.issuer, "iat": now, "exp": now + 120}
        assertion = jwt.encode({**claims, "jti": secrets.token_urlsafe(16)}, self.private[index], algorithm="EdDSA")
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "resource": self.resource,
            }
        )
        return prepare("POST", self.url, form.encode(), content_type="application/x-www-form-urlencoded")

    async def run(self, connection, times) -> None:
        if connection not in self.agent_of:
            self.agent_of[connection] = next(self.next_agent) % len(self.agents)
        answer = await connection.send(self.take(self.agent_of[connection]))
        if not answer.get("access_token"):
            raise Failed(f"no token: {answer}")


class UpdateAgent(Scenario):
    """updateAgent: a new description for the connection's own agent, so that no two connections wait
    on one agent's row and what they share is their organization (its audit chain and data version)."""

    def __init__(self, url: str, spec: dict) -> None:
        self.url, self.token = url, spec["token"]
        self.agents = itertools.cycle([a["id"] for a in spec["agents"]])
        self.agent_of: dict[Connection, str] = {}
        self.revision = itertools.count()

    async def run(self, connection, times) -> None:
        if connection not in self.agent_of:
            self.agent_of[connection] = next(self.agents)
        agent_id = self.agent_of[connection]
        variables = {"i": {"id": agent_id, "description": f"revision {next(self.revision)}"}}
        updated = _data(await connection.send(graphql_request(self.url, UPDATE_AGENT, variables, self.token)))
        if updated["updateAgent"]["agent"]["id"] != agent_id:
            raise Failed(f"updated another agent: {updated}")


class AgentWrites(Scenario):
    """What agents write into their organization, in turn: a challenge-response round trip
    (ChallengeResponse), then an authorizeAction decision (Authorize, signed as it goes)."""

    steps = ("verification", "decision")

    def __init__(self, url: str, spec: dict) -> None:
        self.turns = itertools.cycle(zip(self.steps, (ChallengeResponse(url, spec), Authorize(url, spec)), strict=True))

    async def run(self, connection, times) -> None:
        step, unit = next(self.turns)
        t0 = time.perf_counter()
        await unit.run(connection, {})
        times[step] = time.perf_counter() - t0


SCENARIOS = {
    "floor": Floor,
    "graphql": GraphQLAgents,
    "verify": ChallengeResponse,
    "verify-floor": ChallengeResponse,
    "authorize-floor": Authorize,
    "authorize": Authorize,
    "token-floor": TokenIssue,
    "token": TokenIssue,
    "update-agent": UpdateAgent,
    "agent-writes": AgentWrites,
}


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


class Window:
    """The measured window after the warm-up: its samples, errors and the CPU spent in it."""

    def __init__(self, scenario: Scenario, warmup: float, duration: float, watches: list[Watch]) -> None:
        self.loop = asyncio.get_running_loop()
        self.begin = self.loop.time()  # the warm-up's start
        self.start = self.begin + warmup
        self.end = self.start + duration
        self.warmup, self.duration, self.watches = warmup, duration, watches
        self.latencies: list[float] = []
        self.step_times: dict[str, list[float]] = {s: [] for s in scenario.steps}
        self.errors: Counter[str] = Counter()
        self.cpu_self: list[float] = []

    async def account(self) -> None:
        await asyncio.sleep(max(0.0, self.start - self.loop.time()))
        for w in self.watches:
            w.start = w.sample()
        self.cpu_self.append(time.process_time())
        await asyncio.sleep(max(0.0, self.end - self.loop.time()))
        for w in self.watches:
            w.end = w.sample()
        self.cpu_self.append(time.process_time())

    def record(self, at: float, elapsed: float, times: dict[str, float], failure: str | None) -> None:
        """A unit that started (closed loop: ended) at `at` counts if that falls in the window."""
        if self.start <= at <= self.end:
            if failure is None:
                self.latencies.append(elapsed)
                for step, t in times.items():
                    self.step_times[step].append(t)
            else:
                self.errors[failure] += 1
        elif failure is not None and not self.errors and at < self.start:
            # A warm-up that fails outright fails fast rather than after the whole window.
            self.errors[f"(warm-up) {failure}"] += 1

    def result(self, connections: int) -> dict:
        errors = self.errors
        result = {
            "connections": connections,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "completed": len(self.latencies),
            "errors": sum(v for k, v in errors.items() if not k.startswith("(warm-up)")),
            "error_samples": dict(errors.most_common(5)),
            "per_s": round(len(self.latencies) / self.duration, 1),
            "latency_ms": summary_ms(self.latencies),
            "cpu_s": {w.name: round(w.cpu_seconds, 3) for w in self.watches},
        }
        result["cpu_s"]["load"] = round(self.cpu_self[1] - self.cpu_self[0], 3) if len(self.cpu_self) == 2 else None
        if self.step_times:
            result["steps_ms"] = {s: summary_ms(v) for s, v in self.step_times.items()}
        return result


async def attempt(scenario: Scenario, connection: Connection, url: str) -> tuple[Connection, dict, str | None]:
    """One unit on `connection`: the connection to go on with, the steps' times and the failure, if any."""
    times: dict[str, float] = {}
    try:
        await asyncio.wait_for(scenario.run(connection, times), REQUEST_TIMEOUT_S)
        return connection, times, None
    except (Failed, OSError, KeyError, TypeError, ValueError) as exc:  # OSError includes TimeoutError
        if isinstance(exc, OSError):  # its state is unknown: start afresh
            connection.close()
            connection = await Connection.open(url)
        return connection, times, f"{type(exc).__name__}: {exc}"[:200]


async def drive(
    scenario: Scenario, url: str, connections: int, warmup: float, duration: float, watches: list[Watch]
) -> dict:
    """Closed loop: each connection sends its next unit as soon as the last one is answered."""
    window = Window(scenario, warmup, duration, watches)
    loop = window.loop

    async def worker() -> None:
        connection = await Connection.open(url)
        while loop.time() < window.end:
            t0 = time.perf_counter()
            connection, times, failure = await attempt(scenario, connection, url)
            window.record(loop.time(), time.perf_counter() - t0, times, failure)
        connection.close()

    accountant = asyncio.create_task(window.account())
    await asyncio.gather(*(worker() for _ in range(connections)))
    await accountant
    return window.result(connections)


async def drive_open(
    scenario: Scenario, url: str, connections: int, warmup: float, duration: float, rate: float, watches: list[Watch]
) -> dict:
    """Open loop: a unit is due every 1/rate seconds, whatever the server's pace."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(await Connection.open(url))
    window = Window(scenario, warmup, duration, watches)
    loop = window.loop

    async def arrival(due: float) -> None:
        connection = await free.get()
        connection, times, failure = await attempt(scenario, connection, url)
        free.put_nowait(connection)
        window.record(due, loop.time() - due, times, failure)

    accountant = asyncio.create_task(window.account())
    units = []
    for n in itertools.count():
        due = window.begin + n / rate
        if due > window.end:
            break
        await asyncio.sleep(max(0.0, due - loop.time()))
        units.append(asyncio.create_task(arrival(due)))
    await asyncio.gather(*units)
    await accountant
    while not free.empty():
        free.get_nowait().close()
    result = window.result(connections)
    result["rate_per_s"] = rate
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--spec", help="JSON file with the token and the agents' keys")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rate", type=float, help="an open loop of this many units a second (see above)")
    parser.add_argument("--watch", action="append", default=[], type=Watch.parse, metavar="NAME=PID[+]")
    args = parser.parse_args()
    spec = {}
    if args.spec:
        with open(args.spec) as f:
            spec = json.load(f)
    scenario = SCENARIOS[args.scenario](args.url, spec)
    if isinstance(scenario, Authorize):
        scenario.presign(args.connections, args.warmup + args.duration)
    try:
        import uvloop  # the client's own overhead is noise in every number: keep it low
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    if args.rate:
        driven = drive_open(scenario, args.url, args.connections, args.warmup, args.duration, args.rate, args.watch)
    else:
        driven = drive(scenario, args.url, args.connections, args.warmup, args.duration, args.watch)
    result = run(driven)
    result["scenario"] = args.scenario
    if isinstance(scenario, Authorize):
        result["signing"] = scenario.signing
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
