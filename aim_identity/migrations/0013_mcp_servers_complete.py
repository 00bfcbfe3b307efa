"""MCP servers, complete: tombstones, a live server's URL unique in its organization as its name is,
what discovery and `initialize` found, the schedule workers claim servers by, health checks, spent
challenges and verification events, and the server's trust factors.

Servers detected before this (a stdio command line kept as the URL) become STDIO servers whose URL is
`stdio:<name>` and whose command keeps the line; a URL already held by an older live server in the same
organization gets `#duplicate-<id>` appended (a fragment, never sent to the server) so that the unique
index can be made and no row is lost."""

import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from aim_identity.migrations._unique import ForgetUniqueName, only_live_unique
from aim_identity.models.mcp import HealthStatus, MCPTransport
from aim_identity.models.verification import VerificationFailureReason, VerificationResult

LIVE = [
    "CREATE UNIQUE INDEX mcp_servers_live_name ON mcp_servers (organization_id, name) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX mcp_servers_live_url ON mcp_servers (organization_id, url) WHERE deleted_at IS NULL",
]


async def live_names_and_urls_unique(apps, schema_editor) -> None:
    client = schema_editor.client
    concat = "||"
    await client.execute_script(
        f"UPDATE mcp_servers SET transport = 'STDIO', command = url, url = 'stdio:' {concat} name "
        "WHERE url NOT LIKE 'http://%' AND url NOT LIKE 'https://%';\n"
        f"UPDATE mcp_servers SET url = url {concat} '#duplicate-' {concat} CAST(id AS TEXT) WHERE EXISTS ("
        " SELECT 1 FROM mcp_servers older WHERE older.organization_id = mcp_servers.organization_id"
        " AND older.url = mcp_servers.url AND older.created_at < mcp_servers.created_at);\n"
    )
    await only_live_unique(client, "mcp_servers", ("organization_id", "name"), LIVE)


def _server(related_name: str):
    return fields.ForeignKeyField(
        "aim.MCPServer",
        source_field="mcp_server_id",
        db_constraint=True,
        to_field="id",
        related_name=related_name,
        on_delete=OnDelete.CASCADE,
    )


def _null(field: type[fields.Field], **kwargs) -> fields.Field:
    return field(null=True, **kwargs)


class Migration(migrations.Migration):
    dependencies = [("aim", "0012_registration_codes")]
    atomic = False

    operations = [
        ops.CreateModel(
            name="MCPChallenge",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("mcp_server", _server("challenges")),
                ("expires_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("answered_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "mcp_challenges",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "A spent MCP server challenge (challenges are stateless until answered, "
                "identity/challenges.py).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MCPHealthCheck",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("mcp_server", _server("health_checks")),
                ("status", fields.CharEnumField(enum_type=HealthStatus, max_length=16)),
                ("latency_ms", fields.IntField(null=True)),
                ("error", fields.TextField(null=True, unique=False)),
                ("checked_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "mcp_health_checks",
                "app": "aim",
                "indexes": [Index(fields=["mcp_server_id", "checked_at"])],
                "pk_attr": "id",
                "table_description": "One health check's answer: the server's uptime over a window is read from these.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MCPVerificationEvent",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="mcp_verification_events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("mcp_server", _server("verification_events")),
                ("result", fields.CharEnumField(enum_type=VerificationResult, max_length=16)),
                (
                    "failure_reason",
                    fields.CharEnumField(null=True, enum_type=VerificationFailureReason, max_length=32),
                ),
                ("proven", fields.BooleanField()),
                ("trust_score_before", fields.FloatField()),
                ("trust_score_after", fields.FloatField()),
                ("ip_address", fields.CharField(null=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "mcp_verification_events",
                "app": "aim",
                "indexes": [Index(fields=["mcp_server_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "An answer to an MCP server's challenge (mcp/verification.py), recorded "
                "like an agent's.",
            },
            bases=["Model"],
        ),
        ops.AlterModelOptions(
            name="MCPServer",
            options={
                "table": "mcp_servers",
                "app": "aim",
                "pk_attr": "id",
                "table_description": "An MCP server an organization knows of, kept as a tombstone once deleted "
                "(for the evidence).",
            },
        ),
        ops.AddField(model_name="MCPServer", name="command", field=fields.TextField(null=True, unique=False)),
        ops.AddField(
            model_name="MCPServer",
            name="transport",
            field=fields.CharEnumField(
                default=MCPTransport.STREAMABLE_HTTP,
                db_default="STREAMABLE_HTTP",
                enum_type=MCPTransport,
                max_length=16,
            ),
        ),
        ops.AddField(model_name="MCPServer", name="verified_at", field=_null(fields.DatetimeField)),
        ops.AddField(model_name="MCPServer", name="server_name", field=_null(fields.CharField, max_length=200)),
        ops.AddField(model_name="MCPServer", name="server_version", field=_null(fields.CharField, max_length=100)),
        ops.AddField(model_name="MCPServer", name="protocol_version", field=_null(fields.CharField, max_length=50)),
        ops.AddField(model_name="MCPServer", name="discovered_at", field=_null(fields.DatetimeField)),
        ops.AddField(model_name="MCPServer", name="discovery_error", field=_null(fields.TextField)),
        ops.AddField(model_name="MCPServer", name="discovery_due_at", field=_null(fields.DatetimeField, db_index=True)),
        ops.AddField(model_name="MCPServer", name="health_due_at", field=_null(fields.DatetimeField, db_index=True)),
        ops.AddField(
            model_name="MCPServer",
            name="trust_factors",
            field=fields.JSONField(
                default=list, db_default="[]", encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(model_name="MCPServer", name="trust_computed_at", field=_null(fields.DatetimeField)),
        ops.AddField(model_name="MCPServer", name="latency_ms", field=_null(fields.IntField)),
        ops.AddField(model_name="MCPServer", name="deleted_at", field=_null(fields.DatetimeField)),
        ForgetUniqueName(model_name="MCPServer", name=None, fields=["organization", "name"]),
        ops.RunPython(live_names_and_urls_unique),
    ]
