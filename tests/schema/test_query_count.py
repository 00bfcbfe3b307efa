"""No N+1: the SQL statements one GraphQL request costs do not grow with the page size.

Tortoise logs each statement at DEBUG on "tortoise.db_client"; the server runs in this process,
so a handler on that logger sees every statement a request makes."""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from dataclasses import dataclass

import pytest_asyncio

from aim_identity.workers import mcp_watch, webhooks
from tests.support import Org, Person, create_agent, register

MAX_QUERIES = 8

AGENTS_PAGE = """query($first: Int!) { agents(first: $first) { edges { node {
  id name
  trustScore { score confidence factors { name value contribution explanation } }
  capabilities { name grantedBy { email } }
  createdBy { email name }
} } } }"""
TRUST_HISTORY = """query($first: Int!) { agents(first: $first) { edges { node {
  id trustHistory { score reason at } } } } }"""
MCP_SERVERS = """query($first: Int!) { agents(first: $first) { edges { node {
  id name mcpServers { totalCount edges { node { name health capabilities { name kind } trust { score } } } } } } } }"""


class Statements(logging.Handler):
    """Statements of tasks started after it: the request's, not the outbox relay's polling, say, nor the
    health checks, discoveries and webhook deliveries the workers start meanwhile."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.earlier = asyncio.all_tasks()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # not on the loop: no statement of ours
            return
        message = record.getMessage()
        # Connection bookkeeping is logged here too; it is not a statement.
        if (
            task not in self.earlier
            and not (task and task.get_name().startswith((mcp_watch.TASK_PREFIX, webhooks.TASK_PREFIX)))
            and not message.startswith(("Created connection", "Closed connection"))
        ):
            self.records.append(message)


@contextmanager
def counting():
    logger = logging.getLogger("tortoise.db_client")
    handler, level = Statements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def statements_for(org: Org, query: str, first: int) -> tuple[int, list[str]]:
    with counting() as records:
        data = await org.admin.api(query, first=first)
    nodes = [e["node"] for e in data["agents"]["edges"]]
    assert len(nodes) == first
    # Each relation must have rows to load, or there would be nothing to batch.
    for relation in ("capabilities", "trustHistory"):
        assert all(node.get(relation, [None]) for node in nodes), relation
    return len(records), list(records)


@dataclass
class Fleet:
    org: Org
    creators: list[Person]


REGISTER_MCP = "mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"
CONNECT = "mutation($i: ConnectMCPServerInput!) { connectMCPServer(input: $i) { agent { id } } }"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fleet(url: str) -> Fleet:
    org = await register(url)
    # Two people create (and so grant), so createdBy and grantedBy load more than one user.
    creators = [org.admin, await org.member("MANAGER")]
    servers = []
    for n in range(3):
        tools = [f"tool_{n}_{t}" for t in range(n + 1)]
        data = await org.admin.api(
            REGISTER_MCP, i={"name": f"mcp-{n}", "url": f"https://mcp-{n}.example/mcp", "capabilities": tools}
        )
        servers.append(data["registerMCPServer"]["mcpServer"]["id"])
    for n in range(50):
        agent = await create_agent(creators[n % 2].api, f"agent-{n:02d}", capabilities=capabilities(n))
        for server in servers[: n % 3 + 1]:
            await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": server})
    return Fleet(org, creators)


def capabilities(n: int) -> list[str]:
    return ["db:read", "file:*", f"tool:t{n % 3}"]


async def test_agent_page_costs_the_same_at_5_and_50(fleet: Fleet):
    small, _small_sql = await statements_for(fleet.org, AGENTS_PAGE, 5)
    large, large_sql = await statements_for(fleet.org, AGENTS_PAGE, 50)
    detail = "\n".join(large_sql)
    assert large == small, f"5 agents cost {small} statements, 50 cost {large}:\n{detail}"
    assert large <= MAX_QUERIES, f"a page of agents costs {large} statements:\n{detail}"
    print(f"agents page with trust score, capabilities, grantedBy and createdBy: {large} statements")


async def test_page_data_is_complete(fleet: Fleet):
    """The batched loaders attach every capability and user to the right agent."""
    data = await fleet.org.admin.api(AGENTS_PAGE, first=50)
    for edge in data["agents"]["edges"]:
        node = edge["node"]
        n = int(node["name"].split("-")[1])
        creator = fleet.creators[n % 2].email
        assert sorted(c["name"] for c in node["capabilities"]) == sorted(capabilities(n))
        assert {c["grantedBy"]["email"] for c in node["capabilities"]} == {creator}
        assert node["createdBy"]["email"] == creator
        assert len(node["trustScore"]["factors"]) == 8


async def test_trust_history_costs_the_same_at_5_and_50(fleet: Fleet):
    small, _ = await statements_for(fleet.org, TRUST_HISTORY, 5)
    large, large_sql = await statements_for(fleet.org, TRUST_HISTORY, 50)
    detail = "\n".join(large_sql)
    assert large == small, f"trustHistory on 5 agents costs {small} statements, on 50 {large}:\n{detail}"
    assert large <= MAX_QUERIES, f"trustHistory on 50 agents costs {large} statements:\n{detail}"
    print(f"agents page with trustHistory: {large} statements")


async def test_mcp_servers_with_capabilities_and_health_cost_the_same_at_5_and_50(fleet: Fleet):
    small, _ = await statements_for(fleet.org, MCP_SERVERS, 5)
    large, large_sql = await statements_for(fleet.org, MCP_SERVERS, 50)
    detail = "\n".join(large_sql)
    assert large == small, f"mcpServers on 5 agents costs {small} statements, on 50 {large}:\n{detail}"
    assert large <= MAX_QUERIES, f"mcpServers on 50 agents costs {large} statements:\n{detail}"
    # And each agent has exactly its own servers, each with its own tools.
    data = await fleet.org.admin.api(MCP_SERVERS, first=50)
    for edge in data["agents"]["edges"]:
        n = int(edge["node"]["name"].split("-")[1])
        servers = {s["node"]["name"]: s["node"] for s in edge["node"]["mcpServers"]["edges"]}
        assert sorted(servers) == [f"mcp-{k}" for k in range(n % 3 + 1)]
        assert edge["node"]["mcpServers"]["totalCount"] == n % 3 + 1
        for k, server in enumerate(sorted(servers.values(), key=lambda s: s["name"])):
            assert [c["name"] for c in server["capabilities"]] == [f"tool_{k}_{t}" for t in range(k + 1)]
