from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from aim_identity.models.users import User


class RefreshToken(Model):
    """One rotation of a refresh token. Only the SHA-256 of the token is kept."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "aim.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    user_id: uuid.UUID
    family_id = fields.UUIDField(db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    rotated_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"


class RevokedAccessToken(Model):
    """Access tokens ended early by logout, kept until they would have expired anyway."""

    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "revoked_access_tokens"


class AuthFailure(Model):
    """A failed login or API-key attempt: the evidence the brute-force guard counts."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # login | api_key
    subject = fields.CharField(max_length=320, null=True)
    ip_address = fields.CharField(max_length=64, null=True)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "auth_failures"
        indexes = (("kind", "subject", "at"), ("kind", "ip_address", "at"))
