from __future__ import annotations

import strawberry

from aim_identity.schema.accounts.types import Role


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str
    organization_name: str
    verification_code: str | None = strawberry.field(
        default=None, description="the code requestRegistration sent to the address, where sign-up is verified"
    )


@strawberry.input
class RequestRegistrationInput:
    email: str


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


@strawberry.input
class ConfirmMfaInput:
    totp_code: str


@strawberry.input
class DisableMfaInput:
    totp_code: str = strawberry.field(description="a code from the authenticator app, or a recovery code")


@strawberry.input
class UpdateOrganizationInput:
    name: str | None = None
    require_mfa: bool | None = strawberry.field(default=None, description="ADMIN and MANAGER must use MFA")
