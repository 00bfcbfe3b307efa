"""The behavioural baseline as arithmetic: learned from an agent's own rate, quiet until it has seen
enough, and firing once on a burst far above what the agent usually does."""

from __future__ import annotations

from aim_identity.security import baselines

MINUTE = 60.0
Z = 4.0


def steady(state: dict, minutes: int, per_minute: int, capability: str = "db:read", start: float = 0.0) -> list:
    """The agent's ordinary work: `per_minute` actions spread evenly over each minute."""
    found = []
    for minute in range(minutes):
        for i in range(per_minute):
            at = start + minute * MINUTE + (i + 0.5) * MINUTE / per_minute
            found += baselines.observe(state, at, capability, Z)
    return found


def burst(state: dict, at: float, count: int, capability: str = "db:read", seconds: float = 20) -> list:
    found = []
    for i in range(count):
        found += baselines.observe(state, at + i * seconds / count, capability, Z)
    return found


def test_steady_work_never_deviates_and_the_baseline_learns_its_rate():
    state = baselines.empty(60)
    assert steady(state, minutes=120, per_minute=3) == []
    rate = state["rates"][baselines.TOTAL]
    assert abs(rate["mean"] - 3) < 0.1 and state["learned"] == 119 and state["seen"] == 360


def test_a_burst_at_ten_times_the_rate_is_one_deviation_with_what_was_seen_and_expected():
    state = baselines.empty(60)
    steady(state, minutes=120, per_minute=2)
    found = burst(state, at=120 * MINUTE + 1, count=25)
    assert len(found) == 1  # once per window, however long the burst goes on
    (deviation,) = found
    assert deviation.metric == "action_rate"
    assert abs(deviation.expected - 2) < 0.05
    # Fired at the first action that took the sliding count past the floor and the z-score.
    assert baselines.MIN_OBSERVED <= deviation.observed < 12
    assert deviation.score >= Z


def test_nothing_fires_before_the_baseline_has_seen_enough():
    state = baselines.empty(60)
    steady(state, minutes=10, per_minute=2)  # too few buckets and actions yet
    assert burst(state, at=10 * MINUTE + 1, count=40) == []


def test_a_handful_of_actions_is_never_a_burst_however_quiet_the_agent_was():
    state = baselines.empty(60)
    steady(state, minutes=60, per_minute=1)
    quiet_day = 60 * MINUTE + 24 * 3600  # the first action of a new day
    assert burst(state, at=quiet_day, count=baselines.MIN_OBSERVED - 1) == []
    assert len(burst(state, at=quiet_day + 2 * MINUTE, count=baselines.MIN_OBSERVED + 5)) == 1


def test_a_capability_the_agent_rarely_uses_can_stand_out_when_the_overall_rate_does_not():
    state = baselines.empty(60)
    # A busy agent: 30 reads a minute, with a wide spread.
    for minute in range(120):
        for i in range(20 + (minute % 3) * 10):
            baselines.observe(state, minute * MINUTE + i, "db:read", Z)
    start = 120 * MINUTE
    found = []
    for i in range(30):
        found += baselines.observe(state, start + i, "db:read" if i % 2 else "db:users:delete", Z)
    assert [d.metric for d in found] == ["capability_rate:db:users:delete"]
    assert found[0].expected == 0


def test_idle_time_does_not_lower_the_pace_the_agent_is_judged_by():
    state = baselines.empty(60)
    steady(state, minutes=60, per_minute=5)
    next_morning = 60 * MINUTE + 12 * 3600
    assert steady(state, minutes=2, per_minute=8, start=next_morning) == []
    assert abs(state["rates"][baselines.TOTAL]["mean"] - 5) < 0.5
