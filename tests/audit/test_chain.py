"""The audit chain as PROTOCOL.md defines it: every stored hash is recomputed from the stored entry and
its predecessor. On PostgreSQL the database computes the hash (audit/chain.py), on SQLite Python does;
both must give the protocol's bytes. And the database itself keeps the log append-only."""

from __future__ import annotations

import itertools

import asyncpg
import pytest
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from aim_identity import db, ids, protocol
from aim_identity import models as m
from aim_identity.actors import Actor
from aim_identity.audit import chain
from aim_identity.models import AuditChainHead, AuditLogEntry, Organization
from aim_identity.unit_of_work import atomic
from tests.conftest import postgres_server
from tests.support import Org, create_agent


def recomputed(entry: AuditLogEntry) -> str:
    return protocol.audit_entry_hash(
        entry.previous_hash,
        chain.hashed_fields(
            entry.organization_id,
            entry.sequence,
            entry.occurred_at,
            entry.actor_type,
            entry.actor_id,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.ip_address,
            entry.user_agent,
            entry.metadata,
        ),
    )


async def test_every_stored_hash_is_the_protocol_hash_of_its_entry(org):
    organization = ids.decode(org.id, "Organization")
    await create_agent(org.admin.api, capabilities=["db:read"])
    # Metadata that looks like the entry's own fields, non-ASCII text and numbers: the canonical JSON
    # around the sequence number must still be the entry's own.
    tricky = {"sequence": 0, "targetId": ',"sequence":0,"targetId":', "note": "zürich ✓", "ratio": 0.1, "n": 10**15}
    async with atomic(Actor(organization, "system", ip_address="192.0.2.1", user_agent="test\nagent")) as work:
        work.audit("test.first", "Test", "t1", **tricky)
        work.audit("test.second", None, None)

    entries = await AuditLogEntry.filter(organization_id=organization).order_by("sequence")
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].previous_hash == protocol.AUDIT_GENESIS
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(entries))
    assert [e.action for e in entries[-2:]] == ["test.first", "test.second"]
    assert entries[-2].metadata == tricky
    for entry in entries:
        assert entry.hash == recomputed(entry), f"entry {entry.sequence} ({entry.action})"


async def test_a_write_that_cannot_be_audited_does_not_commit(org):
    """Without its chain head an organization's entries have nothing to hash onto: the transaction
    fails as a whole instead of committing unaudited."""
    organization = ids.decode(org.id, "Organization")
    head = await AuditChainHead.get(organization_id=organization)
    await AuditChainHead.filter(organization_id=organization).delete()
    try:
        with pytest.raises(chain.NoChainHead):
            async with atomic(Actor(organization, "system")) as work:
                await Organization.filter(id=organization).update(name="renamed without audit")
                work.audit("test.unaudited")
        assert (await Organization.get(id=organization)).name != "renamed without audit"
        assert not await AuditLogEntry.filter(organization_id=organization, action="test.unaudited").exists()
    finally:
        await AuditChainHead.create(organization_id=organization, sequence=head.sequence, hash=head.hash)


async def test_on_postgres_the_commit_writes_the_entries_and_leaves_no_work_behind(org):
    """PostgreSQL chains a transaction's entries inside its COMMIT, from the one `commit_work` row the
    unit of work inserted (migration 0019); the row goes with it."""
    if postgres_server() is None:
        pytest.skip("SQLite writes the entries in the transaction itself")
    organization = ids.decode(org.id, "Organization")
    head = await AuditChainHead.get(organization_id=organization)
    version = (await Organization.get(id=organization)).data_version
    async with atomic(Actor(organization, "system")) as work:
        work.audit("test.first")
        work.audit("test.second")
    entries = await AuditLogEntry.filter(organization_id=organization, sequence__gt=head.sequence).order_by("sequence")
    assert [(e.sequence, e.action) for e in entries] == [
        (head.sequence + 1, "test.first"),
        (head.sequence + 2, "test.second"),
    ]
    assert all(e.hash == recomputed(e) for e in entries)
    assert (await Organization.get(id=organization)).data_version == version + 1
    assert await db.fetch("SELECT id FROM commit_work") == []


# ---- the audit log is append-only in the database


async def test_audit_log_refuses_update_and_delete(org: Org):
    organization_id = ids.decode(org.id, "Organization")
    entries = await m.AuditLogEntry.filter(organization_id=organization_id).order_by("sequence")
    assert entries, "registering an organization is audited"
    before = [(e.id, e.action, e.metadata, e.hash) for e in entries]
    first = entries[0]
    # Tortoise does not translate a PL/pgSQL RAISE, so asyncpg's own error arrives on PostgreSQL.
    refused = (OperationalError, IntegrityError, asyncpg.PostgresError)
    with pytest.raises(refused, match="append-only"):
        await m.AuditLogEntry.filter(id=first.id).update(action="tampered")
    with pytest.raises(refused, match="append-only"):
        await m.AuditLogEntry.filter(organization_id=organization_id).delete()
    first.metadata = {"tampered": True}
    with pytest.raises(refused, match="append-only"):
        await first.save()
    with pytest.raises(refused, match="append-only"):
        await first.delete()
    after = await m.AuditLogEntry.filter(organization_id=organization_id).order_by("sequence")
    assert [(e.id, e.action, e.metadata, e.hash) for e in after] == before


class Undo(Exception):
    """Rolls back a statement that should have been refused, so a failure harms no other test."""


async def test_audit_log_refuses_truncate_on_postgres(server, settings):
    if postgres_server() is None:
        pytest.skip("SQLite has no TRUNCATE")
    # The API's role may not truncate any table; the owner, who may, is refused by the trigger.
    with pytest.raises(OperationalError, match="permission denied"):
        async with in_transaction() as conn:
            await conn.execute_script("TRUNCATE audit_log")
            raise Undo
    owner = await asyncpg.connect(settings.database_url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            async with owner.transaction():
                await owner.execute("TRUNCATE audit_log")
    finally:
        await owner.close()
