"""(n) workers: how throughput moves from one API process to two (`aimctl serve --workers 2`, one
port) on this machine, for the agents page executed every time (response cache off, (b)'s query)
and for the challenge-response round trip ((c)). For each, a server of one worker and a server of two
are up at once on the bench database and the load process drives each in turn (harness.in_turn);
a side's CPU is that of all its processes. No target: the figures back the README's advice on how
many workers to run per core."""

from __future__ import annotations

SCENARIOS = {"graphql": "the agents page, executed", "verify": "challenge-response round trips"}
SIDES = {"one": 1, "two": 2}


def report(results: dict) -> dict:
    print()
    print("(n) one API process against two (aimctl serve --workers 2), the response cache off:")
    verdict = {}
    for scenario, label in SCENARIOS.items():
        one, two = results[scenario]["one"], results[scenario]["two"]
        scaling = two["per_s"] / one["per_s"]
        verdict[f"workers_{scenario}"] = round(scaling, 3)
        print(f"    {label}:")
        for side, workers in SIDES.items():
            r = results[scenario][side]
            print(
                f"        {workers} worker{'s' if workers > 1 else ' '} {r['per_s']:>8,.1f} per s   "
                f"p95 {r['p95_ms']:.2f} ms   app CPU {r['app_cpu_ms']:.3f} ms each   errors {r['errors']}"
            )
        print(f"        two / one = {two['per_s']:,.1f} / {one['per_s']:,.1f} = {scaling:.3f}")
    return verdict


def failed(results: dict) -> bool:
    return any(results[scenario][side]["errors"] for scenario in SCENARIOS for side in SIDES)
