"""Each organization's data version: bumped by every transaction that changes what its callers can
read, and part of the response cache's key (schema/response_cache.py)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0002_audit_append_only")]
    operations = [ops.AddField(model_name="Organization", name="data_version", field=fields.BigIntField(default=0))]
