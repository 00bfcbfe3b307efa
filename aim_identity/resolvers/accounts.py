from __future__ import annotations

from aim_identity.auth import accounts, sessions
from aim_identity.auth.principal import Principal
from aim_identity.errors import NotFound
from aim_identity.models import Role
from aim_identity.models import User as UserRow
from aim_identity.schema.context import Info
from aim_identity.schema.organizations import Organization
from aim_identity.schema.pagination import Connection, Order, paginate
from aim_identity.schema.users import (
    AuthPayload,
    InviteUserInput,
    LoginInput,
    LogoutInput,
    LogoutPayload,
    RefreshInput,
    RegisterInput,
    UpdateUserRoleInput,
    User,
    UserPayload,
)
from aim_identity.tenancy import scoped


def _auth_payload(info: Info, session: sessions.Session) -> AuthPayload:
    user = session.user
    info.context.act_as(Principal("user", user.organization_id, user.role, user_id=user.id))
    return AuthPayload(access_token=session.access_token, refresh_token=session.refresh_token,
                       expires_in=session.expires_in, user=User.of(session.user))


async def register(info: Info, input: RegisterInput) -> AuthPayload:
    ctx = info.context
    user = await accounts.register(ctx.actor, input.email, input.password, input.name, input.organization_name)
    return _auth_payload(info, await sessions.start(ctx.actor, ctx.keyring, ctx.settings, user))


async def login(info: Info, input: LoginInput) -> AuthPayload:
    ctx = info.context
    return _auth_payload(info, await sessions.login(ctx.actor, ctx.keyring, ctx.settings, input.email, input.password))


async def refresh_token(info: Info, input: RefreshInput) -> AuthPayload:
    ctx = info.context
    return _auth_payload(info, await sessions.refresh(ctx.actor, ctx.keyring, ctx.settings, input.refresh_token))


async def logout(info: Info, input: LogoutInput) -> LogoutPayload:
    principal = info.context.signed_in()
    await sessions.logout(info.context.actor, principal, input.refresh_token)
    return LogoutPayload(ok=True)


async def viewer(info: Info) -> User:
    principal = info.context.signed_in()
    row = await info.context.loaders.user.load(principal.user_id) if principal.user_id else None
    if row is None:
        raise NotFound("This credential does not belong to a user")
    return User.of(row)


async def organization(info: Info) -> Organization:
    return Organization.of(await info.context.loaders.organization.load(info.context.organization_id))


async def users(info: Info, first: int | None = None, after: str | None = None) -> Connection[User]:
    return await paginate(scoped(UserRow, info.context.organization_id), Order("created_at"), User.of,
                          first=first, after=after)


async def invite_user(info: Info, input: InviteUserInput) -> UserPayload:
    user = await accounts.invite(info.context.actor, input.email, input.name, Role(input.role), input.password)
    return UserPayload(user=User.of(user))


async def update_user_role(info: Info, input: UpdateUserRoleInput) -> UserPayload:
    return UserPayload(user=User.of(await accounts.update_role(info.context.actor, input.user_id, Role(input.role))))


