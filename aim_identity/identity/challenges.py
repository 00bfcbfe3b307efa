"""Challenge-response (PROTOCOL.md): single-use challenges that expire, answered with an Ed25519
signature by the agent's current key. Every answer is an outcome, recorded and scored, never an error."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from aim_identity import ids
from aim_identity.audit.chain import rfc3339
from aim_identity.auth import tokens
from aim_identity.auth.signing_keys import Keyring, b64url
from aim_identity.config import Settings
from aim_identity.errors import NotFound, RateLimited
from aim_identity.identity import keys
from aim_identity.identity.agents import signed_by_retired_key, signing_agent
from aim_identity.identity.scoring import rescore
from aim_identity.models import (
    Agent,
    AgentStatus,
    CapabilityGrant,
    Severity,
    ThreatType,
    VerificationChallenge,
    VerificationEvent,
    VerificationFailureReason as Reason,
    VerificationResult,
)
from aim_identity.security.threats import raise_threat
from aim_identity.unit_of_work import Actor, atomic

CONTEXT = "aim/agent-challenge/v1"
CHALLENGE_TYPE = "VerificationChallenge"


def challenge_gid(agent_id: uuid.UUID, challenge_id: uuid.UUID) -> str:
    # The agent travels inside the ID, so even an unknown challenge is recorded against its agent.
    return ids.encode(CHALLENGE_TYPE, f"{agent_id}/{challenge_id}")


def parse_challenge_gid(gid: str) -> tuple[uuid.UUID, uuid.UUID]:
    type_name, rest = ids.parse(gid)
    agent_part, _, challenge_part = rest.partition("/")
    try:
        if type_name == CHALLENGE_TYPE:
            return uuid.UUID(agent_part), uuid.UUID(challenge_part)
    except ValueError:
        pass
    raise NotFound("No such challenge")


def message(agent_gid: str, gid: str, nonce: str, expires_at: datetime) -> bytes:
    return "\n".join([CONTEXT, agent_gid, gid, nonce, rfc3339(expires_at)]).encode()


@dataclass(frozen=True)
class IssuedChallenge:
    id: str
    nonce: str
    message: str
    expires_at: datetime


async def issue(actor: Actor, settings: Settings, agent_gid: str) -> IssuedChallenge:
    agent = await signing_agent(actor.organization_id, agent_gid)
    # Anyone who knows an agent's ID may ask; the cap keeps them from filling the table.
    now = datetime.now(timezone.utc)
    if await VerificationChallenge.filter(agent_id=agent.id, answered_at=None, expires_at__gt=now).count() \
            >= settings.max_open_challenges:
        raise RateLimited(f"This agent has {settings.max_open_challenges} unanswered challenges; answer one or "
                          "wait until they expire")
    challenge_id = uuid.uuid4()
    gid = challenge_gid(agent.id, challenge_id)
    nonce = keys.encode(secrets.token_bytes(32))
    expires_at = now.replace(microsecond=0) + timedelta(seconds=settings.challenge_ttl)
    signed = message(ids.encode("Agent", agent.id), gid, nonce, expires_at)
    await VerificationChallenge.create(id=challenge_id, agent=agent, nonce=nonce,
                                       message=base64.b64encode(signed).decode(), expires_at=expires_at)
    return IssuedChallenge(gid, nonce, base64.b64encode(signed).decode(), expires_at)


@dataclass(frozen=True)
class Outcome:
    agent: Agent
    event: VerificationEvent
    failure_reason: Reason | None
    agent_token: str | None = None
    agent_token_expires_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.failure_reason is None


async def answer(actor: Actor, settings: Settings, keyring: Keyring, gid: str, signature: str) -> Outcome:
    agent_id, challenge_id = parse_challenge_gid(gid)
    raw_signature = keys.signature(signature)
    agent = await signing_agent(actor.organization_id, ids.encode("Agent", agent_id))
    agent_gid = ids.encode("Agent", agent.id)
    async with atomic(actor.within(agent.organization_id)) as work:
        agent = await Agent.select_for_update().get(id=agent.id)
        challenge = await VerificationChallenge.select_for_update().get_or_none(id=challenge_id, agent_id=agent.id)
        reason = await _judge(agent, challenge, raw_signature)
        now = datetime.now(timezone.utc)
        if challenge is not None and challenge.answered_at is None:
            challenge.answered_at = now  # any answer spends the challenge
            await challenge.save(update_fields=["answered_at"])
        if reason in (Reason.CHALLENGE_ALREADY_USED, Reason.KEY_REVOKED):
            await raise_threat(
                work, agent.organization_id, ThreatType.CREDENTIAL_MISUSE, Severity.HIGH,
                "Replayed challenge answer" if reason == Reason.CHALLENGE_ALREADY_USED else "Retired key used",
                f"Agent {agent.name}: {reason.value.lower().replace('_', ' ')} during verification",
                agent_id=agent.id, evidence={"challengeId": gid, "ipAddress": actor.ip_address})
        if reason is None:
            agent.status = AgentStatus.VERIFIED
            agent.last_verified_at = now
            await agent.save(update_fields=["status", "last_verified_at", "updated_at"])
        event = await VerificationEvent.create(
            organization_id=agent.organization_id, agent=agent,
            result=VerificationResult.FAILED if reason else VerificationResult.VERIFIED, failure_reason=reason,
            trust_score_before=agent.trust_score, trust_score_after=agent.trust_score, ip_address=actor.ip_address)
        _, after = await rescore(work, agent, "verification succeeded" if reason is None
                                 else f"verification failed: {reason.value}", settings.key_rotation_days)
        event.trust_score_after = after
        await event.save(update_fields=["trust_score_after"])
        work.audit("agent.verify", "Agent", agent_gid, result=event.result.value,
                   failureReason=reason.value if reason else None, challengeId=gid)
        work.emit("agent.verified" if reason is None else "agent.verification_failed", agentId=agent_gid,
                  eventId=ids.encode("VerificationEvent", event.id),
                  failureReason=reason.value if reason else None)
    if reason is not None:
        return Outcome(agent, event, reason)
    token = await _agent_token(agent, keyring, settings)
    return Outcome(agent, event, None, token.token, datetime.fromtimestamp(token.expires_at, timezone.utc))


async def _judge(agent: Agent, challenge: VerificationChallenge | None, raw_signature: bytes) -> Reason | None:
    if challenge is None:
        return Reason.CHALLENGE_NOT_FOUND
    if challenge.answered_at is not None:
        return Reason.CHALLENGE_ALREADY_USED
    if agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
        return Reason.AGENT_NOT_ACTIVE
    if challenge.expires_at <= datetime.now(timezone.utc):
        return Reason.CHALLENGE_EXPIRED
    signed = base64.b64decode(challenge.message)
    if keys.verifies(keys.public_key(agent.public_key), signed, raw_signature):
        return None
    if await signed_by_retired_key(agent, signed, raw_signature):
        return Reason.KEY_REVOKED
    return Reason.BAD_SIGNATURE


async def _agent_token(agent: Agent, keyring: Keyring, settings: Settings) -> tokens.IssuedToken:
    grants = await CapabilityGrant.filter(agent=agent).values_list("name", flat=True)
    return tokens.issue(
        keyring, typ=tokens.AGENT_TYP, audience=tokens.AGENT_AUD, issuer=settings.issuer,
        subject=ids.encode("Agent", agent.id), ttl=settings.agent_token_ttl,
        claims={"org": ids.encode("Organization", agent.organization_id), "trust_score": round(agent.trust_score, 4),
                "capabilities": sorted(grants),
                "cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64url(keys.public_key(agent.public_key))}}})


# Expired challenges are kept this long, so that a late answer is still told CHALLENGE_EXPIRED.
EXPIRED_KEPT = timedelta(days=1)


async def purge_expired(now: datetime | None = None) -> int:
    """Deletes challenges that expired more than EXPIRED_KEPT ago; `aimctl worker` runs it."""
    cutoff = (now or datetime.now(timezone.utc)) - EXPIRED_KEPT
    return await VerificationChallenge.filter(expires_at__lt=cutoff).delete()
