"""What the security engine keeps besides threats and anomalies (security/): each organization's
response policies, how far its detector has read the event stream, each agent's learned baseline, and
the evidence people marked as a false positive."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from aim_identity.models.threats import Severity, ThreatType

if TYPE_CHECKING:
    from aim_identity.models.organizations import Organization


class ResponseAction(str, Enum):
    ALERT = "ALERT"
    ALERT_AND_SUSPEND = "ALERT_AND_SUSPEND"


class SecurityPolicy(Model):
    """The setting an organization chose for one rule: a rule without a row runs on its defaults
    (security/policies.py)."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="security_policies", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    threat_type = fields.CharEnumField(ThreatType, max_length=32)
    min_severity = fields.CharEnumField(Severity, max_length=16)
    action = fields.CharEnumField(ResponseAction, max_length=32)
    enabled = fields.BooleanField()
    threshold = fields.FloatField()
    window_seconds = fields.IntField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "security_policies"
        unique_together = (("organization_id", "threat_type"),)


class DetectionCursor(Model):
    """The outbox id of the last event of the organization the detector has judged."""

    organization_id = fields.UUIDField(primary_key=True)
    cursor = fields.BigIntField(default=0)

    class Meta:
        table = "detection_cursors"


class AgentBaseline(Model):
    """The learned behaviour of an agent (security/baselines.py): exponentially weighted mean and
    variance of its actions per bucket, overall and per capability, and the buckets in progress."""

    agent_id = fields.UUIDField(primary_key=True)
    state: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        table = "agent_baselines"


class Suppression(Model):
    """Evidence a person resolved as a false positive: the rule stays quiet on it from then on."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "aim.Organization", related_name="suppressions", on_delete=fields.CASCADE
    )
    organization_id: uuid.UUID
    threat_type = fields.CharEnumField(ThreatType, max_length=32)
    subject = fields.CharField(max_length=300)
    # The rule's name for the evidence (a capability, a metric, a set of servers), and, for a measured
    # rule, the highest value that was judged normal.
    key = fields.CharField(max_length=300)
    ceiling: float | None = fields.FloatField(null=True)
    threat_id = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "threat_suppressions"
        indexes = (("organization_id", "threat_type", "subject"),)
