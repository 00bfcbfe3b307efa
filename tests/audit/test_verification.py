"""verifyAuditChain and `aimctl verify-audit` catch each way a superuser could rewrite the trail with
the append-only triggers switched off: an edited field, a deleted entry, two entries swapped, a forged
entry, a removed end. Each is caught at the sequence where it is."""

from __future__ import annotations

import asyncio
import importlib
import os
import uuid

import asyncpg
import pytest
from tortoise import Tortoise

from aim_identity import ids, protocol
from aim_identity.audit import chain
from aim_identity.models import AuditLogEntry
from tests.support import BIN, REPO, Org, create_agent

VERIFY = "{ verifyAuditChain { valid checkedEntries firstInvalidSequence reason } }"
APPEND_ONLY = importlib.import_module("aim_identity.migrations.0002_audit_append_only")


async def trail(org: Org, entries: int = 8) -> list[AuditLogEntry]:
    organization_id = ids.decode(org.id, "Organization")
    while await AuditLogEntry.filter(organization_id=organization_id).count() < entries:
        await create_agent(org.admin.api)
    return list(await AuditLogEntry.filter(organization_id=organization_id).order_by("sequence"))


async def tamper(*statements: tuple) -> None:
    """Runs each (sql, *params) as a superuser would: as the tables' owner (whom row-level security
    does not bind), with the append-only triggers off; `$n` placeholders, UUIDs as they are."""
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "postgres":
        owner = await asyncpg.connect(
            host=connection.host,
            port=connection.port,
            user=connection.user,
            password=connection.password,
            database=connection.database,
        )
        try:
            async with owner.transaction():
                await owner.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
                for sql, *params in statements:
                    await owner.execute(sql, *params)
                await owner.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
        finally:
            await owner.close()
        return
    await connection.execute_script("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
    try:
        for sql, *params in statements:
            sql, params = sql.replace("$", "?"), [str(p) if isinstance(p, uuid.UUID) else p for p in params]
            await connection.execute_query(sql, params)
    finally:
        await connection.execute_script(APPEND_ONLY.SQLITE)


async def verdict(org: Org) -> dict:
    return (await org.admin.api(VERIFY))["verifyAuditChain"]


async def verify_audit(settings, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")} | {
        "AIM_DATABASE_URL": settings.database_url,
        "AIM_SECRET_KEY": settings.secret_key,  # the key the checkpoints are signed with
    }
    process = await asyncio.create_subprocess_exec(
        str(BIN / "aimctl"), "verify-audit", *args, env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode()


async def test_an_untouched_chain_verifies_through_the_api_and_the_command(org: Org, settings):
    entries = await trail(org)
    assert await verdict(org) == {
        "valid": True,
        "checkedEntries": len(entries),
        "firstInvalidSequence": None,
        "reason": None,
    }
    code, out = await verify_audit(settings, "--org", org.id)
    assert code == 0 and f"{org.id}: valid, {len(entries)} entries" in out


async def test_an_edited_field_is_caught_at_its_entry(org: Org, settings):
    entries = await trail(org)
    await tamper(("UPDATE audit_log SET action = 'nothing.happened' WHERE id = $1", entries[3].id))
    found = await verdict(org)
    assert (found["valid"], found["firstInvalidSequence"], found["checkedEntries"]) == (False, 4, 3)
    assert "changed" in found["reason"]
    code, out = await verify_audit(settings, "--org", str(ids.decode(org.id, "Organization")))
    assert code == 1 and "entry 4" in out


async def test_a_deleted_entry_is_caught_where_it_was(org: Org):
    entries = await trail(org)
    await tamper(("DELETE FROM audit_log WHERE id = $1", entries[4].id))
    found = await verdict(org)
    assert (found["valid"], found["firstInvalidSequence"]) == (False, 5)
    assert "missing" in found["reason"]


async def test_two_swapped_entries_are_caught_at_the_first(org: Org):
    entries = await trail(org)
    a, b = entries[2], entries[3]
    await tamper(
        ("UPDATE audit_log SET sequence = -1 WHERE id = $1", a.id),
        ("UPDATE audit_log SET sequence = $2 WHERE id = $1", b.id, a.sequence),
        ("UPDATE audit_log SET sequence = $2 WHERE id = $1", a.id, b.sequence),
    )
    found = await verdict(org)
    assert (found["valid"], found["firstInvalidSequence"]) == (False, a.sequence)
    assert "does not follow" in found["reason"]


async def test_a_forged_entry_is_caught_even_with_a_correct_hash(org: Org):
    """A forger who knows the protocol can hash a new entry onto the end; the chain's head still names
    the real end."""
    entries = await trail(org)
    last = entries[-1]
    organization_id = ids.decode(org.id, "Organization")
    sequence = last.sequence + 1
    fields = chain.hashed_fields(
        organization_id, sequence, last.occurred_at, "user", None, "agent.delete", None, None, None, None, {}
    )
    forged = protocol.audit_entry_hash(last.hash, fields)
    await tamper(
        (
            "INSERT INTO audit_log (id, organization_id, sequence, occurred_at, actor_type, action, metadata, "
            "previous_hash, hash) VALUES ($1, $2, $3, $4, 'user', 'agent.delete', '{}', $5, $6)",
            uuid.uuid4(),
            organization_id,
            sequence,
            last.occurred_at,
            last.hash,
            forged,
        )
    )
    found = await verdict(org)
    assert (found["valid"], found["firstInvalidSequence"]) == (False, sequence)


async def test_a_removed_end_is_caught_against_the_chains_head(org: Org):
    entries = await trail(org)
    await tamper(*(("DELETE FROM audit_log WHERE id = $1", e.id) for e in entries[-2:]))
    found = await verdict(org)
    assert (found["valid"], found["firstInvalidSequence"]) == (False, len(entries) - 1)
    assert "end was removed" in found["reason"]


async def test_only_an_admin_verifies_and_the_command_checks_every_organization(org: Org, other_org: Org, settings):
    manager = await org.member("MANAGER")
    assert await manager.api.error(VERIFY) == "FORBIDDEN"
    _, out = await verify_audit(settings)  # other tests leave broken chains behind: the code may be 1
    assert f"{org.id}: valid" in out and f"{other_org.id}: valid" in out


@pytest.mark.parametrize("argument", ["not-an-organization", str(uuid.uuid4())])
async def test_the_command_refuses_an_unknown_organization(settings, argument):
    code, out = await verify_audit(settings, "--org", argument)
    assert code == 2 and "no such organization" in out


async def test_the_verdict_is_never_answered_from_the_response_cache(org: Org):
    """Nothing AIM writes tells the cache that a superuser changed the table: each check reads it anew."""
    entries = await trail(org)
    assert (await verdict(org))["valid"]
    await tamper(("UPDATE audit_log SET actor_id = 'someone else' WHERE id = $1", entries[1].id))
    assert (await verdict(org))["firstInvalidSequence"] == 2
