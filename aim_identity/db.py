"""Database configuration and migrations (Tortoise's own migration framework)."""

from __future__ import annotations

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


async def migrate(database_url: str) -> None:
    """Apply every pending migration; running it again changes nothing."""
    try:
        await tortoise_migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


# For Tortoise's own CLI when a model changes: `tortoise -c aim_identity.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
