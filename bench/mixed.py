"""(o) mixed load, as a busy organization lives: dashboards read the agents page ((b)'s query) as
fast as 32 connections can, while the organization's agents write into it at a fixed 20 a second,
a challenge-response round trip and an authorizeAction decision in turn (an open loop, bench/load.py
`agent-writes`). Each write voids the organization's cached answers, so most reads are executed. The
reads are compared with the floor's (a) of the same run (target at least 0.5), and the p99 of both
is reported."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

TARGET = 0.5
WRITES_PER_S = 20.0
WRITERS = 8  # the writers' connections: far more than 20 a second needs at once


def run(reads: Callable[[], dict], writes: Callable[[], dict], floor: dict) -> dict:
    """`reads` and `writes` each run one load process; both run at once."""
    with ThreadPoolExecutor(2) as pool:
        read, write = pool.submit(reads), pool.submit(writes)
        return {"reads": read.result(), "writes": write.result(), "floor_per_s": floor["per_s"]}


def report(results: dict) -> dict:
    reads, writes, floor = results["reads"], results["writes"], results["floor_per_s"]
    ratio = reads["per_s"] / floor
    ok = ratio >= TARGET
    print()
    print(f"(o) the agents page read at full speed while agents write {WRITES_PER_S:g} a second:")
    for name, r in (("reads", reads), ("writes", writes)):
        lat = r["latency_ms"]
        print(
            f"    {name:6}  {r['per_s']:>8,.1f} per s   p50 {lat['p50']:.2f} ms   p99 {lat['p99']:.2f} ms   "
            f"errors {r['errors']}"
        )
    for step, s in writes.get("steps_ms", {}).items():
        print(f"        {step:12}  p50 {s['p50']:.2f} ms   p99 {s['p99']:.2f} ms")
    print(f"o = reads / floor (a) = {reads['per_s']:,.1f} / {floor:,.1f} = {ratio:.3f}   (target >= {TARGET})  "
          f"{'PASS' if ok else 'MISS'}")  # fmt: skip
    return {
        "ratio_mixed_reads": round(ratio, 3),
        "ratio_mixed_reads_pass": ok,
        "mixed_reads_p99_ms": reads["latency_ms"]["p99"],
        "mixed_writes_p99_ms": writes["latency_ms"]["p99"],
    }


def failed(results: dict) -> bool:
    return any(results[side]["errors"] for side in ("reads", "writes"))
