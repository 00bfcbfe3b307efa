"""Whether an MCP server is up, and how fast it answers.

A check opens an MCP session (`initialize`) and sends `ping`; its latency is the ping's round trip, or,
for a server that does not know `ping`, the `initialize` round trip. Within AIM_MCP_HEALTH_TIMEOUT:
- HEALTHY: it answered in at most AIM_MCP_DEGRADED_MS milliseconds;
- DEGRADED: it answered, more slowly;
- DOWN: no answer in time, no connection, a refused target, or an answer that is not MCP.
Every check is kept (the server's uptime, and so its trust score, is read from them); a change of
status is published and audited."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import mcp_types
from mcp.shared.exceptions import MCPError

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.mcp import discovery, trust
from aim_identity.models import HealthStatus, MCPHealthCheck, MCPServer, MCPTransport
from aim_identity.unit_of_work import atomic

# Checks are kept a little longer than the uptime window that reads them.
KEPT = trust.UPTIME_WINDOW + timedelta(days=1)


@dataclass(frozen=True)
class Probe:
    status: HealthStatus
    latency_ms: int | None
    error: str | None


async def probe(settings: Settings, url: str, transport: MCPTransport) -> Probe:
    timeout = settings.mcp_health_timeout
    try:
        with anyio.fail_after(timeout):
            started = time.monotonic()
            async with discovery.session(settings, url, transport, timeout) as (mcp, _):
                answered = time.monotonic()
                try:
                    await mcp.send_ping()
                    latency = time.monotonic() - answered
                except MCPError as exc:
                    if exc.error.code != mcp_types.METHOD_NOT_FOUND:
                        raise
                    latency = answered - started
    except Exception as exc:
        return Probe(HealthStatus.DOWN, None, discovery.reason(exc, timeout))
    latency_ms = round(latency * 1000)
    status = HealthStatus.HEALTHY if latency_ms <= settings.mcp_degraded_ms else HealthStatus.DEGRADED
    return Probe(status, latency_ms, None)


async def check(settings: Settings, server: MCPServer) -> MCPServer:
    """Checks the server and records the answer; the next check follows the interval."""
    result = await probe(settings, server.url, server.transport)
    async with atomic(Actor(server.organization_id, "system", "mcp-health")) as work:
        current = await MCPServer.select_for_update().get_or_none(id=server.id, deleted_at=None)
        if current is None or current.url != server.url:  # deleted, or moved, while we were away
            return current or server
        now = datetime.now(UTC)
        await MCPHealthCheck.create(
            mcp_server_id=current.id,
            status=result.status,
            latency_ms=result.latency_ms,
            error=result.error,
            checked_at=now,
        )
        previous = current.health
        current.health, current.latency_ms, current.last_health_check_at = result.status, result.latency_ms, now
        current.health_due_at = now + timedelta(seconds=settings.mcp_health_interval)
        await current.save(update_fields=["health", "latency_ms", "last_health_check_at", "health_due_at"])
        if previous != result.status:
            gid = ids.encode("MCPServer", current.id)
            change = {"previous": previous.value, "current": result.status.value, "error": result.error}
            work.audit(
                "mcp_server.health_change",
                "MCPServer",
                gid,
                previous=change["previous"],
                current=change["current"],
                error=result.error,
                latencyMs=result.latency_ms,
            )
            work.emit("mcp_server.health_changed", organization_id=current.organization_id, mcpServerId=gid, **change)
        await trust.rescore(work, current, f"health check: {result.status.value.lower()}")
    return current


async def prune(now: datetime | None = None) -> int:
    """Deletes checks older than the uptime window needs; `aimctl worker` runs it."""
    return await MCPHealthCheck.filter(checked_at__lt=(now or datetime.now(UTC)) - KEPT).delete()
