"""Row-level security on PostgreSQL: the database's own wall behind the application's organization
filter (aim_identity/row_security.py, migration 0020)."""

from __future__ import annotations

import asyncio
import importlib
import sys

import asyncpg
import pytest
from tortoise.exceptions import OperationalError
from tortoise.queryset import QuerySet

from aim_identity import db, ids, row_security, tenancy
from aim_identity import models as m
from aim_identity.actors import Actor
from aim_identity.unit_of_work import atomic
from tests.conftest import postgres_server
from tests.support import Api, Org, create_agent, verify

pytestmark = pytest.mark.skipif(postgres_server() is None, reason="row-level security is PostgreSQL's")

policies = importlib.import_module("aim_identity.migrations.0020_row_security")

AGENT_NAMES = "query { agents(first: 50) { edges { node { id name } } } }"


async def as_owner(settings, sql: str, *params):
    """What the database holds, read as its owner: row-level security does not bind the owner."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch(sql, *params)
    finally:
        await conn.close()


def organization_of(table: str) -> str:
    """SQL for the organization a row of `table` belongs to, read as the owner."""
    if table == "organizations":
        return "t.id"
    if table in policies.BY_ORGANIZATION:
        return "t.organization_id"
    parent, column = policies.BY_PARENT[table]
    return f"(SELECT p.organization_id FROM {parent} p WHERE p.id = t.{column})"


@pytest.fixture
async def two_organizations(org: Org, other_org: Org, anonymous: Api) -> tuple[Org, Org]:
    """Two organizations with agents, verifications, grants and audit trails of their own."""
    for owner in (org, other_org):
        agent = await create_agent(owner.admin.api, capabilities=["read:files"])
        await verify(anonymous, agent)
    return org, other_org


async def test_every_table_is_either_an_organizations_under_a_policy_or_the_instances(settings):
    tables = {
        r["relname"]: r["relrowsecurity"]
        for r in await as_owner(
            settings,
            "SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'",
        )
    }
    tenant = {"organizations", *policies.BY_ORGANIZATION, *policies.BY_PARENT}
    assert set(tables) == tenant | set(policies.INSTANCE_WIDE) | {"tortoise_migrations"}
    assert {t for t, secured in tables.items() if secured} == tenant
    with_policy = {r["tablename"] for r in await as_owner(settings, "SELECT tablename FROM pg_policies")}
    assert with_policy == tenant
    # A table that names an organization cannot be left out as the instance's.
    named = {
        r["table_name"]
        for r in await as_owner(
            settings,
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'organization_id'",
        )
    }
    assert named <= set(policies.BY_ORGANIZATION)


async def test_the_api_runs_as_a_role_that_neither_owns_the_tables_nor_is_a_superuser(server):
    row = await db.fetch_one(
        "SELECT current_user AS name, r.rolsuper, r.rolbypassrls, "
        "(SELECT tableowner FROM pg_tables WHERE tablename = 'agents') AS owner "
        "FROM pg_roles r WHERE r.rolname = current_user"
    )
    assert row == {"name": db.API_ROLE, "rolsuper": False, "rolbypassrls": False, "owner": row["owner"]}
    assert row["owner"] != db.API_ROLE


async def test_each_tenant_table_admits_exactly_its_organizations_rows_without_any_filter(settings, two_organizations):
    mine, theirs = (ids.decode(o.id, "Organization") for o in two_organizations)
    seen_foreign = set()
    for table in ["organizations", *policies.BY_ORGANIZATION, *policies.BY_PARENT]:
        owned = {
            r["org"]: r["n"]
            for r in await as_owner(
                settings, f"SELECT {organization_of(table)} AS org, count(*) AS n FROM {table} t GROUP BY 1"
            )
        }
        if owned.get(theirs):
            seen_foreign.add(table)
        with row_security.organization(mine):
            admitted = await db.fetch(f"SELECT count(*) AS n FROM {table}")  # no filter of any kind
        assert admitted[0]["n"] == owned.get(mine, 0), table
    # Not a vacuous wall: the other organization's rows were there to be kept out.
    assert {"organizations", "agents", "agent_keys", "capability_grants", "audit_log", "users"} <= seen_foreign


async def test_a_task_that_has_said_nothing_sees_nothing_and_writes_nothing(two_organizations):
    with row_security.organization(None):
        assert await m.Agent.all() == []
        assert await db.fetch("SELECT id FROM organizations") == []
        with pytest.raises(OperationalError, match="row-level security"):
            await m.Organization.create(name="Nobody's", slug="nobodys-org")


async def test_rows_of_another_organization_can_be_neither_read_nor_written(two_organizations):
    mine, theirs = (ids.decode(o.id, "Organization") for o in two_organizations)
    with row_security.organization(mine):
        agents = await m.Agent.all()
        assert agents and {a.organization_id for a in agents} == {mine}
        assert await m.Agent.filter(organization_id=theirs).count() == 0
        moved = await db.fetch("UPDATE agents SET name = 'taken' WHERE organization_id = $1 RETURNING id", theirs)
        assert moved == []
        with pytest.raises(OperationalError, match="row-level security"):
            await db.execute("UPDATE agents SET organization_id = $1 WHERE organization_id = $2", theirs, mine)
    with row_security.organization(theirs):
        assert "taken" not in {a.name for a in await m.Agent.all()}


async def test_a_mutation_touches_only_its_actors_organization_whatever_its_task_held(two_organizations):
    mine, theirs = (ids.decode(o.id, "Organization") for o in two_organizations)
    assert row_security.current() == row_security.EVERY_ORGANIZATION  # the tests' own scope
    async with atomic(Actor(mine, "system", "test")):
        assert {a.organization_id for a in await m.Agent.all()} == {mine}
    assert {theirs, mine} <= {a.organization_id for a in await m.Agent.all()}


async def test_a_pooled_session_is_told_each_takers_organization(two_organizations):
    """Sessions pass between tasks of different organizations, one after another and all at once:
    each read sees its own organization's rows."""
    mine, theirs = (ids.decode(o.id, "Organization") for o in two_organizations)

    async def seen_by(organization_id) -> set:
        with row_security.organization(organization_id):
            return {r["organization_id"] for r in await db.fetch("SELECT organization_id FROM agents")}

    scopes = [mine, theirs, None] * db.POOL_SIZE
    for organization_id in scopes:
        assert await seen_by(organization_id) == ({organization_id} if organization_id else set())
    together = await asyncio.gather(*(seen_by(o) for o in scopes))
    assert together == [({o} if o else set()) for o in scopes]


async def test_the_api_keeps_foreign_rows_out_with_the_application_filter_removed(two_organizations, monkeypatch):
    """Every read that starts from tenancy.scoped() loses its organization filter: the database still
    answers each caller with its own organization's rows alone."""
    mine, theirs = two_organizations

    def unfiltered(model, organization_id, *, tombstones: bool = False) -> QuerySet:
        return model.all() if tombstones or not tenancy.has_tombstones(model) else model.filter(deleted_at=None)

    theirs_agent = (await theirs.admin.api(AGENT_NAMES))["agents"]["edges"][0]["node"]
    patched = [
        module
        for name, module in sorted(sys.modules.items())
        if name.startswith("aim_identity") and getattr(module, "scoped", None) is tenancy.scoped
    ]
    assert patched  # the agents list and the node loaders among them
    for module in patched:
        monkeypatch.setattr(module, "scoped", unfiltered)
    for owner in (mine, theirs):
        names = await owner.admin.api(
            "query($id: ID!) { node(id: $id) { id } agents(first: 50) { edges { node { id } } } }",
            id=theirs_agent["id"],
        )
        listed = {e["node"]["id"] for e in names["agents"]["edges"]}
        assert (theirs_agent["id"] in listed) == (owner is theirs)
        assert (names["node"] is not None) == (owner is theirs)
