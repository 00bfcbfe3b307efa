from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.threats import Severity

if TYPE_CHECKING:
    from aim_identity.models.agents import Agent
    from aim_identity.models.organizations import Organization
    from aim_identity.models.threats import Threat


class ActionDecision(Model):
    """An `authorizeAction` answer, and later the result the agent reported."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="action_decisions", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="action_decisions", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    capability = fields.CharField(max_length=200)
    resource = fields.CharField(max_length=2000, null=True)
    allowed = fields.BooleanField()
    reason = fields.CharField(max_length=500)
    risk_level = fields.CharEnumField(Severity, max_length=16)
    threat: fields.ForeignKeyNullableRelation[Threat] = fields.ForeignKeyField(
        "aim.Threat", related_name="decisions", null=True, on_delete=fields.SET_NULL
    )
    threat_id: uuid.UUID | None
    succeeded = fields.BooleanField(null=True)
    error: str | None = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    reported_at = fields.DatetimeField(null=True)
    # Signed by one of the agent's keys: only such requests are the agent's, and count as its evidence.
    proven = fields.BooleanField(default=True, db_default=True)
    # The request's nonce, kept on the decision it was spent on: the unique pair is what refuses a
    # replay, for as long as the decision is kept. Requests refused before their nonce counts (a bad
    # signature, a stale timestamp, a suspended agent, the replay itself) leave it null.
    nonce = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "action_decisions"
        indexes = (("agent_id", "created_at"),)
        unique_together = (("agent", "nonce"),)
