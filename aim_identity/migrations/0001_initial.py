import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from aim_identity.models.agents import AgentStatus, AgentType
from aim_identity.models.mcp import HealthStatus, MCPServerStatus
from aim_identity.models.threats import Severity, ThreatStatus, ThreatType
from aim_identity.models.users import Role
from aim_identity.models.verification import VerificationFailureReason, VerificationResult


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="AuthFailure",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("kind", fields.CharField(max_length=16)),
                ("subject", fields.CharField(null=True, max_length=320)),
                ("ip_address", fields.CharField(null=True, max_length=64)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "auth_failures",
                "app": "aim",
                "indexes": [Index(fields=["kind", "subject", "at"]), Index(fields=["kind", "ip_address", "at"])],
                "pk_attr": "id",
                "table_description": "A failed login or API-key attempt: the evidence the brute-force guard counts.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Organization",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=200)),
                ("slug", fields.CharField(unique=True, max_length=100)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "organizations", "app": "aim", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "organization",
                    fields.OneToOneField(
                        "aim.Organization",
                        source_field="organization_id",
                        primary_key=True,
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="audit_head",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("sequence", fields.BigIntField(default=0)),
                ("hash", fields.CharField(max_length=64)),
            ],
            options={
                "table": "audit_chain_heads",
                "app": "aim",
                "pk_attr": "organization_id",
                "table_description": "The last link of each organization chain. Locking it serialises appends.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditLogEntry",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="audit_entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("sequence", fields.BigIntField()),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("actor_type", fields.CharField(max_length=16)),
                ("actor_id", fields.CharField(null=True, db_index=True, max_length=100)),
                ("action", fields.CharField(db_index=True, max_length=100)),
                ("target_type", fields.CharField(null=True, max_length=50)),
                ("target_id", fields.CharField(null=True, db_index=True, max_length=100)),
                ("ip_address", fields.CharField(null=True, max_length=64)),
                ("user_agent", fields.CharField(null=True, max_length=500)),
                (
                    "metadata",
                    fields.JSONField(
                        default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("previous_hash", fields.CharField(max_length=64)),
                ("hash", fields.CharField(max_length=64)),
            ],
            options={
                "table": "audit_log",
                "app": "aim",
                "unique_together": (("organization", "sequence"),),
                "indexes": [Index(fields=["organization_id", "occurred_at"])],
                "pk_attr": "id",
                "table_description": "Append-only. The database refuses UPDATE, DELETE and TRUNCATE (see the migrations).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MCPServer",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="mcp_servers",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("url", fields.CharField(max_length=2000)),
                ("description", fields.TextField(null=True, unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=MCPServerStatus.PENDING,
                        description="PENDING: PENDING\nVERIFIED: VERIFIED\nSUSPENDED: SUSPENDED\nREVOKED: REVOKED",
                        enum_type=MCPServerStatus,
                        max_length=16,
                    ),
                ),
                ("public_key", fields.CharField(null=True, max_length=64)),
                (
                    "capabilities",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("trust_score", fields.FloatField(default=0.0)),
                (
                    "health",
                    fields.CharEnumField(
                        default=HealthStatus.UNKNOWN,
                        description="UNKNOWN: UNKNOWN\nHEALTHY: HEALTHY\nDEGRADED: DEGRADED\nDOWN: DOWN",
                        enum_type=HealthStatus,
                        max_length=16,
                    ),
                ),
                ("last_health_check_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "mcp_servers",
                "app": "aim",
                "unique_together": (("organization", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OutboxEvent",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("event_id", fields.UUIDField(default=uuid4, unique=True)),
                ("organization_id", fields.UUIDField()),
                ("kind", fields.CharField(max_length=64)),
                ("payload", fields.JSONField(encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("published_at", fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "outbox_events",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "An event committed with the rows it describes. The relay publishes it afterwards.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RevokedAccessToken",
            fields=[
                ("jti", fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ("expires_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "revoked_access_tokens",
                "app": "aim",
                "pk_attr": "jti",
                "table_description": "Access tokens ended early by logout, kept until they would have expired anyway.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ServiceSecret",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("secret", fields.CharField(max_length=128)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "service_secrets",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "The development secret, generated once and shared by every process on the same database.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("email", fields.CharField(unique=True, max_length=320)),
                ("name", fields.CharField(max_length=200)),
                (
                    "role",
                    fields.CharEnumField(
                        description="VIEWER: VIEWER\nMEMBER: MEMBER\nMANAGER: MANAGER\nADMIN: ADMIN",
                        enum_type=Role,
                        max_length=16,
                    ),
                ),
                ("password_hash", fields.CharField(max_length=255)),
                ("mfa_enabled", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ("last_login_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "users", "app": "aim", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Agent",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="agents",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("display_name", fields.CharField(null=True, max_length=200)),
                ("description", fields.TextField(null=True, unique=False)),
                (
                    "agent_type",
                    fields.CharEnumField(
                        db_index=True,
                        description="AI_AGENT: AI_AGENT\nMCP_CLIENT: MCP_CLIENT\nLANGCHAIN: LANGCHAIN\nCREWAI: CREWAI\nAUTOGEN: AUTOGEN\nCLAUDE: CLAUDE\nGPT: GPT\nGEMINI: GEMINI\nCUSTOM: CUSTOM",
                        enum_type=AgentType,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=AgentStatus.PENDING,
                        db_index=True,
                        description="PENDING: PENDING\nVERIFIED: VERIFIED\nSUSPENDED: SUSPENDED\nREVOKED: REVOKED",
                        enum_type=AgentStatus,
                        max_length=16,
                    ),
                ),
                ("public_key", fields.CharField(max_length=64)),
                ("key_fingerprint", fields.CharField(max_length=64)),
                ("key_created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("trust_score", fields.FloatField(default=0.0, db_index=True)),
                ("trust_confidence", fields.FloatField(default=0.0)),
                (
                    "trust_factors",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("trust_computed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "last_verified_at",
                    fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "aim.User",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="agents",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "agents",
                "app": "aim",
                "unique_together": (("organization", "name"),),
                "indexes": [
                    Index(fields=["organization_id", "created_at"]),
                    Index(fields=["organization_id", "trust_score"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ActionNonce",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="nonces",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("nonce", fields.CharField(max_length=128)),
                ("seen_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "action_nonces",
                "app": "aim",
                "unique_together": (("agent", "nonce"),),
                "pk_attr": "id",
                "table_description": "Nonces already seen per agent. The unique pair is what refuses a replay.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AgentFeedback",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="feedback",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "aim.User",
                        source_field="user_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="feedback",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("rating", fields.SmallIntField()),
                ("comment", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "agent_feedback", "app": "aim", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AgentKey",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("public_key", fields.CharField(max_length=64)),
                ("fingerprint", fields.CharField(db_index=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("retired_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "agent_keys",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "Every public key an agent has held. Retired keys stay so their later use is recognised.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AgentMCPServer",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="mcp_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "mcp_server",
                    fields.ForeignKeyField(
                        "aim.MCPServer",
                        source_field="mcp_server_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="agent_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("declared", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "agent_mcp_servers",
                "app": "aim",
                "unique_together": (("agent", "mcp_server"),),
                "pk_attr": "id",
                "table_description": "An agent talks to an MCP server: declared by a user or detected and reported by the SDK.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Anomaly",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="anomalies",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="anomalies",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("metric", fields.CharField(max_length=100)),
                ("observed", fields.FloatField()),
                ("expected", fields.FloatField()),
                ("score", fields.FloatField()),
                ("detected_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "anomalies",
                "app": "aim",
                "indexes": [Index(fields=["organization_id", "detected_at"])],
                "pk_attr": "id",
                "table_description": "Behaviour far from the agent's own baseline, as the security engine measured it.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ApiKey",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="api_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "aim.User",
                        source_field="created_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="api_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("prefix", fields.CharField(db_index=True, max_length=16)),
                ("key_hash", fields.CharField(max_length=64)),
                (
                    "role",
                    fields.CharEnumField(
                        description="VIEWER: VIEWER\nMEMBER: MEMBER\nMANAGER: MANAGER\nADMIN: ADMIN",
                        enum_type=Role,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ("last_used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "api_keys", "app": "aim", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CapabilityGrant",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("granted_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "granted_by",
                    fields.ForeignKeyField(
                        "aim.User",
                        source_field="granted_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "capability_grants",
                "app": "aim",
                "unique_together": (("agent", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RefreshToken",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "aim.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="refresh_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("family_id", fields.UUIDField(db_index=True)),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("rotated_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "refresh_tokens",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "One rotation of a refresh token. Only the SHA-256 of the token is kept.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Threat",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="threats",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="threats",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "mcp_server",
                    fields.ForeignKeyField(
                        "aim.MCPServer",
                        source_field="mcp_server_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="threats",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "type",
                    fields.CharEnumField(
                        db_index=True,
                        description="VERIFICATION_FAILURES: VERIFICATION_FAILURES\nTRUST_SCORE_DROP: TRUST_SCORE_DROP\nCAPABILITY_VIOLATION: CAPABILITY_VIOLATION\nANOMALOUS_ACTIVITY: ANOMALOUS_ACTIVITY\nCONFIGURATION_DRIFT: CONFIGURATION_DRIFT\nCREDENTIAL_MISUSE: CREDENTIAL_MISUSE\nBRUTE_FORCE: BRUTE_FORCE",
                        enum_type=ThreatType,
                        max_length=32,
                    ),
                ),
                (
                    "severity",
                    fields.CharEnumField(
                        db_index=True,
                        description="INFO: INFO\nLOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL",
                        enum_type=Severity,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=ThreatStatus.OPEN,
                        db_index=True,
                        description="OPEN: OPEN\nACKNOWLEDGED: ACKNOWLEDGED\nBLOCKED: BLOCKED\nRESOLVED: RESOLVED\nFALSE_POSITIVE: FALSE_POSITIVE",
                        enum_type=ThreatStatus,
                        max_length=16,
                    ),
                ),
                ("title", fields.CharField(max_length=200)),
                ("description", fields.TextField(unique=False)),
                (
                    "evidence",
                    fields.JSONField(
                        default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("detected_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ("resolved_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "threats",
                "app": "aim",
                "indexes": [
                    Index(fields=["organization_id", "detected_at"]),
                    Index(fields=["agent_id", "detected_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ActionDecision",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="action_decisions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="action_decisions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("capability", fields.CharField(max_length=200)),
                ("resource", fields.CharField(null=True, max_length=2000)),
                ("allowed", fields.BooleanField()),
                ("reason", fields.CharField(max_length=500)),
                (
                    "risk_level",
                    fields.CharEnumField(
                        description="INFO: INFO\nLOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL",
                        enum_type=Severity,
                        max_length=16,
                    ),
                ),
                (
                    "threat",
                    fields.ForeignKeyField(
                        "aim.Threat",
                        source_field="threat_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="decisions",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("succeeded", fields.BooleanField(null=True)),
                ("error", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("reported_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "action_decisions",
                "app": "aim",
                "indexes": [Index(fields=["agent_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "An `authorizeAction` answer, and later the result the agent reported.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TrustScoreRecord",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="trust_history",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("score", fields.FloatField()),
                ("reason", fields.CharField(max_length=200)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "trust_score_history",
                "app": "aim",
                "indexes": [Index(fields=["agent_id", "at"])],
                "pk_attr": "id",
                "table_description": "One point of an agent's trust history.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="VerificationChallenge",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="challenges",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("nonce", fields.CharField(max_length=64)),
                ("message", fields.TextField(unique=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("answered_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "verification_challenges", "app": "aim", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="VerificationEvent",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="verification_events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "agent",
                    fields.ForeignKeyField(
                        "aim.Agent",
                        source_field="agent_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="verification_events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "result",
                    fields.CharEnumField(
                        description="VERIFIED: VERIFIED\nFAILED: FAILED", enum_type=VerificationResult, max_length=16
                    ),
                ),
                (
                    "failure_reason",
                    fields.CharEnumField(
                        null=True,
                        description="BAD_SIGNATURE: BAD_SIGNATURE\nCHALLENGE_EXPIRED: CHALLENGE_EXPIRED\nCHALLENGE_ALREADY_USED: CHALLENGE_ALREADY_USED\nCHALLENGE_NOT_FOUND: CHALLENGE_NOT_FOUND\nAGENT_NOT_ACTIVE: AGENT_NOT_ACTIVE\nKEY_REVOKED: KEY_REVOKED",
                        enum_type=VerificationFailureReason,
                        max_length=32,
                    ),
                ),
                ("trust_score_before", fields.FloatField()),
                ("trust_score_after", fields.FloatField()),
                ("ip_address", fields.CharField(null=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "verification_events",
                "app": "aim",
                "indexes": [Index(fields=["agent_id", "created_at"]), Index(fields=["organization_id", "created_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
