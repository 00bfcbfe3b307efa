"""The audit log is append-only at the database itself, not just in the application."""

from tortoise import migrations
from tortoise.migrations import operations as ops

POSTGRES = """
CREATE OR REPLACE FUNCTION aim_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION aim_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION aim_audit_append_only();
"""

SQLITE = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""


async def forbid_changes(apps, schema_editor) -> None:
    dialect = schema_editor.client.capabilities.dialect
    await schema_editor.client.execute_script(POSTGRES if dialect == "postgres" else SQLITE)


class Migration(migrations.Migration):
    dependencies = [("aim", "0001_initial")]
    operations = [ops.RunPython(forbid_changes)]
