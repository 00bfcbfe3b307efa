from __future__ import annotations

import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.ranked import Ranked

if TYPE_CHECKING:
    from aim_identity.models.agents import Agent
    from aim_identity.models.mcp import MCPServer
    from aim_identity.models.organizations import Organization


class Severity(Ranked):
    INFO = "INFO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class ThreatStatus(str, Enum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    BLOCKED = "BLOCKED"
    RESOLVED = "RESOLVED"
    FALSE_POSITIVE = "FALSE_POSITIVE"


class ThreatType(str, Enum):
    VERIFICATION_FAILURES = "VERIFICATION_FAILURES"
    TRUST_SCORE_DROP = "TRUST_SCORE_DROP"
    CAPABILITY_VIOLATION = "CAPABILITY_VIOLATION"
    ANOMALOUS_ACTIVITY = "ANOMALOUS_ACTIVITY"
    CONFIGURATION_DRIFT = "CONFIGURATION_DRIFT"
    CREDENTIAL_MISUSE = "CREDENTIAL_MISUSE"
    BRUTE_FORCE = "BRUTE_FORCE"


class Threat(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="threats", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    agent: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="threats", null=True, on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID | None
    mcp_server: fields.ForeignKeyNullableRelation[MCPServer] = fields.ForeignKeyField(
        "aim.MCPServer", related_name="threats", null=True, on_delete=fields.CASCADE
    )
    mcp_server_id: uuid.UUID | None
    type = fields.CharEnumField(ThreatType, max_length=32, db_index=True)
    severity = fields.CharEnumField(Severity, max_length=16, db_index=True)
    status = fields.CharEnumField(ThreatStatus, max_length=16, default=ThreatStatus.OPEN, db_index=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField()
    evidence: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    # What the threat is about, as the rule names it ("agent:<id>", "ip:<address>", "account:<email>"):
    # repeats against one subject join its open threat instead of opening another.
    subject = fields.CharField(max_length=300, default="", db_default="")
    occurrences = fields.IntField(default=1, db_default=1)
    detected_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    last_seen_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    note: str | None = fields.TextField(null=True)

    class Meta:
        table = "threats"
        indexes = (
            ("organization_id", "detected_at"),
            ("agent_id", "detected_at"),
            ("organization_id", "type", "subject", "status"),
        )


class Anomaly(Model):
    """Behaviour far from the agent's own baseline, as the security engine measured it."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="anomalies", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "aim.Agent", related_name="anomalies", on_delete=fields.CASCADE
    )
    agent_id: uuid.UUID
    metric = fields.CharField(max_length=100)
    observed = fields.FloatField()
    expected = fields.FloatField()
    score = fields.FloatField()
    detected_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "anomalies"
        indexes = (("organization_id", "detected_at"),)
