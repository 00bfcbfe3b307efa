"""Challenge-response (PROTOCOL.md): single-use challenges that expire, answered with an Ed25519
signature by the agent's current key. Every answer is an outcome, recorded, never an error. MCP servers
prove their keys with the same challenges (`Ticket.subject`), answered in mcp/verification.py.

Asking for a challenge needs no credential, so issuing one writes nothing: the challenge ID carries
its agent, its expiry and a random salt, authenticated with an HMAC under the service's key, and its
nonce is derived from that HMAC. Nobody but the service can make one, and nobody can exhaust an
agent's challenges by asking for many. A challenge is spent when a signature by the agent answers it
(a row keyed by the HMAC, which makes a second answer a replay).

Only an answer whose signature verifies under one of the agent's keys (its current key, or a retired
one) is the agent's: it is scored, and a replay or a retired key is credential misuse. Any other answer
(a forged challenge, a bad signature) could come from anyone who knows the agent's ID: it is recorded
apart (`proven` false), moves nothing, and counts against its source address, which is throttled."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aim_identity import db, ids, protocol, row_security
from aim_identity.actors import Actor
from aim_identity.auth import login_guard, tokens
from aim_identity.auth.keyring import Keyring, b64url
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, NotFound
from aim_identity.identity import keys
from aim_identity.identity.agents import locked_signer, signed_by_retired_key, signer_sql
from aim_identity.identity.scoring import rescore
from aim_identity.models import (
    Agent,
    AgentStatus,
    MCPChallenge,
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
from aim_identity.unit_of_work import Work, atomic

CHALLENGE_TYPE = "VerificationChallenge"


# ---- the challenge ID: pure, so that it can be tested without a server


# Agents and MCP servers prove their keys the same way (PROTOCOL.md). What is signed, and what the
# challenge ID's HMAC covers, name which of the two a challenge is for: one is never taken for the other.
_CONTEXTS = {"Agent": b"aim/challenge-id/v1\n", "MCPServer": b"aim/mcp-challenge-id/v1\n"}
_MESSAGES = {"Agent": protocol.agent_challenge, "MCPServer": protocol.mcp_challenge}


@dataclass(frozen=True)
class Ticket:
    """A challenge as its ID carries it, for an agent or (`subject`) an MCP server."""

    subject_id: uuid.UUID
    expires_at: datetime
    salt: bytes
    tag: bytes
    subject: str = "Agent"

    @property
    def id(self) -> str:
        rest = f"{self.subject_id}/{int(self.expires_at.timestamp())}/{b64url(self.salt)}/{b64url(self.tag)}"
        return ids.encode(CHALLENGE_TYPE, rest)

    @property
    def spent_id(self) -> uuid.UUID:
        """The row that spends it: one per challenge, whoever answers."""
        return uuid.UUID(bytes=self.tag[:16])

    def nonce(self, key: bytes) -> str:
        return keys.encode(hmac.new(key, b"aim/challenge-nonce/v1\n" + self.tag, hashlib.sha256).digest())

    def message(self, key: bytes) -> bytes:
        subject_gid = ids.encode(self.subject, self.subject_id)
        return _MESSAGES[self.subject](subject_gid, self.id, self.nonce(key), self.expires_at)


def _tag(key: bytes, subject: str, subject_id: uuid.UUID, expires_at: datetime, salt: bytes) -> bytes:
    signed = _CONTEXTS[subject] + subject_id.bytes + int(expires_at.timestamp()).to_bytes(8, "big") + salt
    return hmac.new(key, signed, hashlib.sha256).digest()[:16]


def mint(key: bytes, subject_id: uuid.UUID, expires_at: datetime, subject: str = "Agent") -> Ticket:
    salt = secrets.token_bytes(16)
    expires_at = expires_at.replace(microsecond=0)
    return Ticket(subject_id, expires_at, salt, _tag(key, subject, subject_id, expires_at, salt), subject)


def read(key: bytes, challenge_id: str, subject: str = "Agent") -> tuple[uuid.UUID, Ticket | None]:
    """The agent (or MCP server) a challenge ID names, and the challenge if the service made it for that
    kind of subject (None if forged). An ID that names no subject is not found."""
    type_name, rest = ids.parse(challenge_id)
    parts = rest.split("/")
    if type_name != CHALLENGE_TYPE or len(parts) != 4:
        raise NotFound("No such challenge")
    try:
        subject_id = uuid.UUID(parts[0])
        expires_at = datetime.fromtimestamp(int(parts[1]), UTC)
        salt, tag = (base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in parts[2:])
    except (ValueError, OverflowError, binascii.Error):
        raise NotFound("No such challenge") from None
    ticket = Ticket(subject_id, expires_at, salt, tag, subject)
    if ticket.id != challenge_id:
        raise BadUserInput("Not a challenge ID this API gives out")
    genuine = hmac.compare_digest(tag, _tag(key, subject, subject_id, expires_at, salt))
    return subject_id, ticket if genuine else None


# ---- issuing and answering


@dataclass(frozen=True)
class IssuedChallenge:
    id: str
    nonce: str
    message: str
    expires_at: datetime


async def issue(actor: Actor, settings: Settings, keyring: Keyring, agent_id: uuid.UUID) -> IssuedChallenge:
    with row_security.of_caller(actor.organization_id):
        found = await db.fetch(
            *signer_sql(
                "SELECT 1 AS found FROM agents a WHERE a.id = $1 AND a.deleted_at IS NULL",
                actor.organization_id,
                agent_id,
            )
        )
    if not found:
        raise NotFound("No such agent")
    ticket = mint(keyring.challenge_key, agent_id, datetime.now(UTC) + timedelta(seconds=settings.challenge_ttl))
    message = base64.b64encode(ticket.message(keyring.challenge_key)).decode()
    return IssuedChallenge(ticket.id, ticket.nonce(keyring.challenge_key), message, ticket.expires_at)


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

    @property
    def proven(self) -> bool:
        return self.event.proven


_SPEND = """
INSERT INTO verification_challenges (id, agent_id, nonce, message, expires_at, answered_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id"""
_INSERT_EVENT = """
INSERT INTO verification_events (id, organization_id, agent_id, result, failure_reason, trust_score_before,
                                 trust_score_after, ip_address, created_at, proven)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"""


async def answer(actor: Actor, settings: Settings, keyring: Keyring, challenge_id: str, signature: str) -> Outcome:
    raw_signature = keys.signature(signature)
    agent_id, ticket = read(keyring.challenge_key, challenge_id)
    await login_guard.check(settings, login_guard.SIGNATURE, None, actor.ip_address)
    async with atomic(actor) as work:
        agent = await locked_signer(actor.organization_id, agent_id)
        now = datetime.now(UTC)
        message = ticket.message(keyring.challenge_key) if ticket else None
        reason, proven = await _judge(agent, message, raw_signature)
        if proven and reason is None and ticket is not None:
            reason = await _spend(agent, ticket, keyring, now)
        await work.act_as(
            actor.as_agent(agent.organization_id, agent.id) if proven else actor.within(agent.organization_id)
        )
        if reason in (Reason.CHALLENGE_ALREADY_USED, Reason.KEY_REVOKED):
            await _misused(work, actor, agent, reason, challenge_id)
        if proven:
            verified = reason is None
            if verified:
                agent.status, agent.last_verified_at = AgentStatus.VERIFIED, now
            scored = await rescore(
                work,
                agent,
                "verification succeeded" if reason is None else f"verification failed: {reason.value}",
                settings.key_rotation_days,
                answer=verified,
                also_save=("status", "last_verified_at") if verified else (),
            )
            before, after, grants = scored.before, scored.after, scored.evidence.grants
        else:  # nothing it says is the agent's: the score stays as it is
            before = after = agent.trust_score
        event = await _record(work, actor, agent, reason, proven, before, after, challenge_id, now)
    if not proven:
        await login_guard.record_failure(login_guard.SIGNATURE, ids.encode("Agent", agent.id), actor.ip_address)
    if reason is not None:
        return Outcome(agent, event, reason)
    token = _agent_token(agent, grants, keyring, settings)
    return Outcome(agent, event, None, token.token, datetime.fromtimestamp(token.expires_at, UTC))


async def _judge(agent: Agent, message: bytes | None, raw_signature: bytes) -> tuple[Reason | None, bool]:
    """Why the answer fails (None: it does not), and whether one of the agent's keys signed it."""
    if message is None:
        return Reason.CHALLENGE_NOT_FOUND, False  # not a challenge the service made
    if keys.verifies(keys.public_key(agent.public_key), message, raw_signature):
        if agent.status in (AgentStatus.SUSPENDED, AgentStatus.REVOKED):
            return Reason.AGENT_NOT_ACTIVE, True
        return None, True
    if await signed_by_retired_key(agent, message, raw_signature):
        return Reason.KEY_REVOKED, True
    return Reason.BAD_SIGNATURE, False


async def _spend(agent: Agent, ticket: Ticket, keyring: Keyring, now: datetime) -> Reason | None:
    """A correctly signed answer: expired, used before, or now spent (None)."""
    if ticket.expires_at <= now:
        return Reason.CHALLENGE_EXPIRED
    spent = await db.fetch(
        _SPEND,
        ticket.spent_id,
        agent.id,
        ticket.nonce(keyring.challenge_key),
        base64.b64encode(ticket.message(keyring.challenge_key)).decode(),
        ticket.expires_at,
        now,
    )
    return None if spent else Reason.CHALLENGE_ALREADY_USED


async def _misused(work: Work, actor: Actor, agent: Agent, reason: Reason, challenge_id: str) -> None:
    await raise_threat(
        work,
        agent.organization_id,
        ThreatType.CREDENTIAL_MISUSE,
        Severity.HIGH,
        "Replayed challenge answer" if reason == Reason.CHALLENGE_ALREADY_USED else "Retired key used",
        f"Agent {agent.name}: {reason.value.lower().replace('_', ' ')} during verification",
        agent_id=agent.id,
        evidence={"challengeId": challenge_id, "ipAddress": actor.ip_address},
        key=reason.value,
    )


async def _record(
    work: Work,
    actor: Actor,
    agent: Agent,
    reason: Reason | None,
    proven: bool,
    before: float,
    after: float,
    challenge_id: str,
    now: datetime,
) -> VerificationEvent:
    org, agent_gid = agent.organization_id, ids.encode("Agent", agent.id)
    event = VerificationEvent(
        id=uuid.uuid4(),
        organization_id=org,
        agent_id=agent.id,
        result=VerificationResult.FAILED if reason else VerificationResult.VERIFIED,
        failure_reason=reason,
        trust_score_before=before,
        trust_score_after=after,
        ip_address=actor.ip_address,
        created_at=now,
        proven=proven,
    )
    await db.execute(
        _INSERT_EVENT,
        event.id,
        org,
        agent.id,
        event.result.value,
        reason.value if reason else None,
        before,
        after,
        event.ip_address,
        now,
        proven,
    )
    work.audit(
        "agent.verify",
        "Agent",
        agent_gid,
        organization_id=org,
        result=event.result.value,
        failureReason=reason.value if reason else None,
        proven=proven,
        challengeId=challenge_id,
    )
    work.emit(
        "agent.verified" if reason is None else "agent.verification_failed",
        organization_id=org,
        agentId=agent_gid,
        eventId=ids.encode("VerificationEvent", event.id),
        failureReason=reason.value if reason else None,
        proven=proven,
        ipAddress=actor.ip_address,
    )
    return event


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


# Spent challenges are kept a day past their expiry, well past the last moment they could be replayed.
EXPIRED_KEPT = timedelta(days=1)


async def purge_expired(now: datetime | None = None) -> int:
    """Deletes spent challenges that expired more than EXPIRED_KEPT ago; `aimctl worker` runs it."""
    cutoff = (now or datetime.now(UTC)) - EXPIRED_KEPT
    agents = await VerificationChallenge.filter(expires_at__lt=cutoff).delete()
    return agents + await MCPChallenge.filter(expires_at__lt=cutoff).delete()
