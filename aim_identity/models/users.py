from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.ranked import Ranked

if TYPE_CHECKING:
    from aim_identity.models.organizations import Organization


class Role(Ranked):
    VIEWER = "VIEWER"
    MEMBER = "MEMBER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"


class User(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="users", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=16)
    password_hash = fields.CharField(max_length=255)
    mfa_enabled = fields.BooleanField(default=False)
    # TOTP secrets, sealed with the service key (auth/keyring.py): the confirmed one, and one being set up.
    mfa_secret: str | None = fields.TextField(null=True)
    mfa_pending_secret: str | None = fields.TextField(null=True)
    mfa_last_step = fields.BigIntField(null=True)  # the last TOTP time step accepted: each code works once
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class MfaRecoveryCode(Model):
    """A one-time code that stands in for a TOTP code. Only its SHA-256 is kept (it is random, 80 bits)."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "aim.User", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    user_id: uuid.UUID
    code_hash = fields.CharField(max_length=64, unique=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mfa_recovery_codes"


class RegistrationCode(Model):
    """A sign-up code sent to an address (auth/registration.py), kept only as its SHA-256."""

    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=320, db_index=True)
    code_hash = fields.CharField(max_length=64)
    tries = fields.SmallIntField(default=0)
    expires_at = fields.DatetimeField(db_index=True)  # the worker purges by it
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "registration_codes"
