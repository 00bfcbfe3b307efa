from __future__ import annotations

import strawberry

from aim_identity.schema.accounts.types import Role


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str
    organization_name: str


@strawberry.input
class LoginInput:
    email: str
    password: str
    totp_code: str | None = None


@strawberry.input
class RefreshInput:
    refresh_token: str


@strawberry.input
class LogoutInput:
    refresh_token: str | None = None


@strawberry.input
class InviteUserInput:
    email: str
    name: str
    role: Role
    password: str


@strawberry.input
class UpdateUserRoleInput:
    user_id: strawberry.ID
    role: Role
