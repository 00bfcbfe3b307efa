from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from aim_identity.models.organizations import Organization


class Webhook(Model):
    """An organization's receiver of its events, delivered in order from the outbox (webhooks/).

    The secret signs every delivery, so it is kept sealed, not hashed."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="webhooks", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    url = fields.CharField(max_length=2000)
    events: fields.JSONField[list[str]] = fields.JSONField(default=list)
    secret_sealed = fields.TextField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_delivery_at: datetime | None = fields.DatetimeField(null=True)
    last_delivery_status: int | None = fields.IntField(null=True)
    # The outbox id of the last event delivered (or not wanted): delivery resumes after it.
    cursor = fields.BigIntField(default=0)
    # Failed attempts at the event after the cursor, and when the next one is due (exponential backoff).
    failures = fields.IntField(default=0)
    due_at = fields.DatetimeField(null=True)
    # Claimed by a worker until then (SKIP LOCKED, as MCP servers are).
    leased_until = fields.DatetimeField(null=True)

    class Meta:
        table = "webhooks"
        indexes = (("organization_id", "created_at"), ("due_at",))


class WebhookDelivery(Model):
    """One attempt to deliver one event to one webhook, with what the receiver answered."""

    id = fields.BigIntField(primary_key=True)
    webhook: fields.ForeignKeyRelation[Webhook] = fields.ForeignKeyField(
        "aim.Webhook", related_name="deliveries", on_delete=fields.CASCADE
    )
    webhook_id: uuid.UUID
    event_id = fields.UUIDField()
    kind = fields.CharField(max_length=100)
    attempt = fields.IntField()
    status: int | None = fields.IntField(null=True)  # the HTTP status, or null if none came back
    latency_ms = fields.IntField()
    error: str | None = fields.TextField(null=True)
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "webhook_deliveries"
        indexes = (("webhook_id", "at"),)
