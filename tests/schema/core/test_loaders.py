"""Connections inside a list (an agent's verification events, threats and MCP servers; an MCP
server's agents): each parent gets its own keyset pages and count, read for the whole list at once,
so the statements a request costs do not grow with the number of parents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from aim_identity import ids
from aim_identity import models as m
from tests.schema.test_query_count import MAX_QUERIES, counting
from tests.support import Org, create_agent, register

AGENTS = 12
BASE = datetime(2026, 6, 1, tzinfo=UTC)

AGENT_CHILDREN = """query($first: Int!, $n: Int, $after: String, $status: ThreatStatus) {
  agents(first: $first, orderBy: {field: NAME, direction: ASC}) { edges { node { name
    verificationEvents(first: $n, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
                                                   edges { node { id createdAt } } }
    threats(first: $n, status: $status) { totalCount edges { node { id title status } } }
    mcpServers(first: $n) { totalCount edges { node { name } } } } } } }"""
SERVER_AGENTS = """query($first: Int!, $n: Int, $after: String) {
  mcpServers(first: $first) { edges { node { name
    agents(first: $n, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } } } } }"""
ONE_AGENT = """query($id: ID!, $n: Int, $after: String) { agent(id: $id) {
  verificationEvents(first: $n, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } } }"""


@dataclass
class World:
    org: Org
    agents: dict[str, str]  # global ids, by name
    events: dict[str, list[tuple[datetime, uuid.UUID]]]  # each agent's events (time, id), newest first
    servers: dict[str, list[str]]  # each MCP server's agents, by name, oldest first


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(url: str) -> World:
    """Agent i has i verification events (one a minute from BASE, so agents share their times) and i
    threats (every other one resolved), and talks to servers i and i+1 of as many servers as agents;
    another organization has a look-alike of each."""
    org, foreign = await register(url), await register(url)
    world = World(org, {}, {}, {})
    for owner in (org, foreign):
        organization_id = ids.decode(owner.id, "Organization")
        names = [f"agent-{i:02d}" for i in range(AGENTS)]
        agent_gids = [(await create_agent(owner.admin.api, name)).id for name in names]
        servers = [
            await m.MCPServer.create(
                organization_id=organization_id, name=f"server-{i:02d}", url=f"https://mcp{i}.example.com"
            )
            for i in range(AGENTS)
        ]
        for i, (name, gid) in enumerate(zip(names, agent_gids, strict=True)):
            agent_id = ids.decode(gid, "Agent")
            events = [
                m.VerificationEvent(
                    id=uuid.uuid4(),
                    organization_id=organization_id,
                    agent_id=agent_id,
                    result=m.VerificationResult.VERIFIED,
                    trust_score_before=0.1,
                    trust_score_after=0.2,
                    created_at=BASE + timedelta(minutes=n),
                )
                for n in range(i)
            ]
            await m.VerificationEvent.bulk_create(events)
            await m.Threat.bulk_create(
                [
                    m.Threat(
                        organization_id=organization_id,
                        agent_id=agent_id,
                        type=m.ThreatType.ANOMALOUS_ACTIVITY,
                        severity=m.Severity.LOW,
                        title=f"{name} threat {n}",
                        description="seeded",
                        status=m.ThreatStatus.RESOLVED if n % 2 else m.ThreatStatus.OPEN,
                    )
                    for n in range(i)
                ]
            )
            for server in servers[i : i + 2]:
                await m.AgentMCPServer.create(agent_id=agent_id, mcp_server=server)
            if owner is org:
                world.agents[name] = gid
                world.events[name] = [(e.created_at, e.id) for e in reversed(events)]
        if owner is org:
            world.servers = {s.name: [names[j] for j in (i - 1, i) if j >= 0] for i, s in enumerate(servers)}
    return world


def event_ids(page: dict) -> list[uuid.UUID]:
    return [ids.decode(e["node"]["id"], "VerificationEvent") for e in page["edges"]]


@pytest.mark.parametrize("n", [2, 5])
async def test_each_agent_of_a_list_gets_its_own_newest_events(world: World, n: int):
    data = await world.org.admin.api(AGENT_CHILDREN, first=AGENTS, n=n)
    pages = {e["node"]["name"]: e["node"]["verificationEvents"] for e in data["agents"]["edges"]}
    assert set(pages) == set(world.agents)  # the other organization's look-alikes are not here
    for name, page in pages.items():
        events = world.events[name]
        assert event_ids(page) == [event_id for _, event_id in events[:n]], name
        assert page["totalCount"] == len(events)
        assert page["pageInfo"] == {
            "hasNextPage": len(events) > n,
            "hasPreviousPage": False,
            "endCursor": page["pageInfo"]["endCursor"] if events else None,
        }


async def test_one_agents_events_page_through_to_the_end(world: World):
    name = f"agent-{AGENTS - 1:02d}"
    seen, after = [], None
    while True:
        page = (await world.org.admin.api(ONE_AGENT, id=world.agents[name], n=3, after=after))["agent"]
        seen += event_ids(page["verificationEvents"])
        if not page["verificationEvents"]["pageInfo"]["hasNextPage"]:
            break
        after = page["verificationEvents"]["pageInfo"]["endCursor"]
    assert seen == [event_id for _, event_id in world.events[name]]


async def test_a_cursor_pages_every_agent_of_a_list_past_the_same_position(world: World):
    """A cursor is a position in the order (time, then id): after it, each agent's page holds its
    events strictly older than that position."""
    first = (await world.org.admin.api(AGENT_CHILDREN, first=AGENTS, n=4))["agents"]["edges"]
    cursor = next(e["node"]["verificationEvents"] for e in first if e["node"]["name"] == "agent-05")
    position = world.events["agent-05"][3]
    then = (await world.org.admin.api(AGENT_CHILDREN, first=AGENTS, n=4, after=cursor["pageInfo"]["endCursor"]))[
        "agents"
    ]["edges"]
    for edge in then:
        name = edge["node"]["name"]
        older = [
            event_id for at, event_id in world.events[name] if (at, str(event_id)) < (position[0], str(position[1]))
        ]
        assert event_ids(edge["node"]["verificationEvents"]) == older[:4], name
        assert edge["node"]["verificationEvents"]["pageInfo"]["hasPreviousPage"] is True


async def test_threats_filter_by_status_and_count_per_agent(world: World):
    data = await world.org.admin.api(AGENT_CHILDREN, first=AGENTS, n=100, status="OPEN")
    for edge in data["agents"]["edges"]:
        i = int(edge["node"]["name"].split("-")[1])
        threats = edge["node"]["threats"]
        assert threats["totalCount"] == len(threats["edges"]) == (i + 1) // 2
        assert {t["node"]["status"] for t in threats["edges"]} <= {"OPEN"}
        assert all(t["node"]["title"].startswith(edge["node"]["name"]) for t in threats["edges"])


async def test_mcp_servers_and_their_agents_on_both_sides(world: World):
    agents = (await world.org.admin.api(AGENT_CHILDREN, first=AGENTS, n=5))["agents"]["edges"]
    for edge in agents:
        i = int(edge["node"]["name"].split("-")[1])
        expected = [f"server-{j:02d}" for j in (i, i + 1) if j < AGENTS]
        assert edge["node"]["mcpServers"]["totalCount"] == len(expected)
        assert [s["node"]["name"] for s in edge["node"]["mcpServers"]["edges"]] == expected
    servers = (await world.org.admin.api(SERVER_AGENTS, first=AGENTS, n=1))["mcpServers"]["edges"]
    assert {s["node"]["name"] for s in servers} == set(world.servers)
    for server in servers:
        agents_page = server["node"]["agents"]
        expected = world.servers[server["node"]["name"]]
        assert agents_page["totalCount"] == len(expected)
        assert [a["node"]["name"] for a in agents_page["edges"]] == expected[:1]
        assert agents_page["pageInfo"]["hasNextPage"] == (len(expected) > 1)
        if agents_page["pageInfo"]["hasNextPage"]:
            rest = (
                await world.org.admin.api(SERVER_AGENTS, first=AGENTS, n=5, after=agents_page["pageInfo"]["endCursor"])
            )["mcpServers"]["edges"]
            mine = next(s for s in rest if s["node"]["name"] == server["node"]["name"])
            assert [a["node"]["name"] for a in mine["node"]["agents"]["edges"]] == expected[1:]


@pytest.mark.parametrize("query", [AGENT_CHILDREN, SERVER_AGENTS], ids=["agents", "mcpServers"])
async def test_nested_connections_cost_the_same_for_2_and_12_parents(world: World, query: str):
    costs = []
    for parents in (2, AGENTS):
        with counting() as statements:
            await world.org.admin.api(query, first=parents, n=3)
        costs.append(len(statements))
    assert costs[0] == costs[1], f"2 parents cost {costs[0]} statements, {AGENTS} cost {costs[1]}"
    assert costs[1] <= MAX_QUERIES


async def test_nested_page_sizes_and_cursors_are_checked(world: World):
    api = world.org.admin.api
    empty = (await api(AGENT_CHILDREN, first=AGENTS, n=0))["agents"]["edges"]
    for edge in empty:
        events = edge["node"]["verificationEvents"]
        has_events = bool(world.events[edge["node"]["name"]])
        assert events["edges"] == [] and events["pageInfo"]["hasNextPage"] == has_events
        assert events["totalCount"] == len(world.events[edge["node"]["name"]])
    for variables in ({"n": 101}, {"n": -1}, {"after": "garbage"}):
        assert await api.error(AGENT_CHILDREN, first=1, **variables) == "BAD_USER_INPUT", variables
    by_name = await api("{ agents(first: 1, orderBy: {field: NAME, direction: ASC}) { edges { cursor } } }")
    assert (
        await api.error(AGENT_CHILDREN, first=1, after=by_name["agents"]["edges"][0]["cursor"]) == "BAD_USER_INPUT"
    )  # a position by name, where events are ordered by time
