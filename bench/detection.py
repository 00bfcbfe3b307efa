"""(h) detection: how long the security engine takes from an event's commit to the commit of the threat
it raises, at RATE events a second, and how many events one detector judges a second.

It starts one `aimctl worker` (AIM_ENV=production: the detector there is woken by each commit's
NOTIFY) on the bench database, and writes one organization's events itself, each in a transaction of
its own through AIM's unit of work, as a request's commit writes them (this process imports
aim_identity). Nine events in ten are signed, allowed actions of BUSY agents, each judged against the
agent's baseline (security/baselines.py); the tenth is a trust drop of a fresh agent, past the
TRUST_SCORE_DROP threshold, which raises a threat. Both processes stamp events with the same machine's
clock, so:

- lag: RATE events/s for `seconds`; each drop's lag is its `threat.detected` event's created_at (the
  detector's commit) minus the drop event's created_at (the writer's commit). p50 and p99.
- throughput: BACKLOG events (the same mix) written while no worker runs; then the worker starts, and
  the events judged between the cursor's first move and its reaching the last event, over that time.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import SigningKey
from tortoise import Tortoise

from aim_identity import ids, row_security
from aim_identity.actors import Actor
from aim_identity.audit import chain
from aim_identity.db import tortoise_config
from aim_identity.identity import keys
from aim_identity.models import Agent, AgentStatus, AgentType, DetectionCursor, Organization, OutboxEvent
from aim_identity.security import detection
from aim_identity.unit_of_work import atomic
from bench.harness import tail
from bench.load import percentile

RATE = 200
BACKLOG = 5000
BUSY = 50
WRITERS = 8  # concurrent writing transactions, so the schedule holds when one commit is slow
ROOT = Path(__file__).resolve().parent.parent


class DetectionError(RuntimeError):
    pass


def run(database_url: str, env: dict[str, str], aimctl: list[str], workdir: Path, seconds: float) -> dict:
    return asyncio.run(_run(database_url, env, aimctl, workdir, seconds))


async def _run(database_url: str, env: dict[str, str], aimctl: list[str], workdir: Path, seconds: float) -> dict:
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    row_security.enter_every_organization()  # the benchmark seeds and reads as the operator would
    log = workdir / "detection-worker.log"
    worker: subprocess.Popen | None = None
    try:
        org = await _organization()
        busy = [await _agent(org) for _ in range(BUSY)]
        backlog = [await _event(org, busy, n) for n in range(BACKLOG)]
        await _write(org, backlog, rate=None)
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                [*aimctl, "worker"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        throughput = await _drained(org, worker, log)

        events = [await _event(org, busy, n) for n in range(int(RATE * seconds))]
        started = time.monotonic()
        await _write(org, events, rate=RATE)
        offered = len(events) / (time.monotonic() - started)
        await _drained(org, worker, log)
        lags = sorted(await _lags(org, events))
        if len(lags) != sum(1 for e in events if e[0] == "agent.trust_changed"):
            raise DetectionError(f"{len(lags)} threats for the drops written; the worker log:\n{tail(log)}")
        return {
            "rate_offered": round(offered, 1),
            "events": len(events),
            "threats": len(lags),
            "lag_ms": {f"p{q}": round(percentile(lags, q) or 0, 1) for q in (50, 99)} | {"max": round(lags[-1], 1)},
            "throughput_per_s": throughput,
            "backlog": BACKLOG,
        }
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(10)
        await Tortoise.close_connections()


async def _organization() -> uuid.UUID:
    suffix = uuid.uuid4().hex[:8]
    org = await Organization.create(name=f"Detection {suffix}", slug=f"detection-{suffix}")
    await chain.start(org.id)
    await detection.start(org.id)
    return org.id


async def _agent(org: uuid.UUID) -> uuid.UUID:
    raw = bytes(SigningKey.generate().verify_key)
    agent = await Agent.create(
        organization_id=org,
        name=f"bench-{uuid.uuid4().hex[:10]}",
        agent_type=AgentType.CUSTOM,
        status=AgentStatus.VERIFIED,
        public_key=keys.encode(raw),
        key_fingerprint=keys.fingerprint(raw),
        key_created_at=datetime.now(UTC),
        trust_score=0.9,
    )
    return agent.id


async def _event(org: uuid.UUID, busy: list[uuid.UUID], n: int) -> tuple[str, dict]:
    if n % 10 == 9:
        agent = await _agent(org)
        return "agent.trust_changed", {
            "agentId": ids.encode("Agent", agent),
            "previous": 0.9,
            "current": 0.5,
            "reason": "bench: a drop",
        }
    return "agent.action_decided", {
        "agentId": ids.encode("Agent", busy[n % len(busy)]),
        "decisionId": ids.encode("ActionDecision", uuid.uuid4()),
        "capability": "db:read",
        "allowed": True,
        "proven": True,
    }


async def _write(org: uuid.UUID, events: list[tuple[str, dict]], rate: float | None) -> None:
    """Each event committed in a transaction of its own; at `rate` a second, or as fast as WRITERS can."""
    actor = Actor(org, "system", "bench")
    queue: asyncio.Queue[tuple[int, tuple[str, dict]]] = asyncio.Queue()
    for item in enumerate(events):
        queue.put_nowait(item)
    started = time.monotonic()

    async def writer() -> None:
        while not queue.empty():
            n, (kind, payload) = queue.get_nowait()
            if rate is not None:
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            async with atomic(actor) as work:
                work.emit(kind, **payload)

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


async def _drained(org: uuid.UUID, worker: subprocess.Popen, log: Path) -> float:
    """Waits until the detector has judged every event; returns the events it judged a second."""
    last = (await OutboxEvent.filter(organization_id=org).order_by("-id").first()).id
    start_cursor = (await DetectionCursor.get(organization_id=org)).cursor
    moved_at: float | None = None
    moved_from = start_cursor
    deadline = time.monotonic() + 300
    while True:
        if worker.poll() is not None:
            raise DetectionError(f"the worker exited with {worker.returncode}:\n{tail(log)}")
        cursor = (await DetectionCursor.get(organization_id=org)).cursor
        now = time.monotonic()
        if moved_at is None and cursor != start_cursor:
            moved_at, moved_from = now, cursor
        if cursor >= last:
            break
        if now > deadline:
            raise DetectionError(f"the detector did not catch up in time:\n{tail(log)}")
        await asyncio.sleep(0.01)
    judged = await OutboxEvent.filter(organization_id=org, id__gt=moved_from, id__lte=last).count()
    return round(judged / max(time.monotonic() - (moved_at or time.monotonic()), 1e-3), 1)


async def _lags(org: uuid.UUID, events: list[tuple[str, dict]]) -> list[float]:
    drops = {p["agentId"] for kind, p in events if kind == "agent.trust_changed"}
    written = {
        row.payload["agentId"]: row.created_at
        for row in await OutboxEvent.filter(organization_id=org, kind="agent.trust_changed")
        if row.payload["agentId"] in drops
    }
    detected = {
        row.payload["agentId"]: row.created_at
        for row in await OutboxEvent.filter(organization_id=org, kind="threat.detected")
        if row.payload.get("agentId") in drops
    }
    return [(detected[a] - written[a]).total_seconds() * 1000 for a in drops if a in detected]


def report(results: dict) -> dict:
    lag = results["lag_ms"]
    print(
        f"(h) detection: {results['events']} events at {results['rate_offered']:g}/s, {results['threats']} threats: "
        f"lag p50 {lag['p50']:g} ms, p99 {lag['p99']:g} ms (max {lag['max']:g}); one worker judges "
        f"{results['throughput_per_s']:g} events/s (a backlog of {results['backlog']})"
    )
    return {"detection_lag_p99_ms": lag["p99"], "detection_events_per_s": results["throughput_per_s"]}
