"""A live agent's name is unique in its organization, and a deleted agent's name is free again: the
unique (organization_id, name) constraint becomes a partial unique index over agents not deleted
(`_unique.py` says how, on each database)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from aim_identity.migrations._unique import ForgetUniqueName, only_live_unique

LIVE_NAMES = "CREATE UNIQUE INDEX agents_live_name ON agents (organization_id, name) WHERE deleted_at IS NULL"


async def live_names_unique(apps, schema_editor) -> None:
    await only_live_unique(schema_editor.client, "agents", ("organization_id", "name"), [LIVE_NAMES])


class Migration(migrations.Migration):
    dependencies = [("aim", "0007_mfa_and_agent_tombstones")]
    atomic = False

    operations = [
        ForgetUniqueName(model_name="Agent", name=None, fields=["organization", "name"]),
        ops.RunPython(live_names_unique),
    ]
