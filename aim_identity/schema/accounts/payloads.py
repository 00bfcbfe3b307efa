from __future__ import annotations

import strawberry

from aim_identity.schema.accounts.types import User


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@strawberry.type
class LogoutPayload:
    ok: bool


@strawberry.type
class UserPayload:
    user: User
