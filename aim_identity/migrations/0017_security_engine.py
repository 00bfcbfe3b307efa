"""The security engine (issue 12): response policies, the detector's cursor per organization, agents'
learned baselines, false-positive suppressions, and threats that repeats join.

Existing organizations' detectors start after the events already written, which were never judged as
a stream; existing threats are each their own subject, so none is joined by later repeats."""

import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from aim_identity.models.security import ResponseAction
from aim_identity.models.threats import Severity, ThreatType

START_DETECTORS = """
INSERT INTO detection_cursors (organization_id, cursor)
SELECT o.id, COALESCE((SELECT MAX(e.id) FROM outbox_events e WHERE e.organization_id = o.id), 0) FROM organizations o;
UPDATE threats SET last_seen_at = detected_at, subject = 'threat:' || CAST(id AS VARCHAR(40));
"""


async def start_detectors(apps, schema_editor) -> None:
    await schema_editor.client.execute_script(START_DETECTORS)


class Migration(migrations.Migration):
    dependencies = [("aim", "0016_webhooks")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AgentBaseline",
            fields=[
                ("agent_id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "state",
                    fields.JSONField(
                        default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
            ],
            options={
                "table": "agent_baselines",
                "app": "aim",
                "pk_attr": "agent_id",
                "table_description": "The learned behaviour of an agent (security/baselines.py): exponentially weighted mean and",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DetectionCursor",
            fields=[
                ("organization_id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("cursor", fields.BigIntField(default=0)),
            ],
            options={
                "table": "detection_cursors",
                "app": "aim",
                "pk_attr": "organization_id",
                "table_description": "The outbox id of the last event of the organization the detector has judged.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SecurityPolicy",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="security_policies",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "threat_type",
                    fields.CharEnumField(
                        description="VERIFICATION_FAILURES: VERIFICATION_FAILURES\nTRUST_SCORE_DROP: TRUST_SCORE_DROP\nCAPABILITY_VIOLATION: CAPABILITY_VIOLATION\nANOMALOUS_ACTIVITY: ANOMALOUS_ACTIVITY\nCONFIGURATION_DRIFT: CONFIGURATION_DRIFT\nCREDENTIAL_MISUSE: CREDENTIAL_MISUSE\nBRUTE_FORCE: BRUTE_FORCE",
                        enum_type=ThreatType,
                        max_length=32,
                    ),
                ),
                (
                    "min_severity",
                    fields.CharEnumField(
                        description="INFO: INFO\nLOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL",
                        enum_type=Severity,
                        max_length=16,
                    ),
                ),
                (
                    "action",
                    fields.CharEnumField(
                        description="ALERT: ALERT\nALERT_AND_SUSPEND: ALERT_AND_SUSPEND",
                        enum_type=ResponseAction,
                        max_length=32,
                    ),
                ),
                ("enabled", fields.BooleanField()),
                ("threshold", fields.FloatField()),
                ("window_seconds", fields.IntField()),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "security_policies",
                "app": "aim",
                "unique_together": (("organization_id", "threat_type"),),
                "pk_attr": "id",
                "table_description": "The setting an organization chose for one rule: a rule without a row runs on its defaults",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Suppression",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="suppressions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "threat_type",
                    fields.CharEnumField(
                        description="VERIFICATION_FAILURES: VERIFICATION_FAILURES\nTRUST_SCORE_DROP: TRUST_SCORE_DROP\nCAPABILITY_VIOLATION: CAPABILITY_VIOLATION\nANOMALOUS_ACTIVITY: ANOMALOUS_ACTIVITY\nCONFIGURATION_DRIFT: CONFIGURATION_DRIFT\nCREDENTIAL_MISUSE: CREDENTIAL_MISUSE\nBRUTE_FORCE: BRUTE_FORCE",
                        enum_type=ThreatType,
                        max_length=32,
                    ),
                ),
                ("subject", fields.CharField(max_length=300)),
                ("key", fields.CharField(max_length=300)),
                ("ceiling", fields.FloatField(null=True)),
                ("threat_id", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "threat_suppressions",
                "app": "aim",
                "indexes": [Index(fields=["organization_id", "threat_type", "subject"])],
                "pk_attr": "id",
                "table_description": "Evidence a person resolved as a false positive: the rule stays quiet on it from then on.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Threat",
            name="last_seen_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Threat",
            name="note",
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name="Threat",
            name="occurrences",
            field=fields.IntField(default=1, db_default=1),
        ),
        ops.AddField(
            model_name="Threat",
            name="subject",
            field=fields.CharField(default="", db_default="", max_length=300),
        ),
        ops.AddIndex(
            model_name="Threat",
            index=Index(fields=["organization_id", "type", "subject", "status"]),
        ),
        ops.RunPython(start_detectors),
    ]
