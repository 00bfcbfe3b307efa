"""TOTP MFA (sealed secrets, the last step used, hashed recovery codes, an organization's requirement)
and agent tombstones (`deleted_at`)."""

from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0006_mcp_server_agents_index")]

    operations = [
        ops.CreateModel(
            name="MfaRecoveryCode",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "aim.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="recovery_codes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("code_hash", fields.CharField(unique=True, max_length=64)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "mfa_recovery_codes",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "A one-time code that stands in for a TOTP code. Only its SHA-256 is "
                "kept (it is random, 80 bits).",
            },
            bases=["Model"],
        ),
        ops.AddField(model_name="User", name="mfa_secret", field=fields.TextField(null=True, unique=False)),
        ops.AddField(model_name="User", name="mfa_pending_secret", field=fields.TextField(null=True, unique=False)),
        ops.AddField(model_name="User", name="mfa_last_step", field=fields.BigIntField(null=True)),
        ops.AddField(
            model_name="Organization", name="require_mfa", field=fields.BooleanField(default=False, db_default=False)
        ),
        ops.AddField(
            model_name="Agent",
            name="deleted_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
