"""Appending to, and checking, each organization's audit hash chain (PROTOCOL.md, "Audit chain")."""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aim_identity import db, ids, protocol
from aim_identity.actors import Actor
from aim_identity.models import AuditChainHead


class NoChainHead(RuntimeError):
    """An organization without a chain head cannot be audited, so its transaction must not commit."""

    def __init__(self, organization_id: uuid.UUID) -> None:
        super().__init__(f"organization {organization_id} has no audit chain head")


@dataclass(frozen=True)
class Record:
    organization_id: uuid.UUID
    actor: Actor
    action: str
    target_type: str | None
    target_id: str | None
    metadata: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def hashed_fields(
    organization_id: uuid.UUID,
    sequence: int,
    occurred_at: datetime,
    actor_type: str,
    actor_id: str | None,
    action: str,
    target_type: str | None,
    target_id: str | None,
    ip_address: str | None,
    user_agent: str | None,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    return {
        "organizationId": _organization(organization_id),
        "sequence": sequence,
        "occurredAt": protocol.rfc3339(occurred_at),
        "actorType": actor_type,
        "actorId": actor_id,
        "action": action,
        "targetType": target_type,
        "targetId": target_id,
        "ipAddress": ip_address,
        "userAgent": user_agent,
        "metadata": metadata,
    }


@functools.lru_cache(maxsize=1024)
def _organization(organization_id: uuid.UUID) -> str:
    """Verifying a chain hashes each of its entries under the same organization ID."""
    return ids.encode("Organization", organization_id)


async def start(organization_id: uuid.UUID) -> None:
    """Every organization's chain starts at the genesis hash when the organization is created."""
    await AuditChainHead.create(organization_id=organization_id, sequence=0, hash=protocol.AUDIT_GENESIS)


def _record_fields(r: Record, sequence: int, occurred_at: datetime) -> dict[str, Any]:
    return hashed_fields(
        r.organization_id,
        sequence,
        occurred_at,
        r.actor.actor_type,
        r.actor.actor_id,
        r.action,
        r.target_type,
        r.target_id,
        r.actor.ip_address,
        r.actor.user_agent,
        r.metadata,
    )


def _hash_input(occurred_at: datetime, r: Record) -> tuple[str, str]:
    """The canonical JSON of an entry around its sequence number, which only the locked head knows:
    RFC 8785 orders the keys, "sequence" is followed by "targetId", and every later value is a string
    or null, so the last `,"sequence":0,"targetId":` is the entry's own."""
    before, after = (
        protocol.canonical(_record_fields(r, 0, occurred_at)).decode().rsplit(',"sequence":0,"targetId":', 1)
    )
    return f'{before},"sequence":', f',"targetId":{after}'


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# What PostgreSQL raises at COMMIT for entries of an organization without a head (migration 0019).
NO_CHAIN_HEAD = "AIM01"


def for_commit(records: list[Record]) -> list[dict[str, Any]]:
    """The entries as PostgreSQL chains them at COMMIT (migration 0019): each entry's fields, and the
    canonical JSON it hashes split around the sequence number that only the locked head gives it."""
    occurred_at = _now()
    entries = []
    for r in records:
        before, after = _hash_input(occurred_at, r)
        entries.append(
            {
                "id": str(r.id),
                "organization_id": str(r.organization_id),
                "occurred_at": occurred_at.isoformat(),
                "actor_type": r.actor.actor_type,
                "actor_id": r.actor.actor_id,
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "ip_address": r.actor.ip_address,
                "user_agent": r.actor.user_agent,
                "metadata": r.metadata,
                "before": before,
                "after": after,
            }
        )
    return entries


_INSERT = """
INSERT INTO audit_log (id, organization_id, sequence, occurred_at, actor_type, actor_id, action, target_type,
                       target_id, ip_address, user_agent, metadata, previous_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"""


async def append(records: list[Record]) -> None:
    """On SQLite, in the caller's transaction: each organization's head is locked (SQLite's one writer
    holds the whole database until commit anyway), so sequences have no gaps."""
    occurred_at = _now()
    for org in dict.fromkeys(r.organization_id for r in records):
        head = await db.fetch_one(
            "SELECT sequence, hash FROM audit_chain_heads WHERE organization_id = $1 FOR UPDATE", org
        )
        if head is None:
            raise NoChainHead(org)
        sequence, previous = head["sequence"], head["hash"]
        for r in (r for r in records if r.organization_id == org):
            sequence += 1
            digest = protocol.audit_entry_hash(previous, _record_fields(r, sequence, occurred_at))
            await db.execute(
                _INSERT,
                r.id,
                org,
                sequence,
                occurred_at,
                r.actor.actor_type,
                r.actor.actor_id,
                r.action,
                r.target_type,
                r.target_id,
                r.actor.ip_address,
                r.actor.user_agent,
                json.dumps(r.metadata),
                previous,
                digest,
            )
            previous = digest
        await db.execute(
            "UPDATE audit_chain_heads SET sequence = $2, hash = $3 WHERE organization_id = $1", org, sequence, previous
        )
