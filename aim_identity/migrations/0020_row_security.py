"""Row-level security on PostgreSQL (issue 15): a second wall behind the application's organization
filter. Every tenant table admits only the rows of the organization in the `aim.organization`
setting (row_security.py), and AIM's statements run as the `aim_api` role (db.API_ROLE), which is neither the
tables' owner nor a superuser, so the policies bind it.

A table that holds its organization's id is judged by it; a table that belongs to an agent, an MCP
server, a webhook or a person is judged by whether its parent row is admitted (whose own policy
applies inside the check). The instance's own tables (sign-in failures by address, registration codes
by email, revoked token ids, the service secret, the migrations) belong to no organization. The
commit trigger chains audit entries and writes events for whichever organizations a commit names, so
it runs as its owner (SECURITY DEFINER), like the database's other bookkeeping.

The migrating user needs CREATEROLE the first time (or an administrator creates `aim_api` and grants
it to them beforehand)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from aim_identity.db import API_ROLE

BY_ORGANIZATION = [
    "action_decisions",
    "agents",
    "anomalies",
    "api_keys",
    "audit_chain_heads",
    "audit_checkpoints",
    "audit_log",
    "detection_cursors",
    "mcp_servers",
    "mcp_verification_events",
    "outbox_events",
    "resource_tokens",
    "security_policies",
    "threat_suppressions",
    "threats",
    "users",
    "verification_events",
    "webhooks",
]

# table: (its parent's table, the column that names the parent)
BY_PARENT = {
    "agent_baselines": ("agents", "agent_id"),
    "agent_feedback": ("agents", "agent_id"),
    "agent_keys": ("agents", "agent_id"),
    "agent_mcp_servers": ("agents", "agent_id"),
    "capability_grants": ("agents", "agent_id"),
    "trust_score_history": ("agents", "agent_id"),
    "verification_challenges": ("agents", "agent_id"),
    "mcp_challenges": ("mcp_servers", "mcp_server_id"),
    "mcp_health_checks": ("mcp_servers", "mcp_server_id"),
    "webhook_deliveries": ("webhooks", "webhook_id"),
    "mfa_recovery_codes": ("users", "user_id"),
    "refresh_tokens": ("users", "user_id"),
}

INSTANCE_WIDE = [
    "auth_failures",
    "commit_work",
    "registration_codes",
    "retired_signing_keys",
    "revoked_access_tokens",
    "service_secrets",
]

ROLE = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
    CREATE ROLE {API_ROLE} NOLOGIN;
  END IF;
END $$;
GRANT {API_ROLE} TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO {API_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {API_ROLE};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {API_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {API_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {API_ROLE};
REVOKE ALL ON tortoise_migrations FROM {API_ROLE};

-- The setting is text: an organization's id, '*' for every organization (what only work about every
-- organization by nature asks for), or nothing. The CASE keeps '*' and '' from ever being cast.
CREATE OR REPLACE FUNCTION aim_admits(organization uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE current_setting('aim.organization', true)
           WHEN '*' THEN true
           WHEN '' THEN false
           ELSE organization = current_setting('aim.organization', true)::uuid
         END
$$;

ALTER FUNCTION aim_commit_work() SECURITY DEFINER SET search_path = public, pg_temp;
"""


def _policies() -> str:
    statements = ["ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;"]
    statements.append("CREATE POLICY organization ON organizations USING (aim_admits(id));")
    for table in BY_ORGANIZATION:
        statements.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;")
        statements.append(f"CREATE POLICY organization ON {table} USING (aim_admits(organization_id));")
    for table, (parent, column) in BY_PARENT.items():
        statements.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;")
        statements.append(
            f"CREATE POLICY organization ON {table} "
            f"USING (EXISTS (SELECT 1 FROM {parent} p WHERE p.id = {table}.{column}));"
        )
    return "\n".join(statements)


async def row_security(apps, schema_editor) -> None:
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(ROLE + _policies())


class Migration(migrations.Migration):
    dependencies = [("aim", "0019_commit_work")]
    operations = [ops.RunPython(row_security)]
