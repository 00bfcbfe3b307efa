"""An MCP server proves it holds its key as an agent does (PROTOCOL.md, `aim/mcp-challenge/v1`): a
stateless challenge (identity/challenges.py), answered once within its lifetime by a signature of the
server's current key.

Only an answer the server's key signed is the server's: it spends the challenge (a second one is a
replay, and credential misuse), it is scored, and a verified one makes the server VERIFIED and sends it
to be discovered again. Any other answer could come from anyone who knows the server's ID: it is
recorded apart (`proven` false), moves nothing, and counts against its source address."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aim_identity import ids, row_security
from aim_identity.actors import Actor
from aim_identity.auth import login_guard
from aim_identity.auth.keyring import Keyring
from aim_identity.config import Settings
from aim_identity.errors import Conflict, NotFound
from aim_identity.identity import challenges, keys
from aim_identity.mcp import trust
from aim_identity.models import (
    MCPChallenge,
    MCPServer,
    MCPServerStatus,
    MCPVerificationEvent,
    Severity,
    ThreatType,
    VerificationResult,
)
from aim_identity.models import VerificationFailureReason as Reason
from aim_identity.security.threats import raise_threat
from aim_identity.unit_of_work import Work, atomic

SUBJECT = "MCPServer"
INACTIVE = (MCPServerStatus.SUSPENDED, MCPServerStatus.REVOKED)


def _signer(actor: Actor, server_id: uuid.UUID):
    """The server behind a signed request. Such requests need no credential; a caller who sends one
    anyway is held to its organization."""
    query = MCPServer.filter(id=server_id, deleted_at=None)
    return query.filter(organization_id=actor.organization_id) if actor.organization_id else query


async def issue(actor: Actor, settings: Settings, keyring: Keyring, server_id: uuid.UUID) -> challenges.IssuedChallenge:
    with row_security.of_caller(actor.organization_id):
        server = await _signer(actor, server_id).first()
    if server is None:
        raise NotFound("No such MCP server")
    if server.public_key is None:
        raise Conflict("The MCP server has no public key to prove: set one with updateMCPServer", field="mcpServerId")
    key = keyring.challenge_key
    ticket = challenges.mint(key, server.id, datetime.now(UTC) + timedelta(seconds=settings.challenge_ttl), SUBJECT)
    message = base64.b64encode(ticket.message(key)).decode()
    return challenges.IssuedChallenge(ticket.id, ticket.nonce(key), message, ticket.expires_at)


@dataclass(frozen=True)
class Outcome:
    server: MCPServer
    event: MCPVerificationEvent
    failure_reason: Reason | None

    @property
    def verified(self) -> bool:
        return self.failure_reason is None

    @property
    def proven(self) -> bool:
        return self.event.proven


async def answer(actor: Actor, settings: Settings, keyring: Keyring, challenge_id: str, signature: str) -> Outcome:
    raw_signature = keys.signature(signature)
    server_id, ticket = challenges.read(keyring.challenge_key, challenge_id, SUBJECT)
    await login_guard.check(settings, login_guard.SIGNATURE, None, actor.ip_address)
    async with atomic(actor) as work:
        server = await _signer(actor, server_id).select_for_update().first()
        if server is None:
            raise NotFound("No such MCP server")
        now = datetime.now(UTC)
        reason, proven = _judge(server, ticket.message(keyring.challenge_key) if ticket else None, raw_signature)
        if proven and reason is None and ticket is not None:
            reason = await _spend(server, ticket, now)
        await work.act_as(actor.within(server.organization_id))
        if reason == Reason.CHALLENGE_ALREADY_USED:
            await _replayed(work, actor, server, challenge_id)
        before = after = server.trust_score
        if proven and reason is None:
            server.status, server.verified_at, server.discovery_due_at = MCPServerStatus.VERIFIED, now, now
            await server.save(update_fields=["status", "verified_at", "discovery_due_at"])
        event = await _record(work, actor, server, reason, proven, before, now, challenge_id)
        if proven:
            before, after = await trust.rescore(
                work, server, "verification succeeded" if reason is None else f"verification failed: {reason.value}"
            )
            await MCPVerificationEvent.filter(id=event.id).update(trust_score_before=before, trust_score_after=after)
            event.trust_score_before, event.trust_score_after = before, after
    if not proven:
        await login_guard.record_failure(login_guard.SIGNATURE, ids.encode("MCPServer", server.id), actor.ip_address)
    return Outcome(server, event, reason)


def _judge(server: MCPServer, message: bytes | None, raw_signature: bytes) -> tuple[Reason | None, bool]:
    """Why the answer fails (None: it does not), and whether the server's key signed it."""
    if message is None:
        return Reason.CHALLENGE_NOT_FOUND, False  # not a challenge the service made for this server
    if server.public_key is None or not keys.verifies(keys.public_key(server.public_key), message, raw_signature):
        return Reason.BAD_SIGNATURE, False
    if server.status in INACTIVE:
        return Reason.AGENT_NOT_ACTIVE, True
    return None, True


async def _spend(server: MCPServer, ticket: challenges.Ticket, now: datetime) -> Reason | None:
    """A correctly signed answer: expired, used before, or now spent (None)."""
    if ticket.expires_at <= now:
        return Reason.CHALLENGE_EXPIRED
    _, created = await MCPChallenge.get_or_create(
        id=ticket.spent_id, defaults={"mcp_server_id": server.id, "expires_at": ticket.expires_at, "answered_at": now}
    )
    return None if created else Reason.CHALLENGE_ALREADY_USED


async def _replayed(work: Work, actor: Actor, server: MCPServer, challenge_id: str) -> None:
    await raise_threat(
        work,
        server.organization_id,
        ThreatType.CREDENTIAL_MISUSE,
        Severity.HIGH,
        "Replayed challenge answer",
        f"MCP server {server.name}: a challenge it had answered was answered again, with its key",
        mcp_server_id=server.id,
        evidence={"challengeId": challenge_id, "ipAddress": actor.ip_address},
        key="replayed challenge",
    )


async def _record(
    work: Work,
    actor: Actor,
    server: MCPServer,
    reason: Reason | None,
    proven: bool,
    score: float,
    now: datetime,
    challenge_id: str,
) -> MCPVerificationEvent:
    gid = ids.encode("MCPServer", server.id)
    result = VerificationResult.FAILED if reason else VerificationResult.VERIFIED
    event = await MCPVerificationEvent.create(
        organization_id=server.organization_id,
        mcp_server_id=server.id,
        result=result,
        failure_reason=reason,
        proven=proven,
        trust_score_before=score,
        trust_score_after=score,
        ip_address=actor.ip_address,
        created_at=now,
    )
    work.audit(
        "mcp_server.verify",
        "MCPServer",
        gid,
        result=result.value,
        failureReason=reason.value if reason else None,
        proven=proven,
        challengeId=challenge_id,
    )
    work.emit(
        "mcp_server.verified" if reason is None else "mcp_server.verification_failed",
        organization_id=server.organization_id,
        mcpServerId=gid,
        failureReason=reason.value if reason else None,
        proven=proven,
    )
    return event
