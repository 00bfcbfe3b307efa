"""AIM as an OAuth authorization server (issue 11): the access tokens it issues agents for one MCP
server, and the hash of the client secret each MCP server introspects with."""

from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0014_action_nonces_on_decisions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ResourceToken",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "aim.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="resource_tokens",
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
                        related_name="resource_tokens",
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
                        related_name="resource_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("scope", fields.TextField(unique=False)),
                ("grant_type", fields.CharField(max_length=64)),
                ("assertion_jti", fields.CharField(null=True, max_length=200)),
                ("issued_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "resource_tokens",
                "app": "aim",
                "unique_together": (("agent", "assertion_jti"),),
                "pk_attr": "id",
                "table_description": "An access token AIM issued an agent for one MCP server, as introspection and revocation need it.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="MCPServer",
            name="client_secret_hash",
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
