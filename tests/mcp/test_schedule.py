"""Workers claim MCP servers for their checks and discoveries: each due server once, however many
claim at the same moment; the claim holds the server for a lease; stdio and deleted servers are never
claimed.

Each test claims in a database of its own, where no worker of the test server claims anything."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from tortoise.context import TortoiseContext

from aim_identity.db import tortoise_config
from aim_identity.mcp import schedule
from aim_identity.models import MCPServer, MCPTransport, Organization
from tests.conftest import fresh_database, on_postgres_server, postgres_server
from tests.support import aimctl

LEASE = timedelta(minutes=1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@contextlib.asynccontextmanager
async def own_database(tmp_path) -> AsyncIterator[Organization]:
    """A migrated database of its own for the rest of this task (the ORM's context is per task), with one
    organization in it."""
    database_url = await fresh_database(tmp_path)
    await aimctl("migrate", database_url=database_url)
    try:
        async with TortoiseContext() as context:
            await context.init(config=tortoise_config(database_url))
            assert not await MCPServer.exists()  # this database, not the test server's
            yield await Organization.create(name="Acme", slug="acme")
    finally:
        if postgres_server():
            await on_postgres_server(f'DROP DATABASE "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def due_servers(org: Organization, count: int, **columns) -> list[uuid.UUID]:
    servers = [
        await MCPServer.create(
            organization=org,
            name=f"s{n}",
            url=f"https://s{n}.example/mcp",
            health_due_at=NOW,
            discovery_due_at=NOW,
            **columns,
        )
        for n in range(count)
    ]
    return [s.id for s in servers]


async def test_workers_claiming_at_once_never_take_the_same_server(tmp_path):
    async with own_database(tmp_path) as org:
        made = await due_servers(org, 12)
        claims = await asyncio.gather(*(schedule.claim("health_due_at", NOW, LEASE, 5) for _ in range(4)))
    taken = [s.id for claim in claims for s in claim]
    assert len(taken) == len(set(taken)) == 12 and set(taken) == set(made)


async def test_a_claim_holds_the_server_for_its_lease(tmp_path):
    async with own_database(tmp_path) as org:
        [server_id] = await due_servers(org, 1)
        assert [s.id for s in await schedule.claim("discovery_due_at", NOW, LEASE, 10)] == [server_id]
        assert await schedule.claim("discovery_due_at", NOW + LEASE - timedelta(seconds=1), LEASE, 10) == []
        # The lease runs out (the worker died): the server is due again.
        assert [s.id for s in await schedule.claim("discovery_due_at", NOW + LEASE, LEASE, 10)] == [server_id]


async def test_stdio_and_deleted_servers_are_never_claimed(tmp_path):
    async with own_database(tmp_path) as org:
        stdio, deleted, live = await due_servers(org, 3)
        await MCPServer.filter(id=stdio).update(transport=MCPTransport.STDIO)
        await MCPServer.filter(id=deleted).update(deleted_at=NOW)
        assert [s.id for s in await schedule.claim("health_due_at", NOW, LEASE, 10)] == [live]
