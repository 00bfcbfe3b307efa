"""On PostgreSQL, every insert into the outbox sends NOTIFY aim_outbox (delivered at commit, once per
transaction), so writers need no statement of their own to wake the relay."""

from tortoise import migrations
from tortoise.migrations import operations as ops

POSTGRES = """
CREATE OR REPLACE FUNCTION aim_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('aim_outbox', '');
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
  FOR EACH STATEMENT EXECUTE FUNCTION aim_outbox_notify();
"""


async def notify_on_insert(apps, schema_editor) -> None:
    # SQLite has no NOTIFY: there the relay runs in the API process and is nudged directly.
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(POSTGRES)


class Migration(migrations.Migration):
    dependencies = [("aim", "0004_indexes")]
    operations = [ops.RunPython(notify_on_insert)]
