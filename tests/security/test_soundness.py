"""Sound rules: a normal agent's week of varied, allowed work raises nothing, and the same detector,
armed by that week, still catches a burst. The week runs through the real authorization code against
the live database, on a clock the test moves (aim_identity.clock), and is judged by the detector the
server runs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from aim_identity import clock, ids
from aim_identity.actors import Actor
from aim_identity.identity import actions
from aim_identity.models import AgentBaseline, Anomaly, Threat
from aim_identity.security import baselines
from tests.support import AgentKeys, Org, create_agent, fresh_ip, judged, signed_request

CAPABILITIES = {"db:read": 50, "files:read": 20, "db:write": 12, "http:get": 10, "mail:send": 5, "files:delete": 3}


def working_week(seed: int, actions_in_all: int = 500) -> list[datetime]:
    """Three to five sessions a day in working hours, each of a dozen to thirty actions some seconds to
    a minute and a half apart."""
    rng = random.Random(seed)
    monday = datetime(2026, 11, 2, tzinfo=UTC)
    times: list[datetime] = []
    for day in range(7):
        for _ in range(rng.randint(3, 5)):
            at = monday + timedelta(days=day, hours=rng.uniform(8, 19))
            for _ in range(rng.randint(12, 30)):
                at += timedelta(seconds=rng.uniform(8, 90))
                times.append(at)
    times.sort()
    assert len(times) >= actions_in_all
    return times[:actions_in_all]


async def act(settings, agent: AgentKeys, capability: str, at: datetime) -> bool:
    request = signed_request(agent, capability, at=at)
    with clock.frozen_at(at):
        decision = await actions.authorize(
            Actor(None, "anonymous", ip_address=fresh_ip()),
            settings,
            ids.decode(agent.id, "Agent"),
            capability,
            None,
            None,
            datetime.fromisoformat(request["timestamp"]),
            request["nonce"],
            request["signature"],
        )
    return decision.allowed


async def test_a_week_of_normal_work_raises_nothing_and_a_burst_after_it_is_caught(org: Org, settings):
    agent = await create_agent(org.admin.api, capabilities=list(CAPABILITIES))
    rng = random.Random(7)
    week = working_week(seed=7)
    for at in week:
        capability = rng.choices(list(CAPABILITIES), weights=list(CAPABILITIES.values()))[0]
        assert await act(settings, agent, capability, at)
    await judged(org, seconds=60)

    agent_id = ids.decode(agent.id, "Agent")
    assert await Threat.filter(agent_id=agent_id).count() == 0
    assert await Anomaly.filter(agent_id=agent_id).count() == 0
    state = (await AgentBaseline.get(agent_id=agent_id)).state
    assert state["seen"] == 500 and state["learned"] >= baselines.MIN_BUCKETS  # armed, and quiet
    assert set(state["rates"]) == {baselines.TOTAL, *CAPABILITIES}

    # The same agent, the next morning, forty reads in twenty seconds.
    burst_at = week[-1] + timedelta(hours=14)
    for i in range(40):
        assert await act(settings, agent, "db:read", burst_at + timedelta(seconds=i / 2))
    await judged(org)
    (anomaly,) = await Anomaly.filter(agent_id=agent_id)
    assert anomaly.metric == "action_rate" and anomaly.observed >= baselines.MIN_OBSERVED
    assert anomaly.detected_at.astimezone(UTC) - burst_at < timedelta(seconds=20)  # judged at the event's time
    (threat,) = await Threat.filter(agent_id=agent_id)
    assert threat.type.value == "ANOMALOUS_ACTIVITY" and threat.evidence["anomalyId"] == ids.encode(
        "Anomaly", anomaly.id
    )
