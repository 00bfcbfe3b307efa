"""Database configuration and migrations (Tortoise's own migration framework)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate as tortoise_migrate


def tortoise_config(database_url: str) -> dict:
    return {
        "connections": {"default": database_url},
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


async def fetch_one(sql: str, *params: Any) -> dict[str, Any] | None:
    """A hand-written statement for the hottest path, authentication, where building it with the ORM
    costs more than running it. Placeholders are PostgreSQL's `$1`; SQLite gets `?1`, and UUIDs as
    the text Tortoise stores there."""
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "sqlite":
        sql = re.sub(r"\$(\d+)", r"?\1", sql)
        params = tuple(str(p) if isinstance(p, uuid.UUID) else p for p in params)
    rows = await connection.execute_query_dict(sql, list(params))
    return rows[0] if rows else None


async def migrate(database_url: str) -> None:
    """Apply every pending migration; running it again changes nothing."""
    try:
        await tortoise_migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


# For Tortoise's own CLI when a model changes: `tortoise -c aim_identity.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
