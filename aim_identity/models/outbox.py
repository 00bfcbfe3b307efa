from __future__ import annotations

import uuid
from typing import Any

from tortoise import fields
from tortoise.models import Model


class OutboxEvent(Model):
    """An event committed with the rows it describes. The relay publishes it afterwards."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.UUIDField(unique=True, default=uuid.uuid4)
    organization_id = fields.UUIDField()
    kind = fields.CharField(max_length=64)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    published_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "outbox_events"
        indexes = (("organization_id", "id"),)  # catching up one organization's channel
