"""API keys: `aim_live_<43 base64url characters>`. Only the SHA-256 is stored; the key is shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from aim_identity import ids, tenancy
from aim_identity.actors import Actor
from aim_identity.errors import BadUserInput, Forbidden, NotFound
from aim_identity.models import ApiKey, Role
from aim_identity.unit_of_work import atomic

PREFIX_LENGTH = 12
_LAST_USED_GRANULARITY = timedelta(seconds=60)


def generate() -> str:
    return "aim_live_" + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def find_active(key: str) -> ApiKey | None:
    if not key.startswith("aim_live_"):
        return None
    wanted = digest(key)
    now = datetime.now(UTC)
    for candidate in await ApiKey.filter(prefix=key[:PREFIX_LENGTH], revoked_at=None).select_related(
        "created_by", "organization"
    ):
        if hmac.compare_digest(candidate.key_hash, wanted) and (
            candidate.expires_at is None or candidate.expires_at > now
        ):
            await _touch(candidate, now)
            return candidate
    return None


async def _touch(key: ApiKey, now: datetime) -> None:
    # Writing on every request would make each read a write; a minute of precision is enough.
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_GRANULARITY:
        key.last_used_at = now
        async with in_transaction():
            await ApiKey.filter(id=key.id).update(last_used_at=now)
            await tenancy.touch({key.organization_id})


async def create(
    actor: Actor, creator_id: uuid.UUID, creator_role: Role, name: str, role: Role, expires_at: datetime | None
) -> tuple[ApiKey, str]:
    """Returns the stored key and the whole secret, which is never shown again."""
    name = name.strip()
    if not name or len(name) > 200:
        raise BadUserInput("An API key name needs 1 to 200 characters", field="name")
    if not role <= creator_role:
        raise Forbidden(f"An API key cannot outrank its creator ({creator_role.value})", field="role")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise BadUserInput("expiresAt must be in the future", field="expiresAt")
    secret = generate()
    async with atomic(actor) as work:
        key = await ApiKey.create(
            organization_id=actor.organization_id,
            created_by_id=creator_id,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            key_hash=digest(secret),
            role=role,
            expires_at=expires_at,
        )
        work.audit("api_key.create", "ApiKey", ids.encode("ApiKey", key.id), name=name, role=role.value)
    return key, secret


async def revoke(actor: Actor, key_id: uuid.UUID, owner_id: uuid.UUID | None) -> ApiKey:
    """Revoke a key; with `owner_id`, only that user's keys are visible, exactly like foreign ones."""
    async with atomic(actor) as work:
        assert actor.organization_id is not None
        query = tenancy.scoped(ApiKey, actor.organization_id)
        if owner_id is not None:
            query = query.filter(created_by_id=owner_id)
        key = await query.select_for_update().get_or_none(id=key_id)
        if key is None:
            raise NotFound("No such API key")
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            await key.save(update_fields=["revoked_at"])
            key_gid = ids.encode("ApiKey", key.id)
            work.audit("api_key.revoke", "ApiKey", key_gid, name=key.name)
            work.emit("api_key.revoked", apiKeyId=key_gid)
    return key
