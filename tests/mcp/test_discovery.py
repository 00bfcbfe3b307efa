"""Discovery speaks MCP: against a real MCP server (the official `mcp` SDK, tests/mcp/fixture.py) on
loopback, AIM finds exactly what it serves, follows its pagination, records what changes, and reports a
server that answers garbage, hangs or floods it as a failed discovery, staying responsive meanwhile."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid

import pytest
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.mcp import discovery
from aim_identity.models import MCPServer, Threat, ThreatType
from tests.delivery.test_websocket import Feed
from tests.mcp.fixtures import FixtureServer, mcp_fixture
from tests.mcp.fixtures import mcp_server as mcp_server
from tests.receivers import flood, ok, silence
from tests.support import Org, create_agent

REGISTER = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"""
DISCOVER = """mutation($i: MCPServerInput!) { discoverMCPServer(input: $i) { mcpServer {
  transport discoveredAt discoveryError serverInfo { name version protocolVersion }
  capabilities { kind name description uri } } } }"""
SERVER = """query($id: ID!) { mcpServer(id: $id) { discoveredAt discoveryError transport
  capabilities { kind name } } }"""
EVENTS = "subscription($id: ID) { mcpServerEvents(mcpServerId: $id) { kind mcpServerId added removed reason } }"
CONNECT = "mutation($i: ConnectMCPServerInput!) { connectMCPServer(input: $i) { agent { id } } }"
THREE_TOOLS = [
    {"kind": "TOOL", "name": "get_weather", "description": "Tool get_weather.", "uri": None},
    {"kind": "TOOL", "name": "search_docs", "description": "Tool search_docs.", "uri": None},
    {"kind": "TOOL", "name": "send_email", "description": "Tool send_email.", "uri": None},
]


async def register(org: Org, url: str, **extra) -> str:
    name = f"mcp-{uuid.uuid4().hex[:8]}"
    return (await org.admin.api(REGISTER, i={"name": name, "url": url, **extra}))["registerMCPServer"]["mcpServer"][
        "id"
    ]


async def discovered(org: Org, server_id: str, timeout: float = 15.0) -> dict:
    """The server once the workers have discovered it (or failed to)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = (await org.admin.api(SERVER, id=server_id))["mcpServer"]
        if server["discoveredAt"] or server["discoveryError"]:
            return server
        await asyncio.sleep(0.2)
    raise AssertionError("the server was never discovered")


async def test_registration_discovers_exactly_what_the_server_serves(org: Org, mcp_server: FixtureServer):
    server_id = await register(org, mcp_server.url)
    assert (await discovered(org, server_id))["discoveryError"] is None
    listed = (await mcp_server.requests())["methods"]["tools/list"]
    found = (await org.admin.api(DISCOVER, i={"id": server_id}))["discoverMCPServer"]["mcpServer"]
    assert found["capabilities"] == [
        *THREE_TOOLS,
        {"kind": "RESOURCE", "name": "readme", "description": "Resource docs://readme.", "uri": "docs://readme"},
        {"kind": "PROMPT", "name": "summarize", "description": "Prompt summarize.", "uri": None},
    ]
    assert found["serverInfo"] == {"name": "fixture", "version": "1.0.0", "protocolVersion": "2025-11-25"}
    assert found["transport"] == "STREAMABLE_HTTP"
    # Three tools, two to a page: the cursor was followed to the second page.
    assert (await mcp_server.requests())["methods"]["tools/list"] - listed == 2


async def test_a_server_on_the_older_sse_transport_is_discovered_too(org: Org, tmp_path):
    server = mcp_fixture(tmp_path, transport="sse", tools=("only_tool",), resources=(), prompts=())
    await server.start()
    try:
        server_id = await register(org, server.url)
        found = (await org.admin.api(DISCOVER, i={"id": server_id}))["discoverMCPServer"]["mcpServer"]
    finally:
        await server.stop()
    assert found["transport"] == "SSE"
    assert [(c["kind"], c["name"]) for c in found["capabilities"]] == [("TOOL", "only_tool")]


async def test_a_changed_tool_list_is_published_and_is_drift_for_agents_that_never_declared_it(
    org: Org, url: str, mcp_server: FixtureServer
):
    server_id = await register(org, mcp_server.url)
    await discovered(org, server_id)
    careful = await create_agent(org.admin.api, capabilities=["mcp:delete_files"])
    careless = await create_agent(org.admin.api, capabilities=["mcp:get_weather"])
    for agent in (careful, careless):
        await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": server_id})

    await mcp_server.change_tools(add=["delete_files"], remove=["send_email"])
    async with Feed(url, EVENTS, {"id": server_id}, Authorization=f"Bearer {org.admin.api.token}") as feed:
        await org.admin.api(DISCOVER, i={"id": server_id})
        kinds = {}
        for _ in range(3):
            event = (await feed.next(timeout=5))["mcpServerEvents"]
            kinds[event["kind"]] = event
            if "mcp_server.capabilities_changed" in kinds:
                break
    change = kinds["mcp_server.capabilities_changed"]
    assert (change["mcpServerId"], change["added"], change["removed"]) == (
        server_id,
        ["tool:delete_files"],
        ["tool:send_email"],
    )
    drift = {
        agent.id: await Threat.filter(
            agent_id=ids.decode(agent.id, "Agent"), type=ThreatType.CONFIGURATION_DRIFT
        ).values_list("evidence", flat=True)
        for agent in (careful, careless)
    }
    assert drift[careful.id] == []
    assert [e["tools"] for e in drift[careless.id]] == [["delete_files"]]
    # Discovering the same list again changes nothing.
    await org.admin.api(DISCOVER, i={"id": server_id})
    assert await Threat.filter(agent_id=ids.decode(careless.id, "Agent")).count() == 1


async def test_a_verified_server_is_discovered_again(org: Org, anonymous, mcp_server: FixtureServer):
    key = SigningKey.generate()
    server_id = await register(org, mcp_server.url, publicKey=base64.b64encode(bytes(key.verify_key)).decode())
    await discovered(org, server_id)
    before = (await mcp_server.requests())["methods"]["initialize"]
    issued = (
        await anonymous(
            "mutation($i: RequestMCPChallengeInput!) { requestMCPServerChallenge(input: $i) { id message } }",
            i={"mcpServerId": server_id},
        )
    )["requestMCPServerChallenge"]
    signature = base64.b64encode(key.sign(base64.b64decode(issued["message"])).signature).decode()
    await anonymous(
        "mutation($i: VerifyMCPServerInput!) { verifyMCPServer(input: $i) { verified } }",
        i={"challengeId": issued["id"], "signature": signature},
    )
    deadline = time.monotonic() + 10
    while (await mcp_server.requests())["methods"]["initialize"] == before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert (await mcp_server.requests())["methods"]["initialize"] > before


async def test_a_stdio_server_is_not_for_aim_to_reach(org: Org, anonymous):
    agent = await create_agent(org.admin.api)
    report = await org.admin.api(
        """mutation($i: ReportDetectedMCPServersInput!) {
          reportDetectedMCPServers(input: $i) { registered { id } } }""",
        i={"agentId": agent.id, "servers": [{"name": f"files-{uuid.uuid4().hex[:6]}", "command": "npx"}]},
    )
    stdio_id = report["reportDetectedMCPServers"]["registered"][0]["id"]
    assert await org.admin.api.error(DISCOVER, i={"id": stdio_id}) == "CONFLICT"


# A server that is no MCP server, one that never answers, and one that sends fifty megabytes: each is
# a failed discovery with its reason, within the discovery timeout.
@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (ok(b"<html>hello</html>", "Content-Type: text/html"), "did not answer as MCP expects"),
        (silence, "no complete answer within 2 s"),
        (flood("Content-Type: application/json"), "sent more than"),
    ],
    ids=["garbage", "hang", "flood"],
)
async def test_a_server_that_misbehaves_is_a_failed_discovery(org: Org, settings, receivers, answer, reason):
    receiver = await receivers(answer)
    server_id = await register(org, receiver.url + "mcp")
    quick = settings.model_copy(update={"mcp_discovery_timeout": 2.0, "outbound_max_bytes": 1024 * 1024})
    row = await MCPServer.get(id=ids.decode(server_id, "MCPServer"))
    actor = Actor(row.organization_id, "system", "test")
    started = time.monotonic()
    task = asyncio.create_task(discovery.run(actor, quick, row))
    # AIM answers its callers while a discovery waits on a server.
    assert (await org.admin.api("{ viewer { id } }"))["viewer"]["id"] == org.admin.user_id
    row = await task
    assert time.monotonic() - started < 2.0 + 3
    assert reason in row.discovery_error, row.discovery_error
    assert row.capabilities == [] and row.discovered_at is None


async def test_production_refuses_to_discover_a_loopback_server(settings, mcp_server: FixtureServer, org: Org):
    server_id = await register(org, mcp_server.url)
    row = await MCPServer.get(id=ids.decode(server_id, "MCPServer"))
    production = settings.model_copy(update={"env": "production", "allow_private_targets": ()})
    found = await discovery.run(Actor(row.organization_id, "system", "test"), production, row)
    assert found.discovery_error == "refused: 127.0.0.1 is a loopback address"
    allowed = production.model_copy(update={"allow_private_targets": ("127.0.0.1",)})
    found = await discovery.run(Actor(row.organization_id, "system", "test"), allowed, found)
    assert found.discovery_error is None and len(found.capabilities) == 5
