"""Health checks of a real MCP server (tests/mcp/fixture.py): up, down when it stops, up again when it
comes back, degraded when slow; each check kept, each change published, and uptime in the trust score."""

from __future__ import annotations

import uuid

from aim_identity import ids
from aim_identity.mcp import health
from aim_identity.models import HealthStatus, MCPHealthCheck, MCPServer
from tests.delivery.test_websocket import Feed
from tests.mcp.fixtures import FixtureServer, mcp_fixture
from tests.mcp.fixtures import mcp_server as mcp_server
from tests.receivers import silence
from tests.support import Org

REGISTER = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }"""
SERVER = """query($id: ID!) { mcpServer(id: $id) { health latencyMs lastHealthCheckAt
  trust { factors { name value explanation } } } }"""
EVENTS = "subscription($id: ID) { mcpServerEvents(mcpServerId: $id) { kind health previousHealth } }"


async def registered(org: Org, url: str) -> MCPServer:
    name = f"mcp-{uuid.uuid4().hex[:8]}"
    data = await org.admin.api(REGISTER, i={"name": name, "url": url})
    return await MCPServer.get(id=ids.decode(data["registerMCPServer"]["mcpServer"]["id"], "MCPServer"))


async def test_a_server_that_stops_goes_down_and_comes_back(org: Org, url: str, settings, mcp_server: FixtureServer):
    row = await registered(org, mcp_server.url)
    gid = ids.encode("MCPServer", row.id)
    async with Feed(url, EVENTS, {"id": gid}, Authorization=f"Bearer {org.admin.api.token}") as feed:
        row = await health.check(settings, row)
        assert (row.health, row.latency_ms is not None) == (HealthStatus.HEALTHY, True)
        await mcp_server.stop()
        row = await health.check(settings, row)
        assert (row.health, row.latency_ms) == (HealthStatus.DOWN, None)
        await mcp_server.restart()
        row = await health.check(settings, row)
        assert row.health == HealthStatus.HEALTHY
        changes = [
            e["mcpServerEvents"]
            for e in await feed.quiet(1.0)
            if e["mcpServerEvents"]["kind"] == "mcp_server.health_changed"
        ]
    # Published only when the status changes; the first check may have been the worker's own.
    assert changes[-2:] == [
        {"kind": "mcp_server.health_changed", "health": "DOWN", "previousHealth": "HEALTHY"},
        {"kind": "mcp_server.health_changed", "health": "HEALTHY", "previousHealth": "DOWN"},
    ]
    down = await MCPHealthCheck.filter(mcp_server_id=row.id, status=HealthStatus.DOWN).first()
    assert down is not None and down.error.startswith("could not reach the server")
    shown = (await org.admin.api(SERVER, id=gid))["mcpServer"]
    uptime = next(f for f in shown["trust"]["factors"] if f["name"] == "uptime")
    checks = await MCPHealthCheck.filter(mcp_server_id=row.id).values_list("status", flat=True)
    healthy = sum(s == HealthStatus.HEALTHY for s in checks)
    assert uptime["value"] == healthy / len(checks) < 1
    assert (
        uptime["explanation"] == f"{healthy} healthy, 0 degraded and 1 down of {len(checks)} health check(s) in 7 days"
    )
    assert shown["health"] == "HEALTHY" and shown["lastHealthCheckAt"] is not None


async def test_a_slow_server_is_degraded(org: Org, settings, tmp_path):
    slow = mcp_fixture(tmp_path, slow_ms=300)
    await slow.start()
    try:
        row = await registered(org, slow.url)
        strict = settings.model_copy(update={"mcp_degraded_ms": 100})
        row = await health.check(strict, row)
        assert row.health == HealthStatus.DEGRADED and row.latency_ms >= 300
        lenient = settings.model_copy(update={"mcp_degraded_ms": 5000})
        assert (await health.check(lenient, row)).health == HealthStatus.HEALTHY
    finally:
        await slow.stop()


async def test_a_server_that_does_not_answer_in_time_is_down(org: Org, settings, receivers):
    receiver = await receivers(silence)
    row = await registered(org, receiver.url + "mcp")
    quick = settings.model_copy(update={"mcp_health_timeout": 1.0})
    row = await health.check(quick, row)
    assert row.health == HealthStatus.DOWN
    check = await MCPHealthCheck.filter(mcp_server_id=row.id).order_by("-checked_at").first()
    assert check.error == "no complete answer within 1 s"


async def test_production_refuses_to_check_a_private_server(org: Org, settings, mcp_server: FixtureServer):
    row = await registered(org, mcp_server.url)
    production = settings.model_copy(update={"env": "production", "allow_private_targets": ()})
    row = await health.check(production, row)
    assert row.health == HealthStatus.DOWN
    check = await MCPHealthCheck.filter(mcp_server_id=row.id).order_by("-checked_at").first()
    assert check.error == "refused: 127.0.0.1 is a loopback address"
