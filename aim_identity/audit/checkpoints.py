"""Signed checkpoints of each organization's audit chain (PROTOCOL.md): the service's Ed25519 key signs
`aim/audit-checkpoint/v1`, the organization's ID, a sequence and that entry's hash, so anyone with the
JWKS can later prove that the chain held that entry. The checkpoint worker signs the head of every
chain with AIM_AUDIT_CHECKPOINT_ENTRIES unsigned entries, or whose oldest unsigned entry is
AIM_AUDIT_CHECKPOINT_SECONDS old, whichever comes first; a removed end is then caught against the
latest checkpoint even if the chain's head was rewritten too."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from tortoise.transactions import in_transaction

from aim_identity import clock, db, ids, protocol, tenancy
from aim_identity.auth.keyring import Keyring
from aim_identity.models import AuditCheckpoint

# The heads with unsigned entries, with their latest checkpoint and the time of the oldest entry after it.
_DUE = """
SELECT h.organization_id, h.sequence, h.hash, COALESCE(c.sequence, 0) AS signed,
       (SELECT e.occurred_at FROM audit_log e
        WHERE e.organization_id = h.organization_id AND e.sequence = COALESCE(c.sequence, 0) + 1) AS oldest
FROM audit_chain_heads h
LEFT JOIN (SELECT organization_id, MAX(sequence) AS sequence FROM audit_checkpoints GROUP BY organization_id) c
  ON c.organization_id = h.organization_id
WHERE h.sequence > COALESCE(c.sequence, 0)"""


def message(organization_id: uuid.UUID, sequence: int, entry_hash: str) -> bytes:
    return protocol.audit_checkpoint(ids.encode("Organization", organization_id), sequence, entry_hash)


async def sign_due(keyring: Keyring, entries: int, seconds: float) -> int:
    """Signs each chain head that is due; returns how many it signed. Two workers signing one head at
    once write the same checkpoint, and the second is refused by its unique (organization, sequence)."""
    now = clock.now()
    signed = 0
    for row in await db.fetch(_DUE):
        oldest = db.as_datetime(row["oldest"]) if row["oldest"] else now
        if row["sequence"] - row["signed"] < entries and now - oldest < timedelta(seconds=seconds):
            continue
        signature = keyring.current.sign(message(row["organization_id"], row["sequence"], row["hash"]))
        async with in_transaction():
            await db.execute(
                "INSERT INTO audit_checkpoints (organization_id, sequence, hash, signature, key_id, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (organization_id, sequence) DO NOTHING",
                row["organization_id"],
                row["sequence"],
                row["hash"],
                base64.b64encode(signature).decode(),
                keyring.current.kid,
                now,
            )
            await tenancy.touch({row["organization_id"]})  # auditCheckpoints answered from cache is stale now
        signed += 1
    return signed


def genuine(keyring: Keyring, checkpoint: AuditCheckpoint) -> bool:
    """Whether the service's key, current or retired, signed the checkpoint's bytes."""
    key = next((k for k in (keyring.current, *keyring.retired) if k.kid == checkpoint.key_id), None)
    if key is None:
        return False
    try:
        VerifyKey(key.public_bytes).verify(
            message(checkpoint.organization_id, checkpoint.sequence, checkpoint.hash),
            base64.b64decode(checkpoint.signature),
        )
    except (BadSignatureError, ValueError):
        return False
    return True


async def latest(organization_id: uuid.UUID, through: int | None = None) -> AuditCheckpoint | None:
    """The newest checkpoint, or the newest of entry `through` or before."""
    signed = AuditCheckpoint.filter(organization_id=organization_id)
    if through is not None:
        signed = signed.filter(sequence__lte=through)
    return await signed.order_by("-sequence").first()
