from __future__ import annotations

from aim_identity import models as m
from aim_identity.errors import NotFound
from aim_identity.schema.accounts.types import Organization, User
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.pagination import Connection, Order, paginate
from aim_identity.tenancy import scoped


async def viewer(info: Info) -> User:
    principal = info.context.signed_in(enrolling=True)
    user = await User.load(info, principal.user_id) if principal.user_id else None
    if user is None:
        raise NotFound("This credential does not belong to a user")
    return user


async def organization(info: Info) -> Organization:
    return Organization.of(await info.context.loaders.organization.load(info.context.organization_id))


async def users(info: Info, first: int | None = None, after: str | None = None) -> Connection[User]:
    return await paginate(
        scoped(m.User, info.context.organization_id), Order("created_at"), User.of, first=first, after=after
    )
