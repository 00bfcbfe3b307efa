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


class RetiredSigningKey(Model):
    """When each retired secret's signing key was first seen retired, by every replica alike: the key
    verifies (and stays in the JWKS) until the last token it could have signed has expired."""

    kid = fields.CharField(max_length=16, primary_key=True)
    retired_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "retired_signing_keys"
