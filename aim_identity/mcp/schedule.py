"""Which MCP servers are due for a discovery or a health check, each claimed by one worker at a time.

Claiming moves the server's due time forward by a lease, in the same statement that picks it (on
PostgreSQL with `FOR UPDATE SKIP LOCKED`, so workers claiming at once skip each other's rows): however
many workers run, no two check or discover the same server at once. Whoever finishes sets the next due
time; a worker that dies mid-way leaves the server due again once its lease runs out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from aim_identity import db
from aim_identity.models import MCPServer, MCPTransport

Due = Literal["discovery_due_at", "health_due_at"]

_CLAIM = """
UPDATE mcp_servers SET {due} = $1 WHERE id IN (
  SELECT id FROM mcp_servers
  WHERE {due} <= $2 AND deleted_at IS NULL AND transport <> $3
  ORDER BY {due} LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING *"""


async def claim(due: Due, now: datetime, lease: timedelta, limit: int) -> list[MCPServer]:
    rows = await db.fetch(_CLAIM.format(due=due), now + lease, now, MCPTransport.STDIO.value, limit)
    return [db.instance(MCPServer, row) for row in rows]
