from __future__ import annotations

import strawberry

from aim_identity.schema.accounts.types import Organization, User


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
class RequestRegistrationPayload:
    ok: bool = strawberry.field(description="always true: a code, or a notice, is on its way to the address")


@strawberry.type
class UserPayload:
    user: User
    recovery_codes: list[str] | None = strawberry.field(
        default=None,
        description="confirmMfa only: ten one-time codes that stand in for the authenticator; shown once, never again",
    )


@strawberry.type
class EnableMfaPayload:
    secret: str
    otpauth_uri: str


@strawberry.type
class OrganizationPayload:
    organization: Organization
