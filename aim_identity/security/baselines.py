"""An agent's behavioural baseline, learned from its own actions: how many it asks for per bucket of
time (the ANOMALOUS_ACTIVITY policy's window), overall and per capability, as an exponentially
weighted mean and variance over the buckets in which it acted. Idle time is not folded in: an agent
that works in sessions is judged against its pace while it works, not against its nights.

What the agent does now is the count over the last bucket's length, sliding: the bucket in progress
plus the previous bucket's share of the window not yet past. It is anomalous when it is far from the
mean in standard deviations (a z-score at least the policy's threshold), but only once the baseline
has seen MIN_BUCKETS active buckets and MIN_ACTIONS actions, and only for at least MIN_OBSERVED
actions: a handful of requests is never a burst. The deviation is at least the square root of the
mean (counts of independent events vary that much), and at least 1.

Pure arithmetic on a JSON-able state; security/rules.py loads and stores it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The mean follows about the last SPAN buckets (alpha = 2 / (SPAN + 1)).
SPAN = 60
ALPHA = 2 / (SPAN + 1)
MIN_BUCKETS = 30
MIN_ACTIONS = 50
MIN_OBSERVED = 10
# Capabilities followed per agent; the least used give way to new ones.
CAPABILITIES_KEPT = 50
TOTAL = "*"


@dataclass(frozen=True)
class Deviation:
    metric: str  # "action_rate" or "capability_rate:<capability>"
    observed: float
    expected: float
    score: float


def empty(size: int) -> dict[str, Any]:
    return {"size": size, "bucket": None, "learned": 0, "seen": 0, "rates": {}, "flagged": {}}


def observe(state: dict[str, Any], at: float, capability: str, threshold: float) -> list[Deviation]:
    """Counts one action at `at` (unix seconds) and returns the deviations it brings to light, at most one
    per metric in any bucket's length of time."""
    size = state["size"]
    bucket = int(at // size)
    if state["bucket"] is None:
        state["bucket"] = bucket
    elif bucket > state["bucket"]:
        adjacent = bucket == state["bucket"] + 1
        for rate in state["rates"].values():
            _advance(rate, adjacent)
        state["learned"] += 1
        state["bucket"] = bucket
    rates = state["rates"]
    for name in (TOTAL, capability):
        if name not in rates:
            rates[name] = {"count": 0, "previous": 0, "mean": 0.0, "var": 0.0, "folded": 0}
        rates[name]["count"] += 1
    state["seen"] += 1
    _forget_rare(rates, capability)
    if state["learned"] < MIN_BUCKETS or state["seen"] < MIN_ACTIONS:
        return []
    # The share of the previous bucket still inside the sliding window.
    carried = 1 - (at - state["bucket"] * size) / size
    found = []
    for name, metric in ((TOTAL, "action_rate"), (capability, f"capability_rate:{capability}")):
        rate = rates[name]
        observed = rate["count"] + rate["previous"] * carried
        deviation = math.sqrt(max(rate["var"], rate["mean"], 1.0))
        score = (observed - rate["mean"]) / deviation
        if observed >= MIN_OBSERVED and score >= threshold:
            last = state["flagged"].get(metric)
            if last is None or at - last >= size:
                state["flagged"][metric] = at
                found.append(Deviation(metric, round(observed, 3), round(rate["mean"], 3), round(score, 2)))
            break  # the overall rate explains a burst on one capability too
    return found


def _advance(rate: dict[str, Any], adjacent: bool) -> None:
    """Folds the finished bucket into the mean and variance, if the agent used this rate in it."""
    finished = rate["count"]
    if finished:
        _fold(rate, finished)
    rate["previous"] = finished if adjacent else 0
    rate["count"] = 0


def _fold(rate: dict[str, Any], x: float) -> None:
    rate["folded"] += 1
    if rate["folded"] == 1:  # the first bucket is the mean, not a step toward it from nothing
        rate["mean"] = float(x)
        return
    difference = x - rate["mean"]
    increment = ALPHA * difference
    rate["mean"] += increment
    rate["var"] = (1 - ALPHA) * (rate["var"] + difference * increment)


def _forget_rare(rates: dict[str, Any], current: str) -> None:
    while len(rates) > CAPABILITIES_KEPT + 1:
        rarest = min(
            (n for n in rates if n not in (TOTAL, current)), key=lambda n: (rates[n]["mean"], rates[n]["count"])
        )
        del rates[rarest]
