"""(k) hardening: what production's checks cost on the agents page, (b)'s query. Two AIM servers in
production mode on the bench database, both with the response cache off so that every request is
executed and checked: `aimctl serve`, and the same server built without its checks
(`create_app(checks=False)`: no budget or cost, no document limits, introspection or suggestion rules,
no security headers), served by `python -m bench.hardening`. The load process drives each in turn
(harness.in_turn). The ratio is on / off (target at least 0.9)."""

from __future__ import annotations

import argparse

from aim_identity.cli import serve
from aim_identity.config import Settings

TARGET = 0.9


def report(results: dict) -> dict:
    on, off = results["on"], results["off"]
    ratio = on["per_s"] / off["per_s"]
    ok = ratio >= TARGET
    print()
    print("(k) the agents page, executed every time (response cache off), production checks on and off:")
    for side in ("on", "off"):
        r = results[side]
        print(
            f"    checks {side:3}  {r['per_s']:>8,.1f} req/s   p95 {r['p95_ms']:.2f} ms   "
            f"app CPU {r['app_cpu_ms']:.3f} ms/request   errors {r['errors']}"
        )
    print(
        f"k = on / off = {on['per_s']:,.1f} / {off['per_s']:,.1f} = {ratio:.3f}   (target >= {TARGET})  "
        f"{'PASS' if ok else 'MISS'}"
    )
    verdict = {"ratio_hardening": round(ratio, 3), "ratio_hardening_pass": ok}
    if on["app_cpu_ms"] and off["app_cpu_ms"]:
        verdict["cpu_ratio_hardening"] = round(off["app_cpu_ms"] / on["app_cpu_ms"], 3)
        print(
            f"server CPU per request off/on = {off['app_cpu_ms']:.3f} / {on['app_cpu_ms']:.3f} ms"
            f" = {verdict['cpu_ratio_hardening']:.3f}   (the same ratio by CPU time)"
        )
    return verdict


def failed(results: dict) -> bool:
    return any(results[side]["errors"] for side in ("on", "off"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.hardening", description="AIM without its checks")
    parser.add_argument("--port", type=int, required=True)
    serve(Settings(host="127.0.0.1", port=parser.parse_args().port), checks=False)
