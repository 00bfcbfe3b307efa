"""The budgets of query cost and the counts of attempts, in the process (memory://) and in Redis when
the suite has one."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from aim_identity.errors import RateLimited
from aim_identity.throttle import Throttle

REDIS_URL = os.environ.get("AIM_TEST_REDIS_URL", "memory://")
STORES = ["memory://", *([REDIS_URL] if REDIS_URL.startswith("redis") else [])]


@pytest.fixture(params=STORES)
def throttle(request) -> Throttle:
    return Throttle(request.param)


async def test_spending_takes_the_cost_from_the_callers_budget(throttle: Throttle):
    caller = f"user:{uuid.uuid4()}"
    first = await throttle.spend(caller, 30, "100/minute")
    assert (first.maximum, first.available, first.window_seconds) == (100, 70, 60)
    assert (await throttle.spend(caller, 70, "100/minute")).available == 0
    assert first.as_extension() == {"maximumAvailable": 100, "currentlyAvailable": 70, "windowSeconds": 60}


async def test_a_request_the_budget_cannot_pay_takes_nothing_and_says_when_to_retry(throttle: Throttle):
    caller = f"api_key:{uuid.uuid4()}"
    await throttle.spend(caller, 80, "100/minute")
    with pytest.raises(RateLimited) as refused:
        await throttle.spend(caller, 30, "100/minute")
    extensions = refused.value.extensions
    assert extensions["code"] == "RATE_LIMITED" and extensions["cost"] == 30
    assert extensions["throttleStatus"] == {"maximumAvailable": 100, "currentlyAvailable": 20, "windowSeconds": 60}
    assert 1 <= extensions["retryAfter"] <= 60
    # The refusal spent nothing: what is left still pays for a smaller request.
    assert (await throttle.spend(caller, 20, "100/minute")).available == 0


async def test_each_caller_has_a_budget_of_its_own(throttle: Throttle):
    spender, other = f"agent:{uuid.uuid4()}", f"agent:{uuid.uuid4()}"
    await throttle.spend(spender, 100, "100/minute")
    with pytest.raises(RateLimited):
        await throttle.spend(spender, 1, "100/minute")
    assert (await throttle.spend(other, 100, "100/minute")).available == 0


async def test_the_budget_comes_back_as_its_window_slides(throttle: Throttle):
    caller = f"user:{uuid.uuid4()}"
    await throttle.spend(caller, 10, "10/second")
    with pytest.raises(RateLimited):
        await throttle.spend(caller, 10, "10/second")
    started = time.monotonic()
    while True:  # two windows later nothing of the first spending counts
        try:
            await throttle.spend(caller, 10, "10/second")
            break
        except RateLimited:
            assert time.monotonic() - started < 3
            await asyncio.sleep(0.1)


async def test_an_unreachable_budget_store_counts_nothing_and_refuses_nothing():
    """Nothing listens on port 1: AIM keeps answering, uncounted, as it does from its database while
    Redis is away (tests/test_deployment.py runs a replica through a Redis outage)."""
    assert await Throttle("redis://127.0.0.1:1/0").spend(f"user:{uuid.uuid4()}", 10, "5/minute") is None


async def test_an_unreachable_store_counts_no_attempt_and_refuses_none():
    throttle, address = Throttle("redis://127.0.0.1:1/0"), f"192.0.2.{uuid.uuid4().int % 250}"
    for _ in range(3):
        await throttle.hit("login", "1/minute", address)


async def test_attempts_past_the_rate_are_refused_with_retry_after(throttle: Throttle):
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    await throttle.hit(f"login-{uuid.uuid4()}", "1/minute", address)
    action = f"signup-{uuid.uuid4()}"
    await throttle.hit(action, "2/minute", address)
    await throttle.hit(action, "2/minute", address)
    with pytest.raises(RateLimited) as refused:
        await throttle.hit(action, "2/minute", address)
    assert 1 <= refused.value.extensions["retryAfter"] <= 61
