from __future__ import annotations

import uuid

from aim_identity import ids
from aim_identity.auth import accounts, mfa, registration, sessions
from aim_identity.auth.principal import Principal
from aim_identity.models import Role
from aim_identity.schema.accounts.inputs import (
    ConfirmMfaInput,
    DisableMfaInput,
    InviteUserInput,
    LoginInput,
    LogoutInput,
    RefreshInput,
    RegisterInput,
    RequestRegistrationInput,
    UpdateOrganizationInput,
    UpdateUserRoleInput,
)
from aim_identity.schema.accounts.payloads import (
    AuthPayload,
    EnableMfaPayload,
    LogoutPayload,
    OrganizationPayload,
    RequestRegistrationPayload,
    UserPayload,
)
from aim_identity.schema.accounts.types import Organization, User
from aim_identity.schema.core.context import Info


def _signed_in(info: Info, session: sessions.Session) -> AuthPayload:
    """After register, login or refresh, the rest of the answer is read as the new session."""
    user = session.user
    info.context.act_as(Principal("user", user.organization_id, user.role, user_id=user.id))
    return AuthPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_in=session.expires_in,
        user=User.of(user),
    )


async def request_registration(info: Info, input: RequestRegistrationInput) -> RequestRegistrationPayload:
    ctx = info.context
    await ctx.throttled("sign-up", ctx.settings.signup_rate)
    assert ctx.mailer is not None  # every HTTP request has one
    await registration.request(ctx.settings, ctx.mailer, accounts.normalize_email(input.email))
    return RequestRegistrationPayload(ok=True)


async def register(info: Info, input: RegisterInput) -> AuthPayload:
    ctx = info.context
    await ctx.throttled("sign-up", ctx.settings.signup_rate)
    user = await accounts.sign_up(
        ctx.actor,
        ctx.settings,
        input.email,
        input.password,
        input.name,
        input.organization_name,
        input.verification_code,
    )
    return _signed_in(info, await sessions.start(ctx.actor, ctx.keyring, ctx.settings, user))


async def login(info: Info, input: LoginInput) -> AuthPayload:
    ctx = info.context
    await ctx.throttled("sign-in", ctx.settings.login_rate)
    session = await sessions.login(ctx.actor, ctx.keyring, ctx.settings, input.email, input.password, input.totp_code)
    return _signed_in(info, session)


async def refresh_token(info: Info, input: RefreshInput) -> AuthPayload:
    ctx = info.context
    return _signed_in(info, await sessions.refresh(ctx.actor, ctx.keyring, ctx.settings, input.refresh_token))


async def logout(info: Info, input: LogoutInput) -> LogoutPayload:
    await sessions.logout(info.context.actor, info.context.signed_in(enrolling=True), input.refresh_token)
    return LogoutPayload(ok=True)


async def enable_mfa(info: Info) -> EnableMfaPayload:
    ctx = info.context
    enrollment = await mfa.begin(ctx.actor, ctx.keyring, ctx.settings, _person(info))
    return EnableMfaPayload(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)


async def confirm_mfa(info: Info, input: ConfirmMfaInput) -> UserPayload:
    ctx = info.context
    user, recovery_codes = await mfa.confirm(ctx.actor, ctx.keyring, ctx.settings, _person(info), input.totp_code)
    return UserPayload(user=User.of(user), recovery_codes=recovery_codes)


async def disable_mfa(info: Info, input: DisableMfaInput) -> UserPayload:
    ctx = info.context
    return UserPayload(
        user=User.of(await mfa.disable(ctx.actor, ctx.keyring, ctx.settings, _person(info), input.totp_code))
    )


def _person(info: Info) -> uuid.UUID | None:
    """The signed-in person (MFA is theirs alone, never an API key's or an agent's)."""
    principal = info.context.signed_in(enrolling=True)
    return principal.user_id if principal.kind == "user" else None


async def update_organization(info: Info, input: UpdateOrganizationInput) -> OrganizationPayload:
    principal = info.context.signed_in()
    organization = await accounts.update_organization(
        info.context.actor, principal.user_id, input.name, input.require_mfa
    )
    return OrganizationPayload(organization=Organization.of(organization))


async def invite_user(info: Info, input: InviteUserInput) -> UserPayload:
    user = await accounts.invite(info.context.actor, input.email, input.name, Role(input.role), input.password)
    return UserPayload(user=User.of(user))


async def update_user_role(info: Info, input: UpdateUserRoleInput) -> UserPayload:
    user = await accounts.update_role(info.context.actor, ids.decode(input.user_id, "User"), Role(input.role))
    return UserPayload(user=User.of(user))
