"""The audit service (issue 13): signed checkpoints of each chain, and an index for each auditLogs filter."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0017_security_engine")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="audit_checkpoints",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("sequence", fields.BigIntField()),
                ("hash", fields.CharField(max_length=64)),
                ("signature", fields.CharField(max_length=100)),
                ("key_id", fields.CharField(max_length=32)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "audit_checkpoints",
                "app": "aim",
                "unique_together": (("organization", "sequence"),),
                "pk_attr": "id",
                "table_description": "A signature by the service over one entry of the chain of an organization (audit/checkpoints.py).",
            },
            bases=["Model"],
        ),
        ops.AddIndex(
            model_name="AuditLogEntry",
            index=Index(fields=["organization_id", "action", "sequence"]),
        ),
        ops.AddIndex(
            model_name="AuditLogEntry",
            index=Index(fields=["organization_id", "actor_id", "sequence"]),
        ),
        ops.AddIndex(
            model_name="AuditLogEntry",
            index=Index(fields=["organization_id", "target_id", "sequence"]),
        ),
    ]
