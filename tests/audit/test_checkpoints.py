"""Signed checkpoints: the worker signs each chain every N entries or T seconds, whichever comes first;
anyone with the JWKS can check a checkpoint; and a chain whose end was removed, its head rewritten to
match, is still caught against the latest one."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
from nacl.signing import VerifyKey

from aim_identity import clock, ids, protocol
from aim_identity.audit import checkpoints
from aim_identity.auth.keyring import Keyring
from aim_identity.models import AuditChainHead, AuditCheckpoint, AuditLogEntry
from tests.audit.test_verification import VERIFY, tamper, trail
from tests.conftest import CHECKPOINT_EVERY, TEST_SECRET
from tests.support import Org, create_agent, eventually

CHECKPOINTS = "{ auditCheckpoints { sequence hash signature keyId createdAt } }"


async def signed(org: Org) -> list[dict]:
    return (await org.admin.api(CHECKPOINTS))["auditCheckpoints"]


async def test_the_worker_signs_every_n_entries_and_anyone_with_the_jwks_can_check(org: Org, url):
    await trail(org, CHECKPOINT_EVERY + 1)

    async def one() -> bool:
        return bool(await signed(org))

    await eventually(one)
    (checkpoint,) = await signed(org)
    entry = await AuditLogEntry.get(organization_id=ids.decode(org.id, "Organization"), sequence=checkpoint["sequence"])
    assert checkpoint["sequence"] >= CHECKPOINT_EVERY and checkpoint["hash"] == entry.hash
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(url.removesuffix("/graphql") + "/.well-known/jwks.json")).json()
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == checkpoint["keyId"]]
    key = VerifyKey(base64.urlsafe_b64decode(jwk["x"] + "=="))
    key.verify(
        protocol.audit_checkpoint(org.id, checkpoint["sequence"], checkpoint["hash"]),
        base64.b64decode(checkpoint["signature"]),
    )
    manager = await org.member("MANAGER")
    assert await manager.api.error(CHECKPOINTS) == "FORBIDDEN"


async def test_a_chain_with_fewer_entries_is_signed_once_its_oldest_unsigned_entry_is_old(org: Org):
    organization_id = ids.decode(org.id, "Organization")
    await create_agent(org.admin.api)
    head = await AuditChainHead.get(organization_id=organization_id)
    assert head.sequence < CHECKPOINT_EVERY  # too few entries for the count
    keyring = Keyring.derive(TEST_SECRET)
    await checkpoints.sign_due(keyring, entries=CHECKPOINT_EVERY, seconds=3600)
    assert not await AuditCheckpoint.exists(organization_id=organization_id)
    with clock.frozen_at(clock.now() + timedelta(hours=1, seconds=1)):
        await checkpoints.sign_due(keyring, entries=CHECKPOINT_EVERY, seconds=3600)
    (checkpoint,) = await AuditCheckpoint.filter(organization_id=organization_id)
    assert (checkpoint.sequence, checkpoint.hash) == (head.sequence, head.hash)
    assert checkpoints.genuine(keyring, checkpoint)


async def test_a_removed_end_is_caught_against_the_checkpoint_even_with_the_head_rewritten(org: Org):
    entries = await trail(org, CHECKPOINT_EVERY + 3)
    organization_id = ids.decode(org.id, "Organization")

    async def one() -> bool:
        return await AuditCheckpoint.exists(organization_id=organization_id)

    await eventually(one)
    checkpoint = await checkpoints.latest(organization_id)
    assert checkpoint is not None
    kept = [e for e in entries if e.sequence < checkpoint.sequence - 1]
    await tamper(
        *(("DELETE FROM audit_log WHERE id = $1", e.id) for e in entries if e.sequence >= checkpoint.sequence - 1),
        (
            "UPDATE audit_chain_heads SET sequence = $2, hash = $3 WHERE organization_id = $1",
            organization_id,
            kept[-1].sequence,
            kept[-1].hash,
        ),
    )
    found = (await org.admin.api(VERIFY))["verifyAuditChain"]
    assert (found["valid"], found["firstInvalidSequence"]) == (False, kept[-1].sequence + 1)
    assert f"entry {checkpoint.sequence} was signed" in found["reason"]


async def test_a_checkpoint_the_service_did_not_sign_is_refused(org: Org):
    await trail(org, 3)
    organization_id = ids.decode(org.id, "Organization")
    head = await AuditChainHead.get(organization_id=organization_id)
    await AuditCheckpoint.create(
        organization_id=organization_id,
        sequence=head.sequence,
        hash=head.hash,
        signature=base64.b64encode(b"\0" * 64).decode(),
        key_id=Keyring.derive(TEST_SECRET).current.kid,
        created_at=clock.now(),
    )
    found = (await org.admin.api(VERIFY))["verifyAuditChain"]
    assert (found["valid"], found["firstInvalidSequence"]) == (False, head.sequence)
    assert "not signed by AIM" in found["reason"]
