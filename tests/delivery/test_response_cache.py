"""The response cache: a repeated query is answered without executing it again, and never once
anything it could contain has changed, nor for anyone but the caller it was made for."""

from __future__ import annotations

import json

import httpx

from tests.auth.test_api_keys import API_KEYS, REVOKE_KEY, create_key, with_key
from tests.identity.test_agents import SUSPEND
from tests.schema.test_query_count import counting
from tests.support import create_agent

AGENTS = "{ agents(first: 50) { totalCount edges { node { id name status trustScore { score } } } } }"
VIEWER = "{ viewer { email role } }"


async def test_a_repeated_query_costs_only_the_authentication_statement(org):
    await create_agent(org.admin.api)
    first = await org.admin.api(AGENTS)
    with counting() as statements:
        again = await org.admin.api(AGENTS)
    assert again == first
    assert len(statements) == 1, statements  # authentication, which also reads the data version


async def test_every_write_is_seen_by_the_next_read(org):
    agent = await create_agent(org.admin.api, name="before")
    before = await org.admin.api(AGENTS)
    await org.admin.api(SUSPEND, i={"id": agent.id, "reason": "cache test"})
    await create_agent(org.admin.api, name="after")
    after = await org.admin.api(AGENTS)
    assert after["agents"]["totalCount"] == before["agents"]["totalCount"] + 1
    statuses = {e["node"]["name"]: e["node"]["status"] for e in after["agents"]["edges"]}
    assert statuses["before"] == "SUSPENDED" and statuses["after"] == "PENDING"


async def test_callers_never_share_an_answer(org):
    viewer = await org.member("VIEWER")
    mine = await org.admin.api(VIEWER)
    theirs = await viewer.api(VIEWER)
    assert mine["viewer"] == {"email": org.admin.email, "role": "ADMIN"}
    assert theirs["viewer"] == {"email": viewer.email, "role": "VIEWER"}


async def test_a_revoked_key_is_refused_even_for_a_query_it_has_cached(org):
    key = await create_key(org.admin.api, "VIEWER")
    caller = with_key(org.admin.api, key["secret"])
    assert await caller(AGENTS) == await caller(AGENTS)
    await org.admin.api(REVOKE_KEY, i={"id": key["apiKey"]["id"]})
    assert await caller.error(AGENTS) == "UNAUTHENTICATED"


async def test_a_keys_first_use_shows_in_last_used_at(org):
    key = await create_key(org.admin.api, "VIEWER")

    def last_used(listing: dict):
        return next(k["lastUsedAt"] for k in listing["apiKeys"] if k["id"] == key["apiKey"]["id"])

    assert last_used(await org.admin.api(API_KEYS)) is None
    await with_key(org.admin.api, key["secret"])(VIEWER)
    assert last_used(await org.admin.api(API_KEYS)) is not None


async def test_a_cached_answer_is_the_same_response_and_only_for_a_plain_json_post(org, url):
    await create_agent(org.admin.api)
    headers = {"Authorization": f"Bearer {org.admin.api.token}"}
    body = {"query": AGENTS}
    async with httpx.AsyncClient() as client:
        first = await client.post(url, json=body, headers=headers)
        with counting() as statements:
            again = await client.post(url, json=body, headers=headers)
        assert len(statements) == 1  # answered from the cache
        assert (again.status_code, again.headers["content-type"]) == (first.status_code, first.headers["content-type"])
        # The same answer; the caller's budget paid for it again.
        was, now = first.json(), again.json()
        assert now["data"] == was["data"]
        cost, paid = now["extensions"]["cost"], was["extensions"]["cost"]
        for part in ("requestedQueryCost", "actualQueryCost"):
            assert cost[part] == paid[part]
        spent = paid["throttleStatus"]["currentlyAvailable"] - cost["throttleStatus"]["currentlyAvailable"]
        assert spent == cost["requestedQueryCost"]
        # What the cache does not answer takes the whole way, with its checks: a body that is not
        # JSON is refused as before (415), and extensions are executed, not looked up.
        refused = await client.post(url, content=json.dumps(body), headers={**headers, "Content-Type": "text/plain"})
        assert refused.status_code == 415
        with counting() as statements:
            executed = await client.post(url, json={**body, "extensions": {}}, headers=headers)
        assert executed.json()["data"] == first.json()["data"]
        assert len(statements) > 1
