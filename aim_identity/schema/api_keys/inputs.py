from __future__ import annotations

from datetime import datetime

import strawberry

from aim_identity.schema.accounts.types import Role


@strawberry.input
class CreateApiKeyInput:
    name: str
    role: Role
    expires_at: datetime | None = None


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID
