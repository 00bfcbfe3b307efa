import uuid

from tortoise import fields
from tortoise.models import Model


class Organization(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=100, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Bumped in every transaction that changes what the organization's callers can read (tenancy.touch).
    data_version = fields.BigIntField(default=0)
    # ADMIN and MANAGER must sign in with a second factor. A default in the database too, for the rows
    # that were there before the column.
    require_mfa = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "organizations"
