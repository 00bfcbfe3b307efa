"""(m) audited writes: what the audit chain costs one organization's writes. Every connection gives its
own agent a new description (`updateAgent`), all in the bench's one organization, against two AIM
servers on the bench database: `aimctl serve`, and the same server with the audit write skipped,
served by `python -m bench.audited` (each entry a mutation records is dropped: no audit row, no move of
the chain head, no `audit.appended` event; the row, its version and its other events are written as
ever). The load process drives each in turn (harness.in_turn). The ratio is audited / unaudited
(target at least 0.8)."""

from __future__ import annotations

import argparse

from aim_identity import unit_of_work
from aim_identity.cli import serve
from aim_identity.config import Settings

TARGET = 0.8
SIDES = {"on": "audited", "off": "unaudited"}


def report(results: dict) -> dict:
    audited, unaudited = results["on"], results["off"]
    ratio = audited["per_s"] / unaudited["per_s"]
    ok = ratio >= TARGET
    print()
    print("(m) updateAgent in one organization, audited and with the audit write skipped:")
    for side, name in SIDES.items():
        r = results[side]
        print(
            f"    {name:9}  {r['per_s']:>8,.1f} writes/s   p95 {r['p95_ms']:.2f} ms   "
            f"app CPU {r['app_cpu_ms']:.3f} ms/write   errors {r['errors']}"
        )
    print(
        f"m = audited / unaudited = {audited['per_s']:,.1f} / {unaudited['per_s']:,.1f} = {ratio:.3f}   "
        f"(target >= {TARGET})  {'PASS' if ok else 'MISS'}"
    )
    return {"ratio_audited": round(ratio, 3), "ratio_audited_pass": ok, "audited_writes_per_s": audited["per_s"]}


def failed(results: dict) -> bool:
    return any(results[side]["errors"] for side in SIDES)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.audited", description="AIM without its audit write")
    parser.add_argument("--port", type=int, required=True)
    unit_of_work.Work.audit = lambda *_, **__: None  # type: ignore[method-assign]
    serve(Settings(host="127.0.0.1", port=parser.parse_args().port))
