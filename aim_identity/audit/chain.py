"""Appending to, and checking, each organization's audit hash chain (PROTOCOL.md, "Audit chain")."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import rfc8785

from aim_identity import ids
from aim_identity.models import AuditChainHead, AuditLogEntry

if TYPE_CHECKING:
    from aim_identity.unit_of_work import Actor

GENESIS = "0" * 64


@dataclass(frozen=True)
class Record:
    organization_id: uuid.UUID
    actor: Actor
    action: str
    target_type: str | None
    target_id: str | None
    metadata: dict[str, Any]


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_hash(previous_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(previous_hash.encode() + b"\n" + rfc8785.dumps(fields)).hexdigest()


def hashed_fields(organization_id: uuid.UUID, sequence: int, occurred_at: datetime, actor_type: str,
                  actor_id: str | None, action: str, target_type: str | None, target_id: str | None,
                  ip_address: str | None, user_agent: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "organizationId": ids.encode("Organization", organization_id),
        "sequence": sequence,
        "occurredAt": rfc3339(occurred_at),
        "actorType": actor_type,
        "actorId": actor_id,
        "action": action,
        "targetType": target_type,
        "targetId": target_id,
        "ipAddress": ip_address,
        "userAgent": user_agent,
        "metadata": metadata,
    }


async def start(organization_id: uuid.UUID) -> None:
    """Every organization's chain starts at the genesis hash when the organization is created."""
    await AuditChainHead.create(organization_id=organization_id, sequence=0, hash=GENESIS)


async def append(records: list[Record]) -> list[AuditLogEntry]:
    """Append in the caller's transaction; locking the head row keeps sequences gap-free."""
    written = []
    occurred_at = datetime.now(timezone.utc).replace(microsecond=0)
    for org in dict.fromkeys(r.organization_id for r in records):
        head = await AuditChainHead.select_for_update().get(organization_id=org)
        for r in (r for r in records if r.organization_id == org):
            sequence = head.sequence + 1
            fields = hashed_fields(org, sequence, occurred_at, r.actor.actor_type, r.actor.actor_id,
                                   r.action, r.target_type, r.target_id, r.actor.ip_address,
                                   r.actor.user_agent, r.metadata)
            digest = entry_hash(head.hash, fields)
            written.append(await AuditLogEntry.create(
                organization_id=org, sequence=sequence, occurred_at=occurred_at,
                actor_type=r.actor.actor_type, actor_id=r.actor.actor_id, action=r.action,
                target_type=r.target_type, target_id=r.target_id, ip_address=r.actor.ip_address,
                user_agent=r.actor.user_agent, metadata=r.metadata, previous_hash=head.hash, hash=digest))
            head.sequence, head.hash = sequence, digest
        await AuditChainHead.filter(organization_id=org).update(sequence=head.sequence, hash=head.hash)
    return written
