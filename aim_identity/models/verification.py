from __future__ import annotations

import uuid
from enum import Enum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from aim_identity.models.agents import Agent
    from aim_identity.models.organizations import Organization


class VerificationResult(str, Enum):
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"


class VerificationFailureReason(str, Enum):
    BAD_SIGNATURE = "BAD_SIGNATURE"
    CHALLENGE_EXPIRED = "CHALLENGE_EXPIRED"
    CHALLENGE_ALREADY_USED = "CHALLENGE_ALREADY_USED"
    CHALLENGE_NOT_FOUND = "CHALLENGE_NOT_FOUND"
    AGENT_NOT_ACTIVE = "AGENT_NOT_ACTIVE"
    KEY_REVOKED = "KEY_REVOKED"


class VerificationChallenge(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="challenges", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    nonce = fields.CharField(max_length=64)
    message = fields.TextField()
    expires_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "verification_challenges"
        indexes = (("agent_id", "expires_at"), ("expires_at",))


class VerificationEvent(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="verification_events", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="verification_events", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    result = fields.CharEnumField(VerificationResult, max_length=16)
    failure_reason = fields.CharEnumField(VerificationFailureReason, max_length=32, null=True)
    trust_score_before = fields.FloatField()
    trust_score_after = fields.FloatField()
    ip_address = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Signed by one of the agent's keys: only such answers are the agent's, and count as its evidence.
    # The rest could come from anyone who knows the agent's ID (identity/challenges.py).
    proven = fields.BooleanField(default=True, db_default=True)

    class Meta:
        table = "verification_events"
        indexes = (("agent_id", "created_at"), ("organization_id", "created_at"))
