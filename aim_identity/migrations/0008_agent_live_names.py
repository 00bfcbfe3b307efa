"""A live agent's name is unique in its organization, and a deleted agent's name is free again: the
unique (organization_id, name) constraint becomes a partial unique index over agents not deleted.

SQLite cannot drop a table's own constraint, so there the table is rebuilt as SQLite documents it (a
new table, the rows copied, the old one dropped, the new one renamed, the indexes made again), with
foreign keys off for the moment: otherwise dropping the old table would cascade to every row that
names an agent. Foreign keys can only be switched outside a transaction, hence `atomic = False`; the
rebuild itself is one transaction, and on PostgreSQL so is the whole change."""

import re

from tortoise import migrations
from tortoise.migrations import operations as ops

LIVE_NAMES = "CREATE UNIQUE INDEX agents_live_name ON agents (organization_id, name) WHERE deleted_at IS NULL"


async def live_names_unique(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        _, rows = await client.execute_query(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'agents'::regclass AND contype = 'u'"
        )
        drops = "".join(f'ALTER TABLE agents DROP CONSTRAINT "{row["conname"]}";\n' for row in rows)
        await client.execute_script(f"{drops}{LIVE_NAMES};")
        return
    _, tables = await client.execute_query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'agents'")
    _, indexes = await client.execute_query(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'agents' AND sql IS NOT NULL"
    )
    table = re.sub(r',\s*CONSTRAINT "[^"]+" UNIQUE \("organization_id", "name"\)', "", tables[0]["sql"])
    table = re.sub(r'^CREATE TABLE (IF NOT EXISTS )?"agents"', 'CREATE TABLE "new__agents"', table)
    assert "UNIQUE" not in table and "new__agents" in table, table
    recreated = "".join(f"{row['sql']};\n" for row in indexes)
    await client.execute_script(
        "PRAGMA foreign_keys = OFF;\n"
        "BEGIN;\n"
        f"{table};\n"
        "INSERT INTO new__agents SELECT * FROM agents;\n"
        "DROP TABLE agents;\n"
        "ALTER TABLE new__agents RENAME TO agents;\n"
        f"{recreated}"
        f"{LIVE_NAMES};\n"
        "COMMIT;\n"
        "PRAGMA foreign_keys = ON;\n"
    )
    _, broken = await client.execute_query("PRAGMA foreign_key_check")
    assert not broken, broken


class ForgetUniqueName(ops.RemoveConstraint):
    """The models' record of the change alone: `live_names_unique` makes it in the database, where
    RemoveConstraint itself could not (SQLite cannot drop a table's own constraint)."""

    async def database_forward(self, *args: object, **kwargs: object) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("aim", "0007_mfa_and_agent_tombstones")]
    atomic = False

    operations = [
        ForgetUniqueName(model_name="Agent", name=None, fields=["organization", "name"]),
        ops.RunPython(live_names_unique),
    ]
