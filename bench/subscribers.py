"""`python -m bench.subscribers`: one process holding many graphql-transport-ws subscriptions for the
fan-out scenario, driven by `bench.fanout` over its stdin and stdout, one JSON object per line.

stdin, the first line: the setup,
    {"url": "ws://127.0.0.1:P/graphql", "token": "...", "count": 1250, "concurrency": 25,
     "query": "subscription ...", "deflate": true, "open_timeout": 30}
then commands:
    {"cmd": "wait", "ids": [agent ids], "timeout": s, "stall": s}
        -> {"event": "waited", "complete": bool, "stalled": bool, "seen": {id: connections}, "alive": n,
            "waited_s": s}
           once every open subscription has received `agent.created` for every id, or when nothing new
           has arrived for `stall` seconds, or at the timeout;
    {"cmd": "report", "ids": [agent ids], "probes": [agent ids]}
        -> {"event": "report", "latencies_ms": [...], "probe_latencies_ms": [...], ...}, then closes every
           connection and exits.
stdout, once every connection has been tried: {"event": "connected", "ok": n, "failed": n, "errors": {...}}.

Each connection is a raw `websockets` client: connection_init with {"Authorization": "Bearer ..."},
then one `subscribe`. For every `agent.created` it receives it records now - agent.createdAt (the
server stamps createdAt in the inserting transaction; both clocks are this machine's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.harness import raise_nofile

PROTOCOL = "graphql-transport-ws"


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Refused(Exception):
    pass


class Fleet:
    def __init__(self, setup: dict) -> None:
        self.setup = setup
        self.sockets: list[ClientConnection] = []
        self.alive = 0
        self.failed: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()  # by close code, for connections the server ended
        self.operation_errors: Counter[str] = Counter()
        self.latencies: dict[str, list[float]] = defaultdict(list)  # agent id -> seconds, one per delivery
        self.duplicates = 0
        self.other_messages = 0
        self.closing = False
        self.lags: list[float] = []

    # ------------------------------------------------------------ one subscription

    async def open(self, sem: asyncio.Semaphore) -> ClientConnection | None:
        s = self.setup
        async with sem:
            ws = None
            try:
                ws = await connect(
                    s["url"],
                    subprotocols=[PROTOCOL],
                    compression="deflate" if s["deflate"] else None,
                    open_timeout=s["open_timeout"],
                    ping_interval=None,
                    close_timeout=2,
                    proxy=None,
                )
                await ws.send(
                    json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {s['token']}"}})
                )
                ack = json.loads(await asyncio.wait_for(ws.recv(), s["open_timeout"]))
                if ack.get("type") != "connection_ack":
                    raise Refused(f"no connection_ack: {ack}")
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": s["query"]}}))
                return ws
            except (OSError, TimeoutError, ConnectionClosed, Refused, ValueError) as exc:
                text = f"{type(exc).__name__}: {exc}"[:160]
                self.failed[text] += 1
                if ws is not None:
                    with contextlib.suppress(OSError, TimeoutError, ConnectionClosed):
                        await asyncio.wait_for(ws.close(), 5)
                return None

    async def listen(self, ws: ClientConnection) -> None:
        seen: set[str] = set()
        self.alive += 1
        try:
            async for raw in ws:
                received = time.time()
                if '"agent.created"' not in raw:
                    if '"next"' not in raw:  # not one of the other events (agent.trust_changed)
                        await self._protocol_message(ws, raw)
                    continue
                message = json.loads(raw)
                if message.get("type") != "next":
                    await self._protocol_message(ws, raw)
                    continue
                event = message["payload"]["data"]["agentEvents"]
                agent_id = event["agentId"]
                if agent_id in seen:
                    self.duplicates += 1
                    continue
                seen.add(agent_id)
                created = datetime.fromisoformat(event["agent"]["createdAt"]).timestamp()
                self.latencies[agent_id].append(received - created)
        except ConnectionClosed:
            pass
        finally:
            self.alive -= 1
            if not self.closing:
                code = ws.close_code if ws.close_code is not None else "none"
                self.closed[f"{code} {ws.close_reason or ''}".strip()] += 1

    async def _protocol_message(self, ws: ClientConnection, raw: str) -> None:
        try:
            kind = json.loads(raw).get("type")
        except ValueError:
            kind = "unparsable"
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif kind in ("error", "complete"):
            self.operation_errors[f"{kind}: {raw[:160]}"] += 1
        else:
            self.other_messages += 1

    # ------------------------------------------------------------ the process

    async def connect_all(self) -> list[asyncio.Task]:
        sem = asyncio.Semaphore(self.setup["concurrency"])
        opened = await asyncio.gather(*(self.open(sem) for _ in range(self.setup["count"])))
        self.sockets = [ws for ws in opened if ws is not None]
        return [asyncio.create_task(self.listen(ws)) for ws in self.sockets]

    async def measure_lag(self) -> None:
        """How late this process's own loop wakes up: latency it adds to every receive time."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.01)
            self.lags.append(loop.time() - t0 - 0.01)

    def seen(self, ids: list[str]) -> dict[str, int]:
        return {i: len(self.latencies.get(i, ())) for i in ids}

    async def wait(self, ids: list[str], timeout: float, stall: float) -> dict:
        loop = asyncio.get_running_loop()
        start = progress = loop.time()
        total = -1
        while True:
            seen = self.seen(ids)
            complete = all(n >= self.alive for n in seen.values())
            if sum(seen.values()) != total:
                total, progress = sum(seen.values()), loop.time()
            stalled = loop.time() - progress >= stall
            if complete or stalled or loop.time() - start >= timeout:
                return {
                    "event": "waited",
                    "complete": complete,
                    "stalled": stalled and not complete,
                    "seen": seen,
                    "alive": self.alive,
                    "waited_s": round(loop.time() - start, 3),
                }
            await asyncio.sleep(0.05)

    def _ms(self, ids: list[str]) -> list[float]:
        wanted = set(ids)
        return [round(v * 1000, 3) for i, values in self.latencies.items() if i in wanted for v in values]

    def report(self, ids: list[str], probes: list[str]) -> dict:
        lags = sorted(self.lags)
        return {
            "event": "report",
            "latencies_ms": self._ms(ids),
            "probe_latencies_ms": self._ms(probes),
            "alive": self.alive,
            "opened": len(self.sockets),
            "failed": sum(self.failed.values()),
            "closed_by_server": dict(self.closed),
            "operation_errors": dict(self.operation_errors.most_common(5)),
            "duplicates": self.duplicates,
            "other_messages": self.other_messages,
            "cpu_s": round(time.process_time(), 3),
            "loop_lag_ms": {
                "p99": round(lags[int(len(lags) * 0.99)] * 1000, 2) if lags else None,
                "max": round(lags[-1] * 1000, 2) if lags else None,
            },
        }

    async def close_all(self, listeners: list[asyncio.Task]) -> None:
        self.closing = True
        sem = asyncio.Semaphore(200)

        async def close(ws: ClientConnection) -> None:
            async with sem:
                with contextlib.suppress(TimeoutError, OSError, ConnectionClosed):
                    await asyncio.wait_for(ws.close(), 5)

        await asyncio.gather(*(close(ws) for ws in self.sockets))
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if not line:
        return
    setup = json.loads(line)
    limit = raise_nofile(setup["count"] + 256)
    if limit < setup["count"] + 64:
        emit({"event": "fatal", "message": f"file-descriptor limit {limit} is too low for {setup['count']} sockets"})
        return
    fleet = Fleet(setup)
    lag = asyncio.create_task(fleet.measure_lag())
    started = time.monotonic()
    listeners = await fleet.connect_all()
    emit(
        {
            "event": "connected",
            "ok": len(fleet.sockets),
            "failed": sum(fleet.failed.values()),
            "errors": dict(fleet.failed.most_common(5)),
            "seconds": round(time.monotonic() - started, 3),
        }
    )
    try:
        while True:
            line = await reader.readline()
            if not line:
                break  # the bench went away: close and exit
            command = json.loads(line)
            if command["cmd"] == "wait":
                emit(await fleet.wait(command["ids"], command["timeout"], command.get("stall", command["timeout"])))
            elif command["cmd"] == "report":
                emit(fleet.report(command["ids"], command.get("probes", [])))
                break
    finally:
        lag.cancel()
        await fleet.close_all(listeners)


if __name__ == "__main__":
    try:
        import uvloop  # the client's own overhead lands in every receive time: keep it low
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
