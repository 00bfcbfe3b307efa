"""The migrations: from an empty database, again as a no-op, and through a populated one.

Migrations run in a subprocess: migrating in this process would close the live server's connections."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid

import asyncpg
import pytest
from tortoise.models import Model

from aim_identity import models as m
from tests.conftest import fresh_database
from tests.support import BIN, REPO, aimctl

# Every table of the models, and the one Tortoise records its migrations in.
MODEL_TABLES = {
    v._meta.db_table for v in vars(m).values() if isinstance(v, type) and issubclass(v, Model) and not v._meta.abstract
}
TRIGGERS = {
    "postgres": {"audit_log_no_change", "audit_log_no_truncate"},
    "sqlite": {"audit_log_no_update", "audit_log_no_delete"},
}
MIGRATIONS = sorted(p.stem for p in (REPO / "aim_identity" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))


async def inspect(database_url: str) -> tuple[set[str], set[str], list[tuple]]:
    """Tables, the audit_log triggers, and the recorded migrations of a database."""
    if database_url.startswith("postgres"):
        conn = await asyncpg.connect(database_url)
        try:
            tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            triggers = {
                r[0]
                for r in await conn.fetch(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
                )
            }
            applied = [
                tuple(r) for r in await conn.fetch("SELECT app, name, applied_at FROM tortoise_migrations ORDER BY id")
            ]
        finally:
            await conn.close()
        return tables, triggers, applied
    with sqlite3.connect(database_url.removeprefix("sqlite://")) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        triggers = {
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
        }
        applied = conn.execute("SELECT app, name, applied_at FROM tortoise_migrations ORDER BY id").fetchall()
    return tables, triggers, applied


async def test_migrations_build_an_empty_database_and_rerun_as_a_no_op(tmp_path):
    database_url = await fresh_database(tmp_path)
    kind = "postgres" if database_url.startswith("postgres") else "sqlite"
    assert "up to date" in await aimctl("migrate", database_url=database_url)

    tables, triggers, applied = await inspect(database_url)
    assert {"agents", "users", "organizations", "audit_log", "outbox_events", "tortoise_migrations"} <= tables
    assert tables >= MODEL_TABLES, f"missing tables: {sorted(MODEL_TABLES - tables)}"
    assert triggers == TRIGGERS[kind]
    assert [(app, name) for app, name, _ in applied] == [("aim", name) for name in MIGRATIONS]

    await aimctl("migrate", database_url=database_url)
    assert await inspect(database_url) == (tables, triggers, applied)


# Rows written as the schema stood at 0006: an organization, its admin, an agent, and what names it.
ORG, USER, AGENT, TWIN = (str(uuid.UUID(int=n)) for n in (1, 2, 3, 4))
AT = "2026-11-01 00:00:00+00:00"
BEFORE_TOMBSTONES = f"""
INSERT INTO organizations (id, name, slug, created_at, data_version) VALUES ('{ORG}', 'Acme', 'acme', '{AT}', 0);
INSERT INTO users (id, organization_id, email, name, role, password_hash, mfa_enabled, created_at)
VALUES ('{USER}', '{ORG}', 'ada@example.com', 'Ada', 'ADMIN', 'x', false, '{AT}');
INSERT INTO agents (id, organization_id, name, agent_type, status, public_key, key_fingerprint, key_created_at,
                    trust_score, trust_confidence, trust_factors, created_at, updated_at, created_by_id)
VALUES ('{AGENT}', '{ORG}', 'billing-bot', 'AI_AGENT', 'VERIFIED', 'k', 'f', '{AT}', 0.5, 0.5, '[]', '{AT}', '{AT}',
        '{USER}');
INSERT INTO verification_events (id, organization_id, agent_id, result, trust_score_before, trust_score_after,
                                 created_at)
VALUES ('{uuid.UUID(int=10)}', '{ORG}', '{AGENT}', 'VERIFIED', 0.4, 0.5, '{AT}');
INSERT INTO threats (id, organization_id, agent_id, type, severity, status, title, description, evidence,
                     detected_at)
VALUES ('{uuid.UUID(int=11)}', '{ORG}', '{AGENT}', 'CREDENTIAL_MISUSE', 'HIGH', 'OPEN', 't', 'd', '{{}}', '{AT}');
INSERT INTO capability_grants (id, agent_id, name, granted_at)
VALUES ('{uuid.UUID(int=12)}', '{AGENT}', 'db:read', '{AT}');
INSERT INTO trust_score_history (agent_id, score, reason, at) VALUES ('{AGENT}', 0.5, 'registered', '{AT}');
"""
NAMING_AN_AGENT = ("verification_events", "threats", "capability_grants", "trust_score_history")


async def run_sql(database_url: str, script: str) -> list[tuple]:
    """Runs `script`; the rows of its last statement."""
    if database_url.startswith("postgres"):
        conn = await asyncpg.connect(database_url)
        try:
            *statements, last = [s for s in script.split(";") if s.strip()]
            for statement in statements:
                await conn.execute(statement)
            return [tuple(r) for r in await conn.fetch(last)]
        finally:
            await conn.close()
    with sqlite3.connect(database_url.removeprefix("sqlite://")) as conn:
        *statements, last = [s for s in script.split(";") if s.strip()]
        for statement in statements:
            conn.execute(statement)
        return conn.execute(last).fetchall()


async def test_migrating_a_populated_database_keeps_what_names_its_agents(tmp_path):
    """0008 rebuilds the agents table on SQLite: nothing that names an agent may go with the old one."""
    database_url = await fresh_database(tmp_path)
    await aimctl("migrate", "--to", "0006_mcp_server_agents_index", database_url=database_url)
    await run_sql(database_url, BEFORE_TOMBSTONES + "SELECT 1")
    await aimctl("migrate", database_url=database_url)

    counts = await run_sql(database_url, " UNION ALL ".join(f"SELECT count(*) FROM {t}" for t in NAMING_AN_AGENT))
    assert [n for (n,) in counts] == [1, 1, 1, 1]
    assert await run_sql(database_url, "SELECT name, deleted_at FROM agents") == [("billing-bot", None)]
    # A live name is still unique; once its agent is deleted, the name is free.
    twin = (
        f"INSERT INTO agents (id, organization_id, name, agent_type, status, public_key, key_fingerprint, "
        f"key_created_at, trust_score, trust_confidence, trust_factors, created_at, updated_at) VALUES "
        f"('{TWIN}', '{ORG}', 'billing-bot', 'AI_AGENT', 'PENDING', 'k', 'f', '{AT}', 0, 0, '[]', '{AT}', '{AT}')"
    )
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await run_sql(database_url, twin + "; SELECT 1")
    await run_sql(database_url, f"UPDATE agents SET deleted_at = '{AT}' WHERE id = '{AGENT}'; {twin}; SELECT 1")
    assert len(await run_sql(database_url, "SELECT id FROM agents WHERE name = 'billing-bot'")) == 2


# MCP servers as they stood at 0012: one detected from a command line, two sharing a URL, and what names them.
STDIO, FIRST, SECOND = (str(uuid.UUID(int=n)) for n in (20, 21, 22))
EARLIER, LATER = "2026-11-01 00:00:00+00:00", "2026-11-02 00:00:00+00:00"
BEFORE_MCP = f"""
INSERT INTO mcp_servers (id, organization_id, name, url, status, capabilities, trust_score, health, created_at)
VALUES ('{STDIO}', '{ORG}', 'files', 'npx -y @modelcontextprotocol/server-filesystem /tmp', 'PENDING', '[]', 0,
        'UNKNOWN', '{EARLIER}'),
       ('{FIRST}', '{ORG}', 'search', 'https://mcp.example/search', 'VERIFIED', '[]', 0.5, 'UNKNOWN', '{EARLIER}'),
       ('{SECOND}', '{ORG}', 'search-again', 'https://mcp.example/search', 'PENDING', '[]', 0, 'UNKNOWN', '{LATER}');
INSERT INTO agent_mcp_servers (id, agent_id, mcp_server_id, declared, created_at)
VALUES ('{uuid.UUID(int=23)}', '{AGENT}', '{FIRST}', true, '{AT}');
INSERT INTO threats (id, organization_id, agent_id, mcp_server_id, type, severity, status, title, description,
                     evidence, detected_at)
VALUES ('{uuid.UUID(int=24)}', '{ORG}', '{AGENT}', '{FIRST}', 'CONFIGURATION_DRIFT', 'MEDIUM', 'OPEN', 't', 'd',
        '{{}}', '{AT}');
"""


async def test_migrating_mcp_servers_keeps_every_server_and_what_names_it(tmp_path):
    """0013 rebuilds the MCP server table on SQLite, turns command lines into stdio servers and makes URLs
    unique: no server, link or threat is lost on the way."""
    database_url = await fresh_database(tmp_path)
    await aimctl("migrate", "--to", "0012_registration_codes", database_url=database_url)
    await run_sql(database_url, BEFORE_TOMBSTONES + BEFORE_MCP + "SELECT 1")
    await aimctl("migrate", database_url=database_url)

    rows = await run_sql(database_url, "SELECT name, url, command, transport FROM mcp_servers ORDER BY name")
    assert rows == [
        ("files", "stdio:files", "npx -y @modelcontextprotocol/server-filesystem /tmp", "STDIO"),
        ("search", "https://mcp.example/search", None, "STREAMABLE_HTTP"),
        ("search-again", f"https://mcp.example/search#duplicate-{SECOND}", None, "STREAMABLE_HTTP"),
    ]
    counts = await run_sql(
        database_url, "SELECT count(*) FROM agent_mcp_servers UNION ALL SELECT count(*) FROM threats"
    )
    assert [n for (n,) in counts] == [1, 2]
    # A live URL is unique in the organization, and a deleted server's URL is free again.
    twin = (
        f"INSERT INTO mcp_servers (id, organization_id, name, url, status, capabilities, trust_score, health, "
        f"created_at) VALUES ('{uuid.UUID(int=25)}', '{ORG}', 'other', 'https://mcp.example/search', 'PENDING', "
        f"'[]', 0, 'UNKNOWN', '{AT}')"
    )
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await run_sql(database_url, twin + "; SELECT 1")
    await run_sql(database_url, f"UPDATE mcp_servers SET deleted_at = '{AT}' WHERE id = '{FIRST}'; {twin}; SELECT 1")
    assert len(await run_sql(database_url, "SELECT id FROM mcp_servers WHERE url = 'https://mcp.example/search'")) == 2


async def test_the_migrations_describe_the_models_exactly(tmp_path):
    """A model changed without its migration would migrate a database that the code then misreads.
    Tortoise's own `makemigrations` must find nothing to write (run on a copy: it writes what it finds)."""
    shutil.copytree(REPO / "aim_identity", tmp_path / "aim_identity", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        str(BIN / "tortoise"), "-c", "aim_identity.db.TORTOISE_ORM", "makemigrations",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await process.communicate())[0].decode()
    assert process.returncode == 0, output
    assert "No changes detected" in output, output
    written = sorted(p.name for p in (tmp_path / "aim_identity" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert [name.removesuffix(".py") for name in written] == MIGRATIONS
