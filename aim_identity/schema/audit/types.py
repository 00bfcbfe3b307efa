from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.counts import CountByKey
from aim_identity.schema.core.node import Node, node_type
from aim_identity.schema.core.pagination import Connection, Edge


@node_type(m.AuditLogEntry)
@strawberry.type
class AuditLogEntry(Node):
    sequence: int
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip_address: str | None
    user_agent: str | None
    metadata: JSON
    previous_hash: str
    hash: str

    @classmethod
    def of(cls, row: m.AuditLogEntry) -> AuditLogEntry:
        return cls(
            id=strawberry.ID(ids.encode("AuditLogEntry", row.id)),
            sequence=row.sequence,
            occurred_at=row.occurred_at,
            actor_type=row.actor_type,
            actor_id=row.actor_id,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            metadata=JSON(row.metadata),
            previous_hash=row.previous_hash,
            hash=row.hash,
        )

    @classmethod
    async def load(cls, info: Info, pk: uuid.UUID) -> AuditLogEntry | None:
        info.context.require(m.Role.MANAGER)
        row = await info.context.loaders.by_id(m.AuditLogEntry).load(pk)
        return cls.of(row) if row else None


@strawberry.type(name="AuditLogEdge")
class AuditLogEdge(Edge[AuditLogEntry]):
    pass


@strawberry.type(name="AuditLogConnection")
class AuditLogConnection(Connection[AuditLogEntry]):
    edges: list[AuditLogEdge]  # type: ignore[assignment]  # the contract's names for the generic page


@strawberry.type
class AuditChainVerification:
    valid: bool
    checked_entries: int
    first_invalid_sequence: int | None
    reason: str | None


@strawberry.type
class AuditStats:
    total: int
    by_action: list[CountByKey]
    by_actor_type: list[CountByKey]
    per_day: list[CountByKey] = strawberry.field(description="key = YYYY-MM-DD (UTC), oldest first")


@strawberry.type
class AuditCheckpoint:
    sequence: int
    hash: str
    signature: str = strawberry.field(description="base64 Ed25519 over the checkpoint bytes in PROTOCOL.md")
    key_id: str = strawberry.field(description="the kid of the signing key in /.well-known/jwks.json")
    created_at: datetime

    @classmethod
    def of(cls, row: m.AuditCheckpoint) -> AuditCheckpoint:
        return cls(
            sequence=row.sequence,
            hash=row.hash,
            signature=row.signature,
            key_id=row.key_id,
            created_at=row.created_at,
        )


@strawberry.enum
class ExportFormat(Enum):
    CSV = "CSV"
    JSON = "JSON"
    PDF = "PDF"


@strawberry.type
class AuditExport:
    format: ExportFormat
    entries: int = strawberry.field(
        description="the trail's entries, the review's rows, or the subject's audit entries"
    )
    download_url: str = strawberry.field(
        description="GET it with a credential of this organization (ADMIN or MANAGER) within five minutes"
    )
    expires_at: datetime
