"""Challenge-response (PROTOCOL.md): single-use challenges that expire, answered with an Ed25519
signature by the agent's current key. Every answer is an outcome, recorded and scored, never an error."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aim_identity import db, ids, protocol
from aim_identity.actors import Actor
from aim_identity.auth import tokens
from aim_identity.auth.keyring import Keyring, b64url
from aim_identity.config import Settings
from aim_identity.errors import NotFound, RateLimited
from aim_identity.identity import keys
from aim_identity.identity.agents import locked_signer, signed_by_retired_key, signer_sql
from aim_identity.identity.scoring import rescore
from aim_identity.models import (
    Agent,
    AgentStatus,
    Severity,
    ThreatType,
    VerificationChallenge,
    VerificationEvent,
    VerificationResult,
)
from aim_identity.models import (
    VerificationFailureReason as Reason,
)
from aim_identity.security.threats import raise_threat
from aim_identity.unit_of_work import atomic

# The agent travels inside a challenge's ID, so even an unknown challenge is recorded against its agent.
CHALLENGE_TYPE = "VerificationChallenge"


def challenge_gid(agent_id: uuid.UUID, challenge_id: uuid.UUID) -> str:
    return ids.encode(CHALLENGE_TYPE, agent_id, challenge_id)


@dataclass(frozen=True)
class IssuedChallenge:
    id: str
    nonce: str
    message: str
    expires_at: datetime


# Challenge-response runs on every agent's schedule, so it is a few hand-written statements (db.py).
# Inserted only for an agent the caller may name (see signer_sql) with fewer than $7 challenges open.
_INSERT_CHALLENGE = """
INSERT INTO verification_challenges (id, agent_id, nonce, message, expires_at)
SELECT $3, a.id, $4, $5, $6 FROM agents a
WHERE (SELECT count(*) FROM verification_challenges c
       WHERE c.agent_id = a.id AND c.answered_at IS NULL AND c.expires_at > $2) < $7
  AND a.id = $1 AND a.deleted_at IS NULL"""
_SPEND = """
UPDATE verification_challenges SET answered_at = $3 WHERE id = $1 AND agent_id = $2 AND answered_at IS NULL
RETURNING message, expires_at"""
_INSERT_EVENT = """
INSERT INTO verification_events (id, organization_id, agent_id, result, failure_reason, trust_score_before,
                                 trust_score_after, ip_address, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""


async def issue(actor: Actor, settings: Settings, agent_id: uuid.UUID) -> IssuedChallenge:
    now = datetime.now(UTC)
    challenge_id = uuid.uuid4()
    gid = challenge_gid(agent_id, challenge_id)
    nonce = keys.encode(secrets.token_bytes(32))
    expires_at = now.replace(microsecond=0) + timedelta(seconds=settings.challenge_ttl)
    signed = base64.b64encode(protocol.agent_challenge(ids.encode("Agent", agent_id), gid, nonce, expires_at)).decode()
    # The cap keeps anonymous callers from filling the table.
    insert, *params = signer_sql(
        _INSERT_CHALLENGE,
        actor.organization_id,
        agent_id,
        now,
        challenge_id,
        nonce,
        signed,
        expires_at,
        settings.max_open_challenges,
    )
    if not await db.fetch(f"{insert} RETURNING id", *params):
        if not await db.fetch(
            *signer_sql(
                "SELECT 1 AS found FROM agents a WHERE a.id = $1 AND a.deleted_at IS NULL",
                actor.organization_id,
                agent_id,
            )
        ):
            raise NotFound("No such agent")
        raise RateLimited(
            f"This agent has {settings.max_open_challenges} unanswered challenges; answer one or wait until they expire"
        )
    return IssuedChallenge(gid, nonce, signed, expires_at)


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


@dataclass(frozen=True)
class _Challenge:
    message: bytes  # the bytes the agent signs
    expires_at: datetime


async def answer(
    actor: Actor, settings: Settings, keyring: Keyring, agent_id: uuid.UUID, challenge_id: uuid.UUID, signature: str
) -> Outcome:
    gid = challenge_gid(agent_id, challenge_id)
    raw_signature = keys.signature(signature)
    async with atomic(actor) as work:
        agent = await locked_signer(actor.organization_id, agent_id)
        now = datetime.now(UTC)
        # Any answer spends the challenge: the update says whether it was still open.
        spent = await db.fetch_one(_SPEND, challenge_id, agent.id, now)
        challenge = (
            _Challenge(base64.b64decode(spent["message"]), db.as_datetime(spent["expires_at"])) if spent else None
        )
        reason = await _judge(agent, challenge_id, challenge, raw_signature, now)
        org, agent_gid = agent.organization_id, ids.encode("Agent", agent.id)
        if reason in (Reason.CHALLENGE_ALREADY_USED, Reason.KEY_REVOKED):
            await raise_threat(
                work,
                org,
                ThreatType.CREDENTIAL_MISUSE,
                Severity.HIGH,
                "Replayed challenge answer" if reason == Reason.CHALLENGE_ALREADY_USED else "Retired key used",
                f"Agent {agent.name}: {reason.value.lower().replace('_', ' ')} during verification",
                agent_id=agent.id,
                evidence={"challengeId": gid, "ipAddress": actor.ip_address},
            )
        verified = reason is None
        if verified:
            agent.status = AgentStatus.VERIFIED
            agent.last_verified_at = now
        scored = await rescore(
            work,
            agent,
            "verification succeeded" if reason is None else f"verification failed: {reason.value}",
            settings.key_rotation_days,
            answer=verified,
            also_save=("status", "last_verified_at") if verified else (),
        )
        event = VerificationEvent(
            id=uuid.uuid4(),
            organization_id=org,
            agent_id=agent.id,
            result=VerificationResult.FAILED if reason else VerificationResult.VERIFIED,
            failure_reason=reason,
            trust_score_before=scored.before,
            trust_score_after=scored.after,
            ip_address=actor.ip_address,
            created_at=now,
        )
        await db.execute(
            _INSERT_EVENT,
            event.id,
            org,
            agent.id,
            event.result.value,
            reason.value if reason else None,
            event.trust_score_before,
            event.trust_score_after,
            event.ip_address,
            now,
        )
        work.audit(
            "agent.verify",
            "Agent",
            agent_gid,
            organization_id=org,
            result=event.result.value,
            failureReason=reason.value if reason else None,
            challengeId=gid,
        )
        work.emit(
            "agent.verified" if reason is None else "agent.verification_failed",
            organization_id=org,
            agentId=agent_gid,
            eventId=ids.encode("VerificationEvent", event.id),
            failureReason=reason.value if reason else None,
        )
    if reason is not None:
        return Outcome(agent, event, reason)
    token = _agent_token(agent, scored.evidence.grants, keyring, settings)
    return Outcome(agent, event, None, token.token, datetime.fromtimestamp(token.expires_at, UTC))


async def _judge(
    agent: Agent, challenge_id: uuid.UUID, challenge: _Challenge | None, raw_signature: bytes, now: datetime
) -> Reason | None:
    if challenge is None:  # not open: answered before, or never issued to this agent
        if await db.fetch_one(
            "SELECT 1 AS found FROM verification_challenges WHERE id = $1 AND agent_id = $2", challenge_id, agent.id
        ):
            return Reason.CHALLENGE_ALREADY_USED
        return Reason.CHALLENGE_NOT_FOUND
    if agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
        return Reason.AGENT_NOT_ACTIVE
    if challenge.expires_at <= now:
        return Reason.CHALLENGE_EXPIRED
    if keys.verifies(keys.public_key(agent.public_key), challenge.message, raw_signature):
        return None
    if await signed_by_retired_key(agent, challenge.message, raw_signature):
        return Reason.KEY_REVOKED
    return Reason.BAD_SIGNATURE


def _agent_token(agent: Agent, grants: Sequence[str], keyring: Keyring, settings: Settings) -> tokens.IssuedToken:
    return tokens.issue(
        keyring,
        typ=tokens.AGENT_TYP,
        audience=tokens.AGENT_AUD,
        issuer=settings.issuer,
        subject=ids.encode("Agent", agent.id),
        ttl=settings.agent_token_ttl,
        claims={
            "org": ids.encode("Organization", agent.organization_id),
            "trust_score": round(agent.trust_score, 4),
            "capabilities": sorted(grants),
            "cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64url(keys.public_key(agent.public_key))}},
        },
    )


# Expired challenges are kept this long, so that a late answer is still told CHALLENGE_EXPIRED.
EXPIRED_KEPT = timedelta(days=1)


async def purge_expired(now: datetime | None = None) -> int:
    """Deletes challenges that expired more than EXPIRED_KEPT ago; `aimctl worker` runs it."""
    cutoff = (now or datetime.now(UTC)) - EXPIRED_KEPT
    return await VerificationChallenge.filter(expires_at__lt=cutoff).delete()
