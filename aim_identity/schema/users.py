from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from aim_identity.schema.context import Info

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.node import Node, loadable
from aim_identity.schema.organizations import Organization

Role = strawberry.enum(m.Role)


@strawberry.type
class User(Node):
    email: str
    name: str
    role: Role
    mfa_enabled: bool
    created_at: datetime
    last_login_at: datetime | None
    organization_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        return Organization.of(await info.context.loaders.organization.load(self.organization_id))

    @classmethod
    def of(cls, row: m.User) -> User:
        return cls(id=strawberry.ID(ids.encode("User", row.id)), email=row.email, name=row.name, role=row.role,
                   mfa_enabled=row.mfa_enabled, created_at=row.created_at, last_login_at=row.last_login_at,
                   organization_id=row.organization_id)


@loadable("User")
async def load_user(info, global_id: str) -> User | None:
    row = await info.context.loaders.user.load(ids.decode(global_id, "User"))
    return User.of(row) if row else None


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


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@strawberry.input
class RefreshInput:
    refresh_token: str


@strawberry.input
class LogoutInput:
    refresh_token: str | None = None


@strawberry.type
class LogoutPayload:
    ok: bool


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


@strawberry.type
class UserPayload:
    user: User
