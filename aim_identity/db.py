"""Database configuration and migrations (Tortoise's own migration framework)."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate as tortoise_migrate
from tortoise.models import Model

from aim_identity import row_security


async def _keep_session(connection) -> None:
    """asyncpg's pool resets every connection it takes back (RESET ALL, UNLISTEN *, CLOSE ALL, and
    advisory unlocks): one more round trip per statement outside a transaction. The only session
    state AIM sets on a pooled connection is its scope, which each taker states again if it differs
    (ScopedSession); the relay LISTENs on a connection of its own, and asyncpg still rolls back a
    transaction left open, so there is nothing to reset."""


# Tortoise's own default is 5: a request waiting for a connection can be overtaken by newer ones (the
# pool's queue lets a newcomer take a connection freed before the woken waiter runs), so under load
# the slowest requests waited ten times the average. `?maxsize=` in AIM_DATABASE_URL overrides it.
POOL_SIZE = 20


# The role AIM's statements run as on PostgreSQL: neither the tables' owner nor a superuser, so
# row-level security binds it (migration 0020 creates it and grants it what the API needs). The
# migrations run as the URL's own user, who owns what they create.
API_ROLE = "aim_api"


class ScopedSession(asyncpg.Connection):
    """A pooled session that knows whose rows it was last told it may touch (row_security.py), so
    that it is told again only when a task of another scope takes it. A new session holds nothing."""

    held = row_security.NO_ORGANIZATION

    async def take(self, wanted: str) -> None:
        if self.held != wanted:
            self.held = "unknown"  # until PostgreSQL has it
            await self.execute("SELECT set_config('aim.organization', $1, false)", wanted)
            self.held = wanted


async def _take_scope(session) -> None:
    await session.take(row_security.current())


def is_postgres(database_url: str) -> bool:
    return database_url.split(":", 1)[0] in ("postgres", "postgresql", "asyncpg")


def tortoise_config(database_url: str, *, as_owner: bool = False) -> dict:
    connection: str | dict = database_url
    if is_postgres(database_url):
        connection = expand_db_url(database_url)
        credentials = connection["credentials"]
        credentials.setdefault("maxsize", POOL_SIZE)
        credentials["reset"] = _keep_session
        if not as_owner:
            credentials["server_settings"] = {**credentials.get("server_settings", {}), "role": API_ROLE}
            credentials["connection_class"] = ScopedSession
            credentials["setup"] = _take_scope
    return {
        "connections": {"default": connection},
        "apps": {
            "aim": {
                "models": ["aim_identity.models"],
                "migrations": "aim_identity.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Hand-written statements, for the hottest paths (authentication, challenge-response, trust evidence,
# the audit chain, the outbox), where building a query with the ORM costs more than running it.
# They are written for PostgreSQL (`$1` placeholders); SQLite gets `?1`, UUIDs as the text Tortoise
# stores there, and no row locks (it has one writer at a time anyway). Inside `in_transaction()` they
# run on the transaction's connection.


@functools.lru_cache(maxsize=256)
def _sqlite(sql: str) -> str:
    return re.sub(r" FOR UPDATE( OF \w+)?( SKIP LOCKED)?", "", re.sub(r"\$(\d+)", r"?\1", sql))


def _prepare(sql: str, params: tuple[Any, ...]):
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "sqlite":
        return connection, _sqlite(sql), [str(p) if isinstance(p, uuid.UUID) else p for p in params]
    return connection, sql, list(params)


def dialect() -> str:
    return Tortoise.get_connection("default").capabilities.dialect


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    connection, sql, values = _prepare(sql, params)
    return await connection.execute_query_dict(sql, values)


async def records(sql: str, *params: Any) -> Sequence[Mapping[str, Any]]:
    """The rows as the driver gives them, read by column name: for reads of many rows, where copying
    each into a dict (as `fetch` does) costs about as much as the driver's decoding."""
    connection, sql, values = _prepare(sql, params)
    return (await connection.execute_query(sql, values))[1]


async def fetch_one(sql: str, *params: Any) -> dict[str, Any] | None:
    rows = await fetch(sql, *params)
    return rows[0] if rows else None


async def execute(sql: str, *params: Any) -> None:
    """Runs a statement for its effect. To learn which rows it touched, `fetch` it with RETURNING
    (Tortoise's row count reads the OID, not the count, from PostgreSQL's INSERT status)."""
    connection, sql, values = _prepare(sql, params)
    await connection.execute_query(sql, values)


@overload
def as_datetime(value: datetime | str) -> datetime: ...
@overload
def as_datetime(value: None) -> None: ...


def as_datetime(value: datetime | str | None) -> datetime | None:
    # SQLite hands back the text Tortoise wrote: datetime.isoformat(" ").
    return datetime.fromisoformat(value) if isinstance(value, str) else value


M = TypeVar("M", bound=Model)


def instance(model: type[M], row: dict[str, Any]) -> M:
    """A model from a hand-read row (all its columns), decoded as the ORM's own reads decode it."""
    return model._init_from_db(**row)


async def migrate(database_url: str, to: str | None = None) -> None:
    """Apply every pending migration (or those up to `to`); running it again changes nothing."""
    try:
        await tortoise_migrate(config=tortoise_config(database_url, as_owner=True), target=f"aim.{to}" if to else None)
    finally:
        await Tortoise.close_connections()


# For Tortoise's own CLI when a model changes: `tortoise -c aim_identity.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
