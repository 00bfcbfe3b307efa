"""Webhooks (issue 12, its webhooks part): each organization's receivers, their sealed secrets and
delivery cursors, and every delivery attempt."""

import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0015_oauth_resource_tokens")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Webhook",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="webhooks",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("url", fields.CharField(max_length=2000)),
                (
                    "events",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("secret_sealed", fields.TextField(unique=False)),
                ("active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("last_delivery_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_delivery_status", fields.IntField(null=True)),
                ("cursor", fields.BigIntField(default=0)),
                ("failures", fields.IntField(default=0)),
                ("due_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("leased_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "webhooks",
                "app": "aim",
                "indexes": [Index(fields=["organization_id", "created_at"]), Index(fields=["due_at"])],
                "pk_attr": "id",
                "table_description": "An organization's receiver of its events, delivered in order from the outbox (webhooks/).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookDelivery",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "webhook",
                    fields.ForeignKeyField(
                        "aim.Webhook",
                        source_field="webhook_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("event_id", fields.UUIDField()),
                ("kind", fields.CharField(max_length=100)),
                ("attempt", fields.IntField()),
                ("status", fields.IntField(null=True)),
                ("latency_ms", fields.IntField()),
                ("error", fields.TextField(null=True, unique=False)),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "webhook_deliveries",
                "app": "aim",
                "indexes": [Index(fields=["webhook_id", "at"])],
                "pk_attr": "id",
                "table_description": "One attempt to deliver one event to one webhook, with what the receiver answered.",
            },
            bases=["Model"],
        ),
    ]
