"""Turning a table's UNIQUE constraint into a partial unique index over rows not deleted, so that a
tombstone's unique values are free again (migrations 0008 and 0013).

SQLite cannot drop a table's own constraint, so there the table is rebuilt as SQLite documents it (a
new table, the rows copied, the old one dropped, the new one renamed, the indexes made again), with
foreign keys off for the moment: otherwise dropping the old table would cascade to every row that
names it. Foreign keys can only be switched outside a transaction, so a migration using this sets
`atomic = False`; the rebuild itself is one transaction, and on PostgreSQL so is the whole change.
Modules whose name starts with `_` are not migrations to Tortoise."""

from __future__ import annotations

import re
from typing import Any

from tortoise.migrations import operations as ops


class ForgetUniqueName(ops.RemoveConstraint):
    """The models' record of the change alone: `only_live_unique` makes it in the database, where
    RemoveConstraint itself could not (SQLite cannot drop a table's own constraint)."""

    async def database_forward(self, *args: object, **kwargs: object) -> None:
        return None


async def only_live_unique(client: Any, table: str, columns: tuple[str, ...], indexes: list[str]) -> None:
    """Drops `table`'s UNIQUE (columns) constraint and creates `indexes` (CREATE UNIQUE INDEX ... WHERE
    deleted_at IS NULL statements) in its place."""
    created = "".join(f"{index};\n" for index in indexes)
    if client.capabilities.dialect == "postgres":
        _, rows = await client.execute_query(
            "SELECT c.conname FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'u' AND "
            "(SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
            " WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) = $2::text[]",
            [table, sorted(columns)],
        )
        drops = "".join(f'ALTER TABLE {table} DROP CONSTRAINT "{row["conname"]}";\n' for row in rows)
        await client.execute_script(f"{drops}{created}")
        return
    _, tables = await client.execute_query(f"SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
    _, existing = await client.execute_query(
        f"SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' AND sql IS NOT NULL"
    )
    quoted = ", ".join(f'"{column}"' for column in columns)
    definition = re.sub(rf',\s*CONSTRAINT "[^"]+" UNIQUE \({re.escape(quoted)}\)', "", tables[0]["sql"])
    definition = re.sub(rf'^CREATE TABLE (IF NOT EXISTS )?"{table}"', f'CREATE TABLE "new__{table}"', definition)
    assert f"UNIQUE ({quoted})" not in definition and f"new__{table}" in definition, definition
    recreated = "".join(f"{row['sql']};\n" for row in existing)
    await client.execute_script(
        "PRAGMA foreign_keys = OFF;\n"
        "BEGIN;\n"
        f"{definition};\n"
        f"INSERT INTO new__{table} SELECT * FROM {table};\n"
        f"DROP TABLE {table};\n"
        f"ALTER TABLE new__{table} RENAME TO {table};\n"
        f"{recreated}"
        f"{created}"
        "COMMIT;\n"
        "PRAGMA foreign_keys = ON;\n"
    )
    _, broken = await client.execute_query("PRAGMA foreign_key_check")
    assert not broken, broken
