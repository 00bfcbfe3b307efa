"""Compliance reports, exported like the trail (audit/exports.py):

- the access review: every person and API key of the organization with its role, when it was last
  used, whether a second factor guards it, and who granted that role and when (for a person, the
  latest sign-up, invitation or role change the trail records; for a key, its creator);
- the subject export (GDPR, articles 15 and 20): everything AIM holds about one person, as JSON: the
  account (never its password hash or MFA secrets), its sessions, the API keys and agents it made, the
  ratings it gave, and every audit entry it acted in or was the target of."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from tortoise.expressions import Q

from aim_identity import ids, protocol
from aim_identity.audit import log
from aim_identity.models import Agent, AgentFeedback, ApiKey, AuditLogEntry, RefreshToken, User
from aim_identity.tenancy import scoped

# The actions that give a person a role, in the trail.
ROLE_GRANTS = ("auth.register", "user.invite", "user.role_change")
ACCESS_COLUMNS = (
    "kind",
    "id",
    "name",
    "email",
    "prefix",
    "role",
    "mfaEnabled",
    "lastUsedAt",
    "createdAt",
    "grantedBy",
    "grantedAt",
    "expiresAt",
    "revokedAt",
)
PAGE = 1000


def _at(value: Any) -> str | None:
    return protocol.rfc3339(value) if value else None


async def access_review(organization_id: uuid.UUID) -> AsyncIterator[list[dict[str, Any]]]:
    """The review's rows, a page at a time: people first, then API keys."""
    granted: dict[str, tuple[str | None, str | None]] = {}
    for target, actor, at in (
        await scoped(AuditLogEntry, organization_id)
        .filter(action__in=ROLE_GRANTS)
        .order_by("sequence")
        .values_list("target_id", "actor_id", "occurred_at")
    ):
        granted[str(target)] = (actor, _at(at))  # the latest grant wins
    people = await scoped(User, organization_id).order_by("created_at", "id")
    for start in range(0, len(people), PAGE):
        yield [_person(u, granted) for u in people[start : start + PAGE]]
    keys = await scoped(ApiKey, organization_id).order_by("created_at", "id")
    for start in range(0, len(keys), PAGE):
        yield [_key(k) for k in keys[start : start + PAGE]]


def _person(user: User, granted: dict[str, tuple[str | None, str | None]]) -> dict[str, Any]:
    gid = ids.encode("User", user.id)
    by, at = granted.get(gid, (None, None))
    return {
        "kind": "user",
        "id": gid,
        "name": user.name,
        "email": user.email,
        "prefix": None,
        "role": user.role.value,
        "mfaEnabled": user.mfa_enabled,
        "lastUsedAt": _at(user.last_login_at),
        "createdAt": _at(user.created_at),
        "grantedBy": by,
        "grantedAt": at,
        "expiresAt": None,
        "revokedAt": None,
    }


def _key(key: ApiKey) -> dict[str, Any]:
    return {
        "kind": "api_key",
        "id": ids.encode("ApiKey", key.id),
        "name": key.name,
        "email": None,
        "prefix": key.prefix,
        "role": key.role.value,
        "mfaEnabled": None,
        "lastUsedAt": _at(key.last_used_at),
        "createdAt": _at(key.created_at),
        "grantedBy": ids.encode("User", key.created_by_id),
        "grantedAt": _at(key.created_at),
        "expiresAt": _at(key.expires_at),
        "revokedAt": _at(key.revoked_at),
    }


async def subject(organization_id: uuid.UUID, user_id: uuid.UUID, through: int) -> AsyncIterator[bytes]:
    """The subject export as JSON text, the audit entries (up to entry `through`) a page at a time."""
    user = await scoped(User, organization_id).get(id=user_id)
    gid = ids.encode("User", user.id)
    sessions: dict[str, dict[str, str | None]] = {}
    for token in await RefreshToken.filter(user_id=user.id).order_by("created_at"):
        family = sessions.setdefault(
            str(token.family_id), {"family": str(token.family_id), "startedAt": _at(token.created_at)}
        )
        family["endedAt"] = _at(token.revoked_at)
    keys = await scoped(ApiKey, organization_id).filter(created_by_id=user.id).order_by("created_at")
    agents = await scoped(Agent, organization_id, tombstones=True).filter(created_by_id=user.id).order_by("created_at")
    ratings = await AgentFeedback.filter(user_id=user.id).order_by("created_at")
    head = {
        "subject": {
            "id": gid,
            "email": user.email,
            "name": user.name,
            "role": user.role.value,
            "mfaEnabled": user.mfa_enabled,
            "createdAt": _at(user.created_at),
            "lastLoginAt": _at(user.last_login_at),
        },
        "organizationId": ids.encode("Organization", organization_id),
        "sessions": list(sessions.values()),
        "apiKeys": [_key(k) for k in keys],
        "agentsCreated": [
            {"id": ids.encode("Agent", a.id), "name": a.name, "createdAt": _at(a.created_at)} for a in agents
        ],
        "ratingsGiven": [
            {
                "agentId": ids.encode("Agent", r.agent_id),
                "rating": r.rating,
                "comment": r.comment,
                "at": _at(r.created_at),
            }
            for r in ratings
        ],
    }
    # Families, not tokens: each family is one sign-in, its refresh tokens rotating within it.
    yield json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"auditEntries":['
    about = scoped(AuditLogEntry, organization_id).filter(Q(actor_id=gid) | Q(target_id=gid), sequence__lte=through)
    after, first = 0, True
    while page := await about.filter(sequence__gt=after).order_by("sequence").limit(PAGE):
        chunk = ",".join(json.dumps(log.as_dict(e), separators=(",", ":")) for e in page)
        yield (chunk if first else "," + chunk).encode()
        first, after = False, page[-1].sequence
    yield b"]}"
