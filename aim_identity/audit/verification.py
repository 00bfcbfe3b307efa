"""Proving an organization's audit chain whole (verifyAuditChain, `aimctl verify-audit`): every entry
from sequence 1 is read in order, its hash recomputed from its contents and the previous entry's hash
(PROTOCOL.md, "Audit chain"), and the last one compared with the chain's head and the latest signed
checkpoint. The first entry that does not hold is named with the reason, so an edited field, a deleted
or swapped entry, a forged one and a removed end are each caught where they are; a removed end even
when the head was rewritten with it, as long as a checkpoint signed past it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aim_identity import db, protocol
from aim_identity.audit import checkpoints
from aim_identity.audit.chain import hashed_fields
from aim_identity.auth.keyring import Keyring
from aim_identity.models import AuditChainHead

PAGE = 5000
_PAGE = """
SELECT sequence, occurred_at, actor_type, actor_id, action, target_type, target_id, ip_address, user_agent,
       metadata, previous_hash, hash
FROM audit_log WHERE organization_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3"""


@dataclass(frozen=True)
class Verification:
    valid: bool
    checked_entries: int
    first_invalid_sequence: int | None = None
    reason: str | None = None


async def verify(organization_id: uuid.UUID, keyring: Keyring) -> Verification:
    checkpoint = await checkpoints.latest(organization_id)
    if checkpoint is not None and not checkpoints.genuine(keyring, checkpoint):
        return _broken(0, checkpoint.sequence, f"the checkpoint of entry {checkpoint.sequence} is not signed by AIM")
    signed_hash: str | None = None  # the hash of the entry the checkpoint signed, once read
    expected, previous, checked = 1, protocol.AUDIT_GENESIS, 0
    async with contextlib.aclosing(_pages(organization_id)) as pages:
        async for rows in pages:
            for row in rows:
                sequence = row["sequence"]
                if sequence != expected:
                    return _broken(checked, expected, f"entry {expected} is missing (the next entry is {sequence})")
                if row["previous_hash"] != previous:
                    return _broken(checked, sequence, f"entry {sequence} does not follow the entry before it")
                if _hash(organization_id, row) != row["hash"]:
                    return _broken(
                        checked, sequence, f"entry {sequence} was changed: its contents do not match its hash"
                    )
                if checkpoint is not None and sequence == checkpoint.sequence:
                    signed_hash = row["hash"]
                previous, expected, checked = row["hash"], expected + 1, checked + 1
    last = expected - 1
    if checkpoint is not None:
        if checkpoint.sequence > last:
            reason = f"the chain ends at entry {last}, but entry {checkpoint.sequence} was signed: its end was removed"
            return _broken(checked, last + 1, reason)
        if signed_hash != checkpoint.hash:
            return _broken(
                checked, checkpoint.sequence, f"entry {checkpoint.sequence} is not the entry that was signed"
            )
    head = await AuditChainHead.get_or_none(organization_id=organization_id)
    if head is not None and (head.sequence, head.hash) != (last, previous):
        if head.sequence > last:
            reason = f"the chain ends at entry {last}, but its head is at {head.sequence}: its end was removed"
            return _broken(checked, last + 1, reason)
        return _broken(checked, last, f"entry {last} is not the last entry the chain's head names")
    return Verification(True, checked)


async def _pages(organization_id: uuid.UUID) -> AsyncGenerator[Sequence[Mapping[str, Any]]]:
    """The chain page by page, oldest first. The next page is asked for before this one is checked,
    so that the database reads it while this process hashes."""
    reading = asyncio.ensure_future(db.records(_PAGE, organization_id, 0, PAGE))
    try:
        while True:
            rows = await reading
            if len(rows) == PAGE:
                reading = asyncio.ensure_future(db.records(_PAGE, organization_id, rows[-1]["sequence"], PAGE))
                await asyncio.sleep(0)  # sends its query
            yield rows
            if len(rows) < PAGE:
                return
    finally:
        reading.cancel()


def _hash(organization_id: uuid.UUID, row: Mapping[str, Any]) -> str:
    metadata = row["metadata"]
    fields = hashed_fields(
        organization_id,
        row["sequence"],
        db.as_datetime(row["occurred_at"]),
        row["actor_type"],
        row["actor_id"],
        row["action"],
        row["target_type"],
        row["target_id"],
        row["ip_address"],
        row["user_agent"],
        json.loads(metadata) if isinstance(metadata, str) else metadata,
    )
    return protocol.audit_entry_hash(row["previous_hash"], fields)


def _broken(checked: int, sequence: int, reason: str) -> Verification:
    return Verification(False, checked, sequence, reason)
