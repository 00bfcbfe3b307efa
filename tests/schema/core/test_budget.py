"""Every answer carries its cost and its caller's throttle status (`extensions.cost`), and each request
is charged to its caller: a user, an API key, an agent, or the address of a caller not signed in. What
happens past the budget, across replicas, is tested in tests/test_deployment.py."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from aim_identity.config import Settings
from tests.support import Org, create_agent, fresh_ip

PAGE = "{ agents(first: 20) { totalCount edges { node { id name } } } }"


async def post(url: str, query: str, *, token: str | None = None, ip: str | None = None) -> dict:
    headers = {"X-Forwarded-For": ip or fresh_ip()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def available(body: dict) -> int:
    return body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]


async def test_an_answer_carries_what_it_could_cost_and_what_it_did(org: Org, url: str, settings: Settings):
    for _ in range(3):
        await create_agent(org.admin.api)
    body = await post(url, PAGE, token=org.admin.api.token)
    assert len(body["data"]["agents"]["edges"]) == 3
    cost = body["extensions"]["cost"]
    # agents 1 + totalCount 1 + edges (1 + 20 * (node 1 + id 1 + name 1)), against 20 made 3
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (63, 12)
    budget = int(settings.cost_budget.split("/")[0])
    assert cost["throttleStatus"]["maximumAvailable"] == budget
    assert cost["throttleStatus"]["windowSeconds"] == 60
    # The next request finds the requested cost gone from the caller's budget.
    assert available(await post(url, PAGE, token=org.admin.api.token)) <= available(body) - 63


async def test_a_mutation_weighs_more_than_a_read(org: Org, url: str):
    body = await post(url, "mutation { logout(input: {}) { ok } }", token=org.admin.api.token)
    assert body["data"]["logout"]["ok"] is True
    assert body["extensions"]["cost"]["requestedQueryCost"] == body["extensions"]["cost"]["actualQueryCost"] == 11


async def test_a_caller_not_signed_in_is_charged_by_its_address(url: str):
    ip = fresh_ip()
    first = await post(url, "{ __typename }", ip=ip)
    again = await post(url, "{ __typename }", ip=ip)
    elsewhere = await post(url, "{ __typename }")
    assert available(again) == available(first) - 1
    assert available(elsewhere) > available(again)


async def test_a_refused_document_costs_nothing_and_says_nothing_of_cost(org: Org, url: str):
    body = await post(url, "{ nope }", token=org.admin.api.token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cost" not in (body.get("extensions") or {})


async def test_a_subscription_is_charged_once_when_it_starts(org: Org, url: str):
    before = available(await post(url, "{ __typename }", token=org.admin.api.token))
    async with websockets.connect(url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"]) as socket:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {org.admin.api.token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "connection_ack"
        subscribe = {"query": "subscription { agentEvents { kind agentId } }"}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await asyncio.sleep(0.3)
        after = available(await post(url, "{ __typename }", token=org.admin.api.token))
    assert after == before - 1 - (1 + 2)  # this query, and the subscription: agentEvents 1 + kind 1 + agentId 1
