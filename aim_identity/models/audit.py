from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from aim_identity.models.organizations import Organization


class AuditLogEntry(Model):
    """Append-only. The database refuses UPDATE, DELETE and TRUNCATE (see the migrations)."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="audit_entries", on_delete=fields.RESTRICT
    )
    organization_id: uuid.UUID
    sequence = fields.BigIntField()
    occurred_at = fields.DatetimeField()
    actor_type = fields.CharField(max_length=16)
    actor_id = fields.CharField(max_length=100, null=True, db_index=True)
    action = fields.CharField(max_length=100, db_index=True)
    target_type = fields.CharField(max_length=50, null=True)
    target_id = fields.CharField(max_length=100, null=True, db_index=True)
    ip_address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=500, null=True)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    previous_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_log"
        unique_together = (("organization", "sequence"),)
        # Each auditLogs filter reads its page off an index, newest first (audit/log.py).
        indexes = (
            ("organization_id", "occurred_at"),
            ("organization_id", "action", "sequence"),
            ("organization_id", "actor_id", "sequence"),
            ("organization_id", "target_id", "sequence"),
        )


class AuditChainHead(Model):
    """The last link of each organization chain. Locking it serialises appends."""

    organization: fields.OneToOneRelation[Organization] = fields.OneToOneField(
        "aim.Organization", related_name="audit_head", primary_key=True, on_delete=fields.RESTRICT
    )
    organization_id: uuid.UUID
    sequence = fields.BigIntField(default=0)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_chain_heads"


class AuditCheckpoint(Model):
    """A signature by the service over one entry of the chain of an organization (audit/checkpoints.py)."""

    id = fields.BigIntField(primary_key=True)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="audit_checkpoints", on_delete=fields.RESTRICT
    )
    organization_id: uuid.UUID
    sequence = fields.BigIntField()
    hash = fields.CharField(max_length=64)
    signature = fields.CharField(max_length=100)  # base64 Ed25519
    key_id = fields.CharField(max_length=32)
    created_at = fields.DatetimeField()

    class Meta:
        table = "audit_checkpoints"
        unique_together = (("organization", "sequence"),)
