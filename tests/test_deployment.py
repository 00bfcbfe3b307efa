"""What a deployment runs: the compose file, and the real-time layer across real processes (`aimctl
serve` replicas and `aimctl worker` relays on one PostgreSQL and one Redis). An event is delivered
across replicas, survives a Redis outage, survives a relay killed with SIGKILL mid-publish, and
reaches each subscriber exactly once however many relays run; a caller's budget of query cost is one
budget across replicas.

Every process here is a subprocess with its own log file under the test's tmp_path; each test gets its
own database, cloned from one migrated template."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.events import kinds
from tests.conftest import TEST_SECRET, database_url, free_port, on_postgres_server, postgres_server
from tests.mcp.fixtures import mcp_fixture
from tests.support import BIN, REPO, AgentKeys, Api, Org, create_agent, eventually, register

ROOT = Path(__file__).resolve().parent.parent
AIMCTL = next(
    (str(p) for p in (Path(sys.executable).with_name("aimctl"), ROOT / ".venv/bin/aimctl") if p.exists()),
    shutil.which("aimctl"),
)
PG_SERVER = postgres_server()
REDIS_URL = os.environ.get("AIM_TEST_REDIS_URL", "")
REDIS_SERVER = os.environ.get("AIM_TEST_REDIS_SERVER") or shutil.which("redis-server")

pytestmark = pytest.mark.skipif(
    PG_SERVER is None or not REDIS_URL.startswith("redis"),
    reason="multi-process real-time tests need PostgreSQL and Redis (AIM_TEST_DATABASE_URL=postgres://…, "
    "AIM_TEST_REDIS_URL=redis://…; scripts/test-services.sh sets both)",
)

AGENT_EVENTS = "subscription { agentEvents { kind agentId agent { name } } }"


# ---- processes ---------------------------------------------------------------------------------------


class Proc:
    """A subprocess whose output goes to a log file (never a pipe, which could fill and block it)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - the process writes to it until stop()
        self.popen = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} log ---\n" + self.log_path.read_text(errors="replace")[-chars:]

    async def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.alive

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.alive:
            self.popen.terminate()
            if not await self.wait_exit(8):
                self.popen.kill()
                await self.wait_exit(5)
        self._log.close()

    async def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        await self.wait_exit(5)


class Server(Proc):
    def __init__(self, name: str, port: int, env: dict[str, str], log_dir: Path, workers: int = 1) -> None:
        command = [AIMCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        super().__init__(name, command, env, log_dir)
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/graphql"
        self.ws_url = f"ws://127.0.0.1:{port}/graphql"

    async def healthy(self, timeout: float = 30) -> Server:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.alive, f"{self.name} exited with {self.popen.returncode}\n{self.tail()}"
                try:
                    async with http.get(f"{self.base}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return self
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} never became healthy\n{self.tail()}")


class Processes:
    """Starts what a test needs and stops all of it, last started first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Proc] = []

    @staticmethod
    def env(database_url: str, redis_url: str, production: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")}
        env.update(
            AIM_DATABASE_URL=database_url,
            AIM_REDIS_URL=redis_url,
            AIM_SECRET_KEY=TEST_SECRET,
            AIM_ENV="production" if production else "development",
            AIM_REGISTRATION="open",  # the tests open their organizations by `register`
            PYTHONUNBUFFERED="1",
        )
        return env

    def _track(self, proc: Proc) -> Proc:
        self.started.append(proc)
        return proc

    async def serve(
        self, database_url: str, redis_url: str, production: bool = False, workers: int = 1, **settings: str
    ) -> Server:
        name = f"serve-{len(self.started)}"
        env = self.env(database_url, redis_url, production) | settings
        server = self._track(Server(name, free_port(), env, self.log_dir, workers))
        return await server.healthy()

    def worker(self, database_url: str, redis_url: str, **settings: str) -> Proc:
        return self._track(
            Proc(
                f"worker-{len(self.started)}",
                [AIMCTL, "worker"],
                self.env(database_url, redis_url, production=True) | settings,
                self.log_dir,
            )
        )

    async def redis(self, port: int) -> Proc:
        proc = self._track(
            Proc(
                f"redis-{len(self.started)}",
                [
                    REDIS_SERVER,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.log_dir),
                ],
                {**os.environ},
                self.log_dir,
            )
        )
        client = aioredis.Redis(port=port)
        try:
            deadline = time.monotonic() + 10
            while True:
                assert proc.alive, f"redis-server exited\n{proc.tail()}"
                try:
                    if await client.ping():
                        return proc
                except (aioredis.ConnectionError, OSError):
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.started)

    async def stop_all(self) -> None:
        for proc in reversed(self.started):
            await proc.stop()


@pytest.fixture
async def procs(tmp_path, database):
    """Stopped before the test's database is dropped."""
    group = Processes(tmp_path)
    try:
        yield group
    finally:
        await group.stop_all()


# ---- databases ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def template_db():
    """One database migrated by `aimctl migrate`; each test clones it (CREATE DATABASE … TEMPLATE)."""
    name = f"aim_rt_template_{uuid.uuid4().hex[:10]}"
    await on_postgres_server(f'CREATE DATABASE "{name}"')
    env = Processes.env(database_url(name), "memory://")
    migrate = await asyncio.create_subprocess_exec(
        AIMCTL, "migrate", env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(migrate.communicate(), 120)
    finally:
        if migrate.returncode is None:
            migrate.kill()
            await migrate.wait()
    assert migrate.returncode == 0, output.decode(errors="replace")
    try:
        yield name
    finally:
        await _drop(name)


async def _drop(name: str) -> None:
    await on_postgres_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database(template_db):
    """A fresh, migrated database for one test: (url, an asyncpg connection to it)."""
    name = f"aim_rt_{uuid.uuid4().hex[:12]}"
    await on_postgres_server(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = database_url(name)
    db = await asyncpg.connect(url)
    try:
        yield url, db
    finally:
        await db.close()
        await _drop(name)


async def unpublished(db: asyncpg.Connection) -> int:
    return await db.fetchval("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")


async def wait_outbox_drained(db: asyncpg.Connection, timeout: float, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while (left := await unpublished(db)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not left, f"{left} outbox rows still unpublished after {timeout}s\n{procs.logs()}"


# ---- listeners ---------------------------------------------------------------------------------------


def channel_of(org: Org) -> str:
    return f"aim:org:{ids.parse(org.id)[1]}"


async def wait_subscribed(redis_url: str, org: Org, timeout: float = 10) -> None:
    """Until some process holds the organization's Redis channel, i.e. a WebSocket subscription is live:
    graphql-transport-ws has no acknowledgement of `subscribe`, and Redis keeps nothing for latecomers."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            [(_, count)] = await client.pubsub_numsub(channel_of(org))
            if count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"nothing subscribed to {channel_of(org)} within {timeout}s")
    finally:
        await client.aclose()


class Waitable:
    def __init__(self) -> None:
        self.events: list[tuple[float, dict]] = []
        self._changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    def _add(self, event: dict) -> None:
        self.events.append((time.monotonic(), event))
        self._changed.set()

    async def wait_until(self, done: Callable[[list[dict]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done([e for _, e in self.events]):
            if self.task is not None and self.task.done():
                self.task.result()  # raises what ended the listener
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            # Cancelled, or already failed: the test has reported what matters.
            await asyncio.gather(self.task, return_exceptions=True)


class Subscriber(Waitable):
    """`agentEvents` over graphql-transport-ws (forced: STACK-NOTES trap 7), authenticated in connection_init."""

    def __init__(self, ws_url: str, token: str) -> None:
        super().__init__()
        self.transport = WebsocketsTransport(
            url=ws_url,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            init_payload={"Authorization": f"Bearer {token}"},
        )
        self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async with Client(transport=self.transport) as session:
            async for result in session.subscribe(gql(AGENT_EVENTS)):
                self._add(result["agentEvents"])

    def created(self) -> list[str]:
        return [e["agentId"] for _, e in self.events if e["kind"] == "agent.created"]


class RawChannel(Waitable):
    """Every message the relays put on an organization's Redis channel, before any process drops repeats."""

    def __init__(self, redis_url: str, channel: str) -> None:
        super().__init__()
        self.client = aioredis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub()
        self.channel = channel

    async def start(self) -> RawChannel:
        await self.pubsub.subscribe(self.channel)
        self.task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                self._add(json.loads(message["data"]))

    def ids(self) -> Counter:
        return Counter(e["id"] for _, e in self.events)

    async def close(self) -> None:
        await super().close()
        await self.pubsub.aclose()
        await self.client.aclose()


@pytest.fixture
async def listeners(procs):
    """Subscribers and raw channels opened by a test; closed before its processes stop."""
    opened: list[Waitable] = []
    try:
        yield opened
    finally:
        for listener in opened:
            await listener.close()


async def subscribe(listeners: list, server: Server, org: Org, redis_url: str) -> Subscriber:
    subscriber = Subscriber(server.ws_url, org.admin.api.token)
    listeners.append(subscriber)
    await wait_subscribed(redis_url, org)
    return subscriber


async def watched_org(procs, database_url: str, listeners: list) -> tuple[Org, Subscriber, RawChannel]:
    """A production API (no relay inside: the test starts its relays) with a WebSocket subscriber and a
    raw Redis listener on a new organization's channel."""
    api_server = await procs.serve(database_url, REDIS_URL, production=True)
    org = await register(api_server.url)
    subscriber = await subscribe(listeners, api_server, org, REDIS_URL)
    raw = await RawChannel(REDIS_URL, channel_of(org)).start()
    listeners.append(raw)
    return org, subscriber, raw


async def create_agents(api: Api, count: int, prefix: str, parallel: int = 8) -> list[str]:
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> str:
        async with gate:
            return (await create_agent(api, name=f"{prefix}-{i}")).id

    return await asyncio.gather(*(one(i) for i in range(count)))


def assert_each_created_once(subscriber: Subscriber, expected: list[str]) -> None:
    seen = Counter(subscriber.created())
    repeats = {agent: n for agent, n in seen.items() if n > 1}
    assert not repeats, f"agent.created delivered more than once: {repeats}"
    assert set(seen) == set(expected), (
        f"missing {len(set(expected) - set(seen))}, unexpected {set(seen) - set(expected)}"
    )
    assert len(subscriber.created()) == len(expected)


async def wait_agent_events(subscriber: Subscriber, db: asyncpg.Connection, procs: Processes) -> int:
    """Until the subscriber holds one message per agent event in the (drained) outbox: their number.
    Delivery trails publication (each message loads its agent), so a drained outbox is not enough."""
    await wait_outbox_drained(db, 10, procs)
    expected = await db.fetchval("SELECT count(*) FROM outbox_events WHERE kind = ANY($1::text[])", sorted(kinds.AGENT))
    assert await subscriber.wait_until(lambda events: len(events) >= expected, 10), (
        f"{len(subscriber.events)} of {expected} agent events delivered\n{procs.logs()}"
    )
    await asyncio.sleep(1)  # room for a late repeat to show up
    assert len(subscriber.events) == expected, "some agent event was delivered twice"
    return expected


def all_created(expected: list[str]) -> Callable[[list[dict]], bool]:
    wanted = set(expected)
    return lambda events: wanted <= {e["agentId"] for e in events if e["kind"] == "agent.created"}


# ---- tests -------------------------------------------------------------------------------------------


async def test_an_event_from_one_replica_reaches_a_subscriber_on_another(procs, database, listeners):
    database_url, _ = database
    a = await procs.serve(database_url, REDIS_URL)
    b = await procs.serve(database_url, REDIS_URL)
    org = await register(b.url)
    # Each replica accepts the other's tokens: B issued this one, A serves it.
    on_a = Api(a.url, token=org.admin.api.token)
    assert (await on_a("{ viewer { email } }"))["viewer"]["email"] == org.admin.email
    subscriber = await subscribe(listeners, a, org, REDIS_URL)

    latencies, created = [], []
    for i in range(5):
        start = time.monotonic()
        agent_id = (await create_agent(org.admin.api, name=f"cross-replica-{i}")).id  # over HTTP, to B
        assert await subscriber.wait_until(all_created([agent_id]), 5), (
            f"agent.created never reached replica A\n{procs.logs()}"
        )
        at, event = next(
            (t, e) for t, e in subscriber.events if e["kind"] == "agent.created" and e["agentId"] == agent_id
        )
        assert event["agent"] == {"name": f"cross-replica-{i}"}
        latencies.append(at - start)
        created.append(agent_id)
    print(
        f"\ncross-replica latency, mutation sent on B -> event on A: "
        f"{', '.join(f'{s * 1000:.0f} ms' for s in latencies)}"
    )
    assert max(latencies) < 1.0, latencies
    assert_each_created_once(subscriber, created)


async def test_a_write_on_one_replica_is_seen_at_once_by_a_cached_query_on_another(procs, database):
    database_url, _ = database
    a = await procs.serve(database_url, REDIS_URL)
    b = await procs.serve(database_url, REDIS_URL)
    org = await register(b.url)
    on_a = Api(a.url, token=org.admin.api.token)
    count = "{ agents { totalCount } }"
    assert [(await on_a(count))["agents"]["totalCount"] for _ in range(2)] == [0, 0]  # the second from A's cache
    await create_agent(org.admin.api)  # over HTTP, to B
    assert (await on_a(count))["agents"]["totalCount"] == 1


def worker_processes(server: Server) -> list[int]:
    """The API processes uvicorn spawned for `aimctl serve --workers N` (not its resource tracker)."""
    children = Path(f"/proc/{server.popen.pid}/task/{server.popen.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def cpu_ticks(pid: int) -> int:
    """User and system CPU time the process has used, in clock ticks (proc(5))."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


async def test_several_workers_on_one_port_share_tokens_cached_answers_and_events(procs, database, listeners):
    """`aimctl serve --workers 2`: every call below opens a connection of its own, which either worker
    may accept. Both do, and the caller cannot tell them apart: one token, no stale cached answer after
    a write through the other worker, and every event on a WebSocket held by one of them."""
    database_url, _ = database
    server = await procs.serve(database_url, REDIS_URL, production=True, workers=2)
    procs.worker(database_url, REDIS_URL)  # the relay
    workers = worker_processes(server)
    assert len(workers) == 2
    org = await register(server.url)
    subscriber = await subscribe(listeners, server, org, REDIS_URL)
    ticks = {pid: cpu_ticks(pid) for pid in workers}
    count = "{ agents { totalCount } }"
    assert [(await org.admin.api(count))["agents"]["totalCount"] for _ in range(30)] == [0] * 30
    created = []
    for i in range(5):
        created.append((await create_agent(org.admin.api, name=f"worker-{i}")).id)
        assert [(await org.admin.api(count))["agents"]["totalCount"] for _ in range(8)] == [i + 1] * 8
    assert all(cpu_ticks(pid) > ticks[pid] for pid in workers), f"one worker served every connection: {ticks}"
    assert await subscriber.wait_until(all_created(created), 10), procs.logs()
    assert_each_created_once(subscriber, created)


async def test_each_worker_keeps_its_own_line_of_requests(procs, database):
    """Admission control counts per process. Two workers, each letting one request run and one wait:
    while the organization's row is locked, every write into it holds its slot. Writes sent one after
    another on connections of their own until each worker runs one, then six more at once: two run, at
    most two wait, and the rest are turned away at once (503, Retry-After) having written nothing.
    Once the lock goes, every request let in completes."""
    database_url, db = database
    server = await procs.serve(
        database_url,
        REDIS_URL,
        production=True,
        workers=2,
        AIM_MAX_CONCURRENT_REQUESTS="1",
        AIM_MAX_QUEUED_REQUESTS="1",
    )
    org = await register(server.url)

    async def running() -> int:
        return await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )

    holder = await asyncpg.connect(database_url)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE", ids.decode(org.id, "Organization"))
        writes = []
        while await running() < 2:
            assert len(writes) < 40, "one worker accepted every connection"
            writes.append(asyncio.create_task(post_create_agent(server.url, org.admin.api.token)))
            await asyncio.sleep(0.05)
        writes += [asyncio.create_task(post_create_agent(server.url, org.admin.api.token)) for _ in range(6)]

        async def settled() -> bool:
            done = sum(w.done() for w in writes)
            await asyncio.sleep(0.5)
            return done >= len(writes) - 4 and sum(w.done() for w in writes) == done

        await eventually(settled)
        assert await running() == 2
        refused = [w.result() for w in writes if w.done()]
        let_in = len(writes) - len(refused)
        assert 2 <= let_in <= 4
        for status, headers, body in refused:
            assert status == 503 and headers["Retry-After"] == "1"
            assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
        await lock.rollback()
    finally:
        await holder.close()
    answered = await asyncio.gather(*(w for w in writes if not w.done()))
    assert all(status == 200 and "errors" not in body for status, _, body in answered)
    assert (await org.admin.api("{ agents { totalCount } }"))["agents"]["totalCount"] == let_in


async def post_create_agent(url: str, token: str) -> tuple[int, dict, dict]:
    """createAgent on a connection of its own, which either worker may accept."""
    create = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"
    public_key = AgentKeys("", SigningKey.generate()).public_key
    variables = {"i": {"name": f"held-{uuid.uuid4().hex[:8]}", "publicKey": public_key}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url,
            json={"query": create, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def test_several_workers_need_postgresql_and_redis(tmp_path):
    env = Processes.env("sqlite:///" + str(tmp_path / "aim.sqlite3"), "memory://")
    refused = await asyncio.create_subprocess_exec(
        AIMCTL, "serve", "--workers", "2", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(refused.communicate(), 30)
    assert refused.returncode == 1
    assert b"needs PostgreSQL and Redis" in output


PAGE = "{ agents(first: 100) { totalCount edges { node { id name } } } }"  # costs 1 + 1 + 1 + 100 * 3


async def post_page(url: str, token: str) -> tuple[int, dict, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json={"query": PAGE}, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def test_two_replicas_on_one_redis_share_each_callers_budget(procs, database):
    database_url, _ = database
    port = free_port()
    await procs.redis(port)
    redis_url = f"redis://127.0.0.1:{port}/0"
    a = await procs.serve(database_url, redis_url, AIM_COST_BUDGET="500/minute")
    b = await procs.serve(database_url, redis_url, AIM_COST_BUDGET="500/minute")
    org = await register(a.url)
    status, _, body = await post_page(a.url, org.admin.api.token)
    assert status == 200 and body["extensions"]["cost"]["requestedQueryCost"] == 303
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 197
    # The same caller on the other replica finds the budget A spent: the page no longer fits.
    status, headers, body = await post_page(b.url, org.admin.api.token)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["cost"] == 303
    assert error["extensions"]["throttleStatus"] == {
        "maximumAvailable": 500,
        "currentlyAvailable": 197,
        "windowSeconds": 60,
    }
    assert body.get("data") is None
    # A's cached answer to the same question is refused too; another caller has a budget of its own.
    assert (await post_page(a.url, org.admin.api.token))[0] == 429
    other = await register(b.url)
    assert (await post_page(b.url, other.admin.api.token))[0] == 200


async def test_events_published_while_a_replica_is_cut_off_from_redis_are_caught_up(procs, database, listeners):
    # Redis stays up and its relay keeps publishing, but replica A's subscription connection drops:
    # Redis keeps nothing for A meanwhile, so A reads what it missed back from the outbox.
    database_url, _ = database
    a = await procs.serve(database_url, REDIS_URL)
    org = await register(a.url)
    subscriber = await subscribe(listeners, a, org, REDIS_URL)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        # A may publish (its relay does) but not subscribe again until the ACL is restored.
        await client.acl_setuser("default", enabled=True, reset_channels=False, commands=["-subscribe"])
        assert await client.client_kill_filter(_type="pubsub", skipme=True) >= 1
        created = [(await create_agent(org.admin.api, name=f"cut-off-{i}")).id for i in range(3)]
        await asyncio.sleep(1)  # A has retried, and been refused
    finally:
        await client.acl_setuser("default", enabled=True, commands=["+subscribe"])
        await client.aclose()
    assert await subscriber.wait_until(all_created(created), 10), f"events missed while cut off\n{procs.logs()}"
    await asyncio.sleep(0.5)  # any repeat would have arrived by now
    assert_each_created_once(subscriber, created)


async def test_events_committed_while_redis_is_down_are_delivered_after_it_returns(procs, database, listeners):
    database_url, _ = database
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis_server = await procs.redis(port)
    api_server = await procs.serve(database_url, redis_url)  # development: the relay runs in-process
    org = await register(api_server.url)
    subscriber = await subscribe(listeners, api_server, org, redis_url)
    before = await create_agents(org.admin.api, 1, "before")
    assert await subscriber.wait_until(all_created(before), 5), procs.logs()

    await redis_server.stop()
    # Out of step with the API's reconnection attempts, which start at the stop and repeat every 0.5 s.
    await asyncio.sleep(0.3)
    during, first_failed = [], 0.0
    for i in range(5):
        during.append((await create_agent(org.admin.api, name=f"during-{i}")).id)
        first_failed = first_failed or time.monotonic()  # its commit woke the relay, which failed to publish
        # Queries keep answering from PostgreSQL while the broker is away.
        data = await org.admin.api("{ agents(first: 50) { totalCount } }")
        assert data["agents"]["totalCount"] == len(before) + i + 1
    # Bring Redis back shortly before the relay's next retry (2.5 s after its failure). A relay whose grace
    # ran from its failure instead of from Redis's return published then, ahead of the API re-subscribing,
    # and these events were lost.
    await asyncio.sleep(max(0.0, first_failed + 2.2 - time.monotonic()))
    assert not subscriber.task.done(), "the subscription closed while Redis was down"
    assert len(subscriber.created()) == 1

    await procs.redis(port)
    delivered = await subscriber.wait_until(all_created(before + during), 15)
    assert delivered, (
        f"delivered {len(subscriber.created()) - 1} of 5 events committed during the outage\n{procs.logs()}"
    )
    assert_each_created_once(subscriber, before + during)


async def test_a_relay_killed_mid_publish_loses_nothing_and_repeats_nothing(procs, database, listeners):
    database_url, db = database
    org, subscriber, raw = await watched_org(procs, database_url, listeners)

    agents = await create_agents(org.admin.api, 150, "backlog")
    backlog = await unpublished(db)
    assert backlog > 150 * 2  # agent.created, audit.appended, agent.trust_changed, …
    assert not subscriber.events, "an event went out with no relay running"

    worker = procs.worker(database_url, REDIS_URL)
    assert await raw.wait_until(lambda events: len(events) >= 5, 20), (
        f"the first relay published nothing\n{worker.tail()}"
    )
    await worker.kill9()
    published_before_kill = len(raw.events)
    marked_before_kill = backlog - await unpublished(db)
    # Racy by nature: mid-batch means some rows went to Redis but their batch was never marked.
    print(
        f"\nrelay killed after {published_before_kill} messages on Redis, {marked_before_kill} of {backlog} rows "
        f"marked published ({'mid-batch' if published_before_kill > marked_before_kill else 'between batches'})"
    )

    procs.worker(database_url, REDIS_URL)
    assert await subscriber.wait_until(all_created(agents), 20), (
        f"{len(set(subscriber.created()))} of 150 agent.created delivered\n{procs.logs()}"
    )
    await wait_agent_events(subscriber, db, procs)
    assert_each_created_once(subscriber, agents)
    # Nothing lost on the way: every committed event reached Redis at least once.
    event_ids = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM outbox_events")}
    assert event_ids <= set(raw.ids())


async def test_events_published_again_after_a_crash_are_not_delivered_twice(procs, database, listeners):
    """The deterministic half of the crash: the relay published, then died before marking the rows."""
    database_url, db = database
    org, subscriber, raw = await watched_org(procs, database_url, listeners)
    agents = await create_agents(org.admin.api, 20, "again")
    procs.worker(database_url, REDIS_URL)
    assert await subscriber.wait_until(all_created(agents), 15), procs.logs()
    delivered = await wait_agent_events(subscriber, db, procs)
    assert_each_created_once(subscriber, agents)

    rows = await db.fetch(
        "SELECT id, event_id FROM outbox_events WHERE published_at IS NOT NULL "
        "AND kind = 'agent.created' ORDER BY id LIMIT 10"
    )
    others = await db.fetch(
        "SELECT id, event_id FROM outbox_events WHERE published_at IS NOT NULL "
        "AND kind <> 'agent.created' ORDER BY id LIMIT 10"
    )
    again = rows + others
    await db.execute(
        "UPDATE outbox_events SET published_at = NULL WHERE id = ANY($1::bigint[])", [r["id"] for r in again]
    )
    repeated = {str(r["event_id"]) for r in again}
    assert await raw.wait_until(lambda events: all(raw.ids()[i] >= 2 for i in repeated), 10), (
        f"the relay did not publish the unmarked rows again\n{procs.logs()}"
    )
    await wait_outbox_drained(db, 5, procs)
    await asyncio.sleep(2)
    assert len(subscriber.events) == delivered, [e for _, e in subscriber.events[delivered:]]
    assert_each_created_once(subscriber, agents)


async def test_several_relays_publish_each_event_once(procs, database, listeners):
    database_url, db = database
    org, subscriber, raw = await watched_org(procs, database_url, listeners)
    agents = await create_agents(org.admin.api, 100, "backlog")
    for _ in range(3):
        procs.worker(database_url, REDIS_URL)
    assert await raw.wait_until(bool, 20), f"no relay published anything\n{procs.logs()}"
    # More while they run: every poll of every relay now races the others for the same fresh rows.
    agents += await create_agents(org.admin.api, 50, "live")
    assert await subscriber.wait_until(all_created(agents), 20), procs.logs()
    await wait_agent_events(subscriber, db, procs)
    assert_each_created_once(subscriber, agents)
    # Below the per-process de-duplication: no relay put any event on Redis twice.
    published = raw.ids()
    assert len(published) == await db.fetchval("SELECT count(*) FROM outbox_events")
    assert max(published.values()) == 1, {i: n for i, n in published.items() if n > 1}


# ---- the watch over MCP servers


async def wait_health(db: asyncpg.Connection, server_id: uuid.UUID, health: str, procs: Processes) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if await db.fetchval("SELECT health FROM mcp_servers WHERE id = $1", server_id) == health:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the MCP server never became {health}\n{procs.logs()}")


async def wait_discovered(db: asyncpg.Connection, server_id: uuid.UUID, count: int, procs: Processes) -> None:
    deadline = time.monotonic() + 20
    query = "SELECT jsonb_array_length(capabilities::jsonb) FROM mcp_servers WHERE id = $1"
    while time.monotonic() < deadline:
        if await db.fetchval(query, server_id) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the MCP server's {count} capabilities were never discovered\n{procs.logs()}")


async def test_workers_check_each_mcp_server_on_schedule_one_at_a_time(procs, database, tmp_path):
    database_url, db = database
    mcp = mcp_fixture(tmp_path)
    await mcp.start()
    try:
        api = await procs.serve(database_url, REDIS_URL, production=True)
        org = await register(api.url)
        registered = await org.admin.api(
            "mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }",
            i={"name": "fixture", "url": mcp.url},
        )
        server_id = ids.decode(registered["registerMCPServer"]["mcpServer"]["id"], "MCPServer")
        for _ in range(3):
            procs.worker(database_url, REDIS_URL, AIM_MCP_HEALTH_INTERVAL="1", AIM_ALLOW_PRIVATE_TARGETS="127.0.0.1")
        await wait_health(db, server_id, "HEALTHY", procs)
        # Discovered by one of them too, before the server goes away: a discovery under way when it
        # stops fails, and is retried only later.
        await wait_discovered(db, server_id, 5, procs)
        await mcp.stop()
        await wait_health(db, server_id, "DOWN", procs)
        await mcp.restart()
        await wait_health(db, server_id, "HEALTHY", procs)
    finally:
        await mcp.stop()
    # Three workers, one server: had two of them checked it at once, two checks would land together.
    times = [r[0] for r in await db.fetch("SELECT checked_at FROM mcp_health_checks ORDER BY checked_at")]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(times) >= 3 and min(gaps) > 0.8, gaps


# ---- the compose file


async def test_compose_file_matches_the_compose_spec():
    process = await asyncio.create_subprocess_exec(
        str(BIN / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        "docker-compose.yml",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode()
