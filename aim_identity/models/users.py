import uuid

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.ranked import Ranked


class Role(Ranked):
    VIEWER = "VIEWER"
    MEMBER = "MEMBER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"


class User(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization = fields.ForeignKeyField("aim.Organization", related_name="users", on_delete=fields.CASCADE)
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=16)
    password_hash = fields.CharField(max_length=255)
    mfa_enabled = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"
