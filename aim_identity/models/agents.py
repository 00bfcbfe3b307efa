from __future__ import annotations

import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from aim_identity.models.organizations import Organization
    from aim_identity.models.users import User


class AgentStatus(str, Enum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"


class AgentType(str, Enum):
    AI_AGENT = "AI_AGENT"
    MCP_CLIENT = "MCP_CLIENT"
    LANGCHAIN = "LANGCHAIN"
    CREWAI = "CREWAI"
    AUTOGEN = "AUTOGEN"
    CLAUDE = "CLAUDE"
    GPT = "GPT"
    GEMINI = "GEMINI"
    CUSTOM = "CUSTOM"


class Agent(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="agents", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    name = fields.CharField(max_length=200)
    display_name = fields.CharField(max_length=200, null=True)
    description: str | None = fields.TextField(null=True)
    agent_type = fields.CharEnumField(AgentType, max_length=16, db_index=True)
    status = fields.CharEnumField(AgentStatus, max_length=16, default=AgentStatus.PENDING, db_index=True)
    public_key = fields.CharField(max_length=64)
    key_fingerprint = fields.CharField(max_length=64)
    key_created_at = fields.DatetimeField()
    # The latest computed score, kept on the row so lists can filter, sort and show it without
    # recomputing; `trust_factors` holds the explained factors of that computation.
    trust_score = fields.FloatField(default=0.0, db_index=True)
    trust_confidence = fields.FloatField(default=0.0)
    trust_factors: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    trust_computed_at = fields.DatetimeField(null=True)
    # Set by evidence that is scored later rather than in its own request (an allowed action): the
    # trust worker rescores the agent and clears it (identity/scoring.py, `rescore_due`).
    trust_due_at = fields.DatetimeField(null=True)
    last_verified_at = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "aim.User", related_name="agents", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: uuid.UUID | None
    # A deleted agent stays as a tombstone, so the evidence that names it (verification events, threats,
    # decisions, audit entries) stays readable; every live read leaves it out (tenancy.scoped).
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "agents"
        # A live agent's name is unique in its organization; a deleted agent's name is free again. That
        # is a partial unique index, which the models cannot declare: migration 0007 makes it.
        # Indexes, not db_index on the fields: on SQLite, altering a field rebuilds the table and
        # Tortoise's rebuild loses indexes and constraints.
        indexes = (
            ("organization_id", "created_at"),
            ("organization_id", "trust_score"),
            ("trust_computed_at",),
            ("trust_due_at",),
        )


class AgentKey(Model):
    """Every public key an agent has held. Retired keys stay so their later use is recognised."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="keys", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    public_key = fields.CharField(max_length=64)
    fingerprint = fields.CharField(max_length=64, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "agent_keys"


class CapabilityGrant(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="grants", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    name = fields.CharField(max_length=200)
    granted_at = fields.DatetimeField(auto_now_add=True)
    granted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "aim.User", related_name="grants", null=True, on_delete=fields.SET_NULL
    )
    granted_by_id: uuid.UUID | None

    class Meta:
        table = "capability_grants"
        unique_together = (("agent", "name"),)


class AgentFeedback(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="feedback", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "aim.User", related_name="feedback", null=True, on_delete=fields.SET_NULL
    )
    user_id: uuid.UUID | None
    rating = fields.SmallIntField()
    comment: str | None = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "agent_feedback"
        unique_together = (("agent", "user"),)  # a person rates an agent once: a new rating replaces theirs


class TrustScoreRecord(Model):
    """One point of an agent's trust history."""

    id = fields.BigIntField(primary_key=True)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="trust_history", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    score = fields.FloatField()
    reason = fields.CharField(max_length=200)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trust_score_history"
        indexes = (("agent_id", "at"),)
