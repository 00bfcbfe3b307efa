"""The agent lifecycle: registration, updates, status, capability grants, key rotation, feedback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

from tortoise.exceptions import IntegrityError

from aim_identity import db, ids, protocol
from aim_identity.actors import Actor
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Conflict, Forbidden, NotFound
from aim_identity.identity import capabilities, keys
from aim_identity.identity.scoring import rescore
from aim_identity.models import (
    Agent,
    AgentFeedback,
    AgentKey,
    AgentMCPServer,
    AgentStatus,
    AgentType,
    CapabilityGrant,
    Severity,
    ThreatType,
    VerificationChallenge,
)
from aim_identity.security.threats import raise_threat
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import Work, atomic


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise BadUserInput(f"{field} may have at most {limit} characters", field=field)
    return value or None


async def locked(actor: Actor, agent_id: uuid.UUID) -> Agent:
    """The caller's agent, locked for the rest of the transaction; a foreign ID is not found."""
    assert actor.organization_id is not None
    agent = await scoped(Agent, actor.organization_id).select_for_update().get_or_none(id=agent_id)
    if agent is None:
        raise NotFound("No such agent")
    return agent


def signer_sql(sql: str, organization_id: uuid.UUID | None, *params) -> tuple:
    """`sql` (reading `agents a` by `a.id = $1`) and its parameters, for a request that the agent's
    signature authenticates. Such requests need no credential; a caller who sends one anyway is held
    to its organization."""
    if organization_id is None:
        return sql, *params
    return f"{sql} AND a.organization_id = ${len(params) + 1}", *params, organization_id


async def locked_signer(organization_id: uuid.UUID | None, agent_id: uuid.UUID) -> Agent:
    """The agent behind a signed request, locked for the rest of the transaction (see `signer_sql`)."""
    sql, *params = signer_sql(
        "SELECT * FROM agents a WHERE a.id = $1 AND a.deleted_at IS NULL", organization_id, agent_id
    )
    row = await db.fetch_one(f"{sql} FOR UPDATE", *params)
    if row is None:
        raise NotFound("No such agent")
    return db.instance(Agent, row)


def _changed(work: Work, agent: Agent, kind: str, audit_action: str, **metadata) -> None:
    gid = ids.encode("Agent", agent.id)
    work.audit(audit_action, "Agent", gid, **metadata)
    work.emit(kind, agentId=gid)


async def create(
    actor: Actor,
    settings: Settings,
    *,
    name: str,
    display_name: str | None,
    description: str | None,
    agent_type: AgentType,
    public_key: str | None,
    grants: list[str],
) -> tuple[Agent, str | None]:
    """Returns the agent and, only when the server made the key pair, its private seed (never stored)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise BadUserInput("An agent name needs 1 to 200 characters", field="name")
    grants = list(dict.fromkeys(capabilities.validate(g) for g in grants))
    seed = None
    if public_key is None:
        seed, raw_key = keys.generate()
    else:
        raw_key = keys.public_key(public_key)
    assert actor.organization_id is not None
    if await scoped(Agent, actor.organization_id).filter(name=name).exists():
        raise Conflict(f"An agent named {name!r} already exists", field="name")
    now = datetime.now(UTC)
    try:
        async with atomic(actor) as work:
            agent = await Agent.create(
                organization_id=actor.organization_id,
                name=name,
                display_name=_text(display_name, "displayName", 200),
                description=_text(description, "description", 5000),
                agent_type=agent_type,
                public_key=keys.encode(raw_key),
                key_fingerprint=keys.fingerprint(raw_key),
                key_created_at=now,
                created_by_id=actor.user_id,
            )
            await AgentKey.create(agent=agent, public_key=agent.public_key, fingerprint=agent.key_fingerprint)
            for grant in grants:
                await CapabilityGrant.create(agent=agent, name=grant, granted_by_id=actor.user_id)
            _changed(
                work,
                agent,
                "agent.created",
                "agent.create",
                name=name,
                serverGeneratedKey=seed is not None,
                capabilities=grants,
            )
            await rescore(work, agent, "agent registered", settings.key_rotation_days)
    except IntegrityError:
        raise Conflict(f"An agent named {name!r} already exists", field="name") from None
    return agent, keys.encode(seed) if seed else None


async def update(
    actor: Actor,
    agent_id: uuid.UUID,
    *,
    display_name: str | None,
    description: str | None,
    agent_type: AgentType | None,
) -> Agent:
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        changes = {}
        if display_name is not None:
            changes["display_name"] = _text(display_name, "displayName", 200)
        if description is not None:
            changes["description"] = _text(description, "description", 5000)
        if agent_type is not None:
            changes["agent_type"] = agent_type
        for field, value in changes.items():
            setattr(agent, field, value)
        await agent.save()
        _changed(work, agent, "agent.updated", "agent.update", fields=sorted(changes))
    return agent


async def delete(actor: Actor, agent_id: uuid.UUID) -> None:
    """The agent becomes a tombstone: it can no longer prove itself or act, its name is free again, and
    everything recorded about it (verification events, threats, decisions, history, audit) stays."""
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        previous = agent.status
        agent.status, agent.deleted_at = AgentStatus.REVOKED, datetime.now(UTC)
        await agent.save(update_fields=["status", "deleted_at", "updated_at"])
        await AgentMCPServer.filter(agent=agent).delete()
        await VerificationChallenge.filter(agent=agent).delete()
        _changed(work, agent, "agent.deleted", "agent.delete", name=agent.name, previous=previous.value)


_TRANSITIONS = {
    "suspend": ({AgentStatus.PENDING, AgentStatus.VERIFIED}, "agent.suspended"),
    "reactivate": ({AgentStatus.SUSPENDED}, "agent.reactivated"),
    "revoke": ({AgentStatus.PENDING, AgentStatus.VERIFIED, AgentStatus.SUSPENDED}, "agent.revoked"),
}


async def change_status(
    actor: Actor, settings: Settings, agent_id: uuid.UUID, transition: str, reason: str | None
) -> Agent:
    allowed_from, kind = _TRANSITIONS[transition]
    reason = _text(reason, "reason", 500)
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        if agent.status not in allowed_from:
            raise Conflict(f"Cannot {transition} an agent that is {agent.status.value.lower()}")
        previous = agent.status
        if transition == "suspend":
            agent.status = AgentStatus.SUSPENDED
        elif transition == "revoke":
            agent.status = AgentStatus.REVOKED
        else:  # reactivating returns the agent to what its verification history earned
            agent.status = AgentStatus.VERIFIED if agent.last_verified_at else AgentStatus.PENDING
        await agent.save(update_fields=["status", "updated_at"])
        _changed(work, agent, kind, f"agent.{transition}", previous=previous.value, reason=reason)
        await rescore(work, agent, kind.replace(".", " "), settings.key_rotation_days)
    return agent


async def grant(actor: Actor, settings: Settings, agent_id: uuid.UUID, capability: str) -> Agent:
    capability = capabilities.validate(capability)
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        _, created = await CapabilityGrant.get_or_create(
            agent=agent, name=capability, defaults={"granted_by_id": actor.user_id}
        )
        if created:
            _changed(work, agent, "agent.updated", "agent.capability_grant", capability=capability)
            await rescore(work, agent, f"capability {capability} granted", settings.key_rotation_days)
    return agent


async def revoke_capability(actor: Actor, settings: Settings, agent_id: uuid.UUID, capability: str) -> Agent:
    capability = capabilities.validate(capability)
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        if not await CapabilityGrant.filter(agent=agent, name=capability).delete():
            raise NotFound(f"The agent holds no capability {capability!r}")
        _changed(work, agent, "agent.updated", "agent.capability_revoke", capability=capability)
        await rescore(work, agent, f"capability {capability} revoked", settings.key_rotation_days)
    return agent


async def rotate_key(
    actor: Actor, settings: Settings, agent_id: uuid.UUID, new_public_key: str, signature: str
) -> Agent:
    raw_new = keys.public_key(new_public_key, "newPublicKey")
    raw_signature = keys.signature(signature)
    message = protocol.key_rotation(ids.encode("Agent", agent_id), new_public_key)
    misuse = False
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        if agent.status == AgentStatus.REVOKED:
            raise Conflict("A revoked agent cannot rotate its key")
        if not keys.verifies(keys.public_key(agent.public_key), message, raw_signature):
            misuse = await signed_by_retired_key(agent, message, raw_signature)
            if misuse:
                await raise_threat(
                    work,
                    agent.organization_id,
                    ThreatType.CREDENTIAL_MISUSE,
                    Severity.HIGH,
                    "Retired key used",
                    f"A key rotation for {agent.name} was signed with a retired key",
                    agent_id=agent.id,
                    evidence={"operation": "rotateAgentKey"},
                    key="retired key",
                )
                await rescore(work, agent, "retired key used", settings.key_rotation_days)
        else:
            if await AgentKey.filter(agent=agent, fingerprint=keys.fingerprint(raw_new)).exists():
                raise BadUserInput("The new key must differ from every key this agent has held", field="newPublicKey")
            now = datetime.now(UTC)
            await AgentKey.filter(agent=agent, retired_at=None).update(retired_at=now)
            await AgentKey.create(agent=agent, public_key=new_public_key, fingerprint=keys.fingerprint(raw_new))
            old_fingerprint = agent.key_fingerprint
            agent.public_key, agent.key_fingerprint, agent.key_created_at = (
                keys.encode(raw_new),
                keys.fingerprint(raw_new),
                now,
            )
            await agent.save(update_fields=["public_key", "key_fingerprint", "key_created_at", "updated_at"])
            _changed(
                work,
                agent,
                "agent.key_rotated",
                "agent.key_rotate",
                previousFingerprint=old_fingerprint,
                fingerprint=agent.key_fingerprint,
            )
            await rescore(work, agent, "key rotated", settings.key_rotation_days)
            return agent
    # Outside the block, so the threat above is committed before the caller hears "no".
    raise Forbidden(
        "The rotation must be signed by the agent's current key" + (" (a retired key was used)" if misuse else "")
    )


async def signed_by_retired_key(agent: Agent, message: bytes, raw_signature: bytes) -> bool:
    # Tortoise types a values_list as rows of tuples, flat or not.
    retired = cast(
        "list[str]", await AgentKey.filter(agent=agent).exclude(retired_at=None).values_list("public_key", flat=True)
    )
    return any(keys.verifies(keys.public_key(k), message, raw_signature) for k in retired)


async def submit_feedback(
    actor: Actor, settings: Settings, agent_id: uuid.UUID, rater_id: uuid.UUID, rating: int, comment: str | None
) -> Agent:
    """`rater_id`: the person rating (an API key's creator): one rating per person and agent, the latest."""
    if not 1 <= rating <= 5:
        raise BadUserInput("A rating is 1 to 5", field="rating")
    comment = _text(comment, "comment", 2000)
    async with atomic(actor) as work:
        agent = await locked(actor, agent_id)
        rated = await AgentFeedback.filter(agent=agent, user_id=rater_id).update(
            rating=rating, comment=comment, created_at=datetime.now(UTC)
        )
        if not rated:
            await AgentFeedback.create(agent=agent, user_id=rater_id, rating=rating, comment=comment)
        _changed(work, agent, "agent.updated", "agent.feedback", rating=rating, replaced=bool(rated))
        await rescore(work, agent, f"user feedback ({rating}/5)", settings.key_rotation_days)
    return agent
