from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.errors import Forbidden
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.node import Node, node_type

# The models' own enums, which strawberry.enum marks in place; plain aliases, so that mypy reads them as types.
Role = m.Role
strawberry.enum(Role)


@node_type(m.Organization)
@strawberry.type
class Organization(Node):
    name: str
    slug: str
    created_at: datetime
    require_mfa: bool = strawberry.field(description="ADMIN and MANAGER must sign in with MFA")

    @classmethod
    def of(cls, row: m.Organization) -> Organization:
        return cls(
            id=strawberry.ID(ids.encode("Organization", row.id)),
            name=row.name,
            slug=row.slug,
            created_at=row.created_at,
            require_mfa=row.require_mfa,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> Organization | None:
        row = await info.context.loaders.organization.load(pk)
        return cls.of(row) if row else None


@node_type(m.User)
@strawberry.type
class User(Node):
    """Every path to a user (`node`, `viewer`, `users`, `Agent.createdBy`, `Capability.grantedBy`) is
    held to the one rule of `Principal.sees_people` and `Principal.sees_email_of`."""

    name: str
    role: Role
    mfa_enabled: bool
    created_at: datetime
    last_login_at: datetime | None
    row: strawberry.Private[m.User]

    @strawberry.field
    def email(self, info: Info) -> str:
        if not info.context.signed_in(enrolling=True).sees_email_of(self.row.id):
            raise Forbidden("A user's email address is shown to administrators and to that user alone", field="email")
        return self.row.email

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        return Organization.of(await info.context.loaders.organization.load(self.row.organization_id))

    @classmethod
    def of(cls, row: m.User) -> User:
        return cls(
            id=strawberry.ID(ids.encode("User", row.id)),
            name=row.name,
            role=row.role,
            mfa_enabled=row.mfa_enabled,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
            row=row,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> User | None:
        if not info.context.signed_in(enrolling=True).sees_people():
            return None
        row = await info.context.loaders.user.load(pk)
        return cls.of(row) if row else None
