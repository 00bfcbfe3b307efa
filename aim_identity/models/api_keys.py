from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.users import Role

if TYPE_CHECKING:
    from aim_identity.models.organizations import Organization
    from aim_identity.models.users import User


class ApiKey(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="api_keys", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    created_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "aim.User", related_name="api_keys", on_delete=fields.CASCADE
    )
    created_by_id: uuid.UUID
    name = fields.CharField(max_length=200)
    prefix = fields.CharField(max_length=16, db_index=True)
    key_hash = fields.CharField(max_length=64)
    role = fields.CharEnumField(Role, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    last_used_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"
