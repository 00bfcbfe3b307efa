from tortoise import fields
from tortoise.models import Model


class ServiceSecret(Model):
    """The development secret, generated once and shared by every process on the same database.
    Production takes AIM_SECRET_KEY instead."""

    id = fields.IntField(primary_key=True)
    secret = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service_secrets"
