from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.node import Node, node_type


@node_type(m.Webhook)
@strawberry.type
class Webhook(Node):
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    last_delivery_at: datetime | None
    last_delivery_status: int | None

    @classmethod
    def of(cls, row: m.Webhook) -> Webhook:
        return cls(
            id=strawberry.ID(ids.encode("Webhook", row.id)),
            url=row.url,
            events=list(row.events),
            active=row.active,
            created_at=row.created_at,
            last_delivery_at=row.last_delivery_at,
            last_delivery_status=row.last_delivery_status,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> Webhook | None:
        # As the webhooks query: administrators only.
        if info.context.signed_in().role != m.Role.ADMIN:
            return None
        row = await info.context.loaders.by_id(m.Webhook).load(pk)
        return cls.of(row) if row else None
