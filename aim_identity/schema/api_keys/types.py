from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.accounts.types import Role
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.node import Node, node_type


@node_type(m.ApiKey)
@strawberry.type
class ApiKey(Node):
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: m.ApiKey) -> ApiKey:
        return cls(
            id=strawberry.ID(ids.encode("ApiKey", row.id)),
            name=row.name,
            prefix=row.prefix,
            role=row.role,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> ApiKey | None:
        row = await info.context.loaders.by_id(m.ApiKey).load(pk)
        principal = info.context.signed_in()
        # As in apiKeys and revokeApiKey: someone else's key is invisible to all but administrators.
        if row is None or (principal.role != m.Role.ADMIN and row.created_by_id != principal.user_id):
            return None
        return cls.of(row)
