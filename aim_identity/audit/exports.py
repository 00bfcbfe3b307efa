"""Exports of the audit trail (exportAuditLogs) and of the compliance reports (exportAccessReview,
exportSubjectData, audit/reports.py): a short-lived ticket names what to export, and GET
/exports/<ticket> streams it to a caller of the same organization allowed to export.

The entries are read in pages by sequence and written out as they come, so an export of any size
holds one page in memory: CSV and JSON as text chunks; PDF drawn page by page with ReportLab into a
spooled file (to disk past SPOOL_BYTES), in a thread so the event loop keeps serving. The JSON export
carries every entry's hashes and the latest signed checkpoint, which scripts/verify_audit_export.py
checks offline with the JWKS alone."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q

from aim_identity import clock, ids, protocol
from aim_identity.actors import Actor
from aim_identity.audit import checkpoints, log, pdf, reports, verification
from aim_identity.auth import tokens
from aim_identity.auth.keyring import Keyring
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, NotFound, Unauthenticated
from aim_identity.models import ApiKey, AuditChainHead, AuditLogEntry, User
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import atomic

TYP, AUDIENCE = "aim-export+jwt", "aim-export"
TICKET_TTL = 300
PAGE = 1000
SPOOL_BYTES = 8 * 1024 * 1024
FORMATS = {
    "CSV": ("text/csv; charset=utf-8", "csv"),
    "JSON": ("application/json", "json"),
    "PDF": ("application/pdf", "pdf"),
}
COLUMNS = (
    "sequence",
    "occurredAt",
    "actorType",
    "actorId",
    "action",
    "targetType",
    "targetId",
    "ipAddress",
    "userAgent",
    "metadata",
    "previousHash",
    "hash",
)


# What a ticket exports: the trail, or one of the compliance reports (audit/reports.py).
TRAIL, ACCESS_REVIEW, SUBJECT = "audit", "access_review", "subject"


@dataclass(frozen=True)
class Ticket:
    organization_id: uuid.UUID
    format: str
    selected: log.Filter
    through: int  # the chain's length when the export was asked for: the file is that snapshot
    expires_at: datetime
    report: str = TRAIL
    subject_id: uuid.UUID | None = None  # the person a subject export is about


@dataclass(frozen=True)
class Issued:
    format: str
    entries: int
    url: str
    expires_at: datetime


async def request(actor: Actor, settings: Settings, keyring: Keyring, format: str, selected: log.Filter) -> Issued:
    """Counts what the filter selects, audits the export and issues its ticket."""
    organization_id = actor.organization_id
    assert organization_id is not None
    query = log.entries(organization_id, selected)  # refuses a bad filter before anything is written
    async with atomic(actor) as work:
        head = await AuditChainHead.get(organization_id=organization_id)
        entries = await query.filter(sequence__lte=head.sequence).count()
        work.audit(
            "audit.export",
            "Organization",
            ids.encode("Organization", organization_id),
            format=format,
            entries=entries,
            filter=_described(selected),
        )
    claims = {"format": format, "filter": _described(selected), "through": head.sequence}
    return _issued(settings, keyring, organization_id, claims, entries)


async def request_access_review(actor: Actor, settings: Settings, keyring: Keyring, format: str) -> Issued:
    if format == "PDF":
        raise BadUserInput("The access review comes as CSV or JSON", field="format")
    organization_id = actor.organization_id
    assert organization_id is not None
    async with atomic(actor) as work:
        rows = await scoped(User, organization_id).count() + await scoped(ApiKey, organization_id).count()
        work.audit("audit.access_review", "Organization", ids.encode("Organization", organization_id), format=format)
    return _issued(settings, keyring, organization_id, {"format": format, "report": ACCESS_REVIEW}, rows)


async def request_subject(actor: Actor, settings: Settings, keyring: Keyring, user_id: uuid.UUID) -> Issued:
    organization_id = actor.organization_id
    assert organization_id is not None
    gid = ids.encode("User", user_id)
    async with atomic(actor) as work:
        if not await scoped(User, organization_id).filter(id=user_id).exists():
            raise NotFound("No such user")
        head = await AuditChainHead.get(organization_id=organization_id)
        about = scoped(AuditLogEntry, organization_id).filter(Q(actor_id=gid) | Q(target_id=gid))
        entries = await about.filter(sequence__lte=head.sequence).count()
        work.audit("audit.subject_export", "User", gid)
    claims = {"format": "JSON", "report": SUBJECT, "userId": gid, "through": head.sequence}
    return _issued(settings, keyring, organization_id, claims, entries)


def _issued(
    settings: Settings, keyring: Keyring, organization_id: uuid.UUID, claims: dict[str, Any], entries: int
) -> Issued:
    issued = tokens.issue(
        keyring,
        typ=TYP,
        audience=AUDIENCE,
        issuer=settings.issuer,
        subject=ids.encode("Organization", organization_id),
        ttl=TICKET_TTL,
        claims=claims,
    )
    expires_at = datetime.fromtimestamp(issued.expires_at, UTC)
    return Issued(claims["format"], entries, f"{settings.issuer_url}/exports/{issued.token}", expires_at)


def ticket(keyring: Keyring, settings: Settings, token: str) -> Ticket:
    claims = tokens.verify(keyring, token, typ=TYP, audience=AUDIENCE, issuer=settings.issuer)
    try:
        described = claims.get("filter", {})
        selected = log.Filter(
            described.get("action"),
            described.get("actorId"),
            described.get("targetId"),
            _instant(described.get("since")),
            _instant(described.get("until")),
        )
        return Ticket(
            ids.decode(claims["sub"], "Organization"),
            claims["format"],
            selected,
            int(claims.get("through", 0)),
            datetime.fromtimestamp(claims["exp"], UTC),
            claims.get("report", TRAIL),
            ids.decode(claims["userId"], "User") if "userId" in claims else None,
        )
    except (KeyError, TypeError, ValueError, NotFound):
        raise Unauthenticated("Not an export ticket") from None


def media(format: str) -> tuple[str, str]:
    """The content type and the file name's extension."""
    return FORMATS[format]


def stream(ticket: Ticket, keyring: Keyring) -> AsyncIterator[bytes]:
    if ticket.report == SUBJECT:
        assert ticket.subject_id is not None
        return reports.subject(ticket.organization_id, ticket.subject_id, ticket.through)
    if ticket.report == ACCESS_REVIEW:
        rows = reports.access_review(ticket.organization_id)
        return _csv_rows(reports.ACCESS_COLUMNS, rows) if ticket.format == "CSV" else _json_rows(rows)
    if ticket.format == "CSV":
        return _csv(ticket)
    if ticket.format == "JSON":
        return _json(ticket)
    return _pdf(ticket, keyring)


async def _entries(ticket: Ticket) -> AsyncIterator[list[AuditLogEntry]]:
    after = 0
    while True:
        page = (
            await log.entries(ticket.organization_id, ticket.selected)
            .filter(sequence__gt=after, sequence__lte=ticket.through)
            .order_by("sequence")
            .limit(PAGE)
        )
        if not page:
            return
        yield page
        after = page[-1].sequence


async def _trail_rows(ticket: Ticket) -> AsyncIterator[list[dict[str, Any]]]:
    async for page in _entries(ticket):
        yield [log.as_dict(e) for e in page]


def _csv(ticket: Ticket) -> AsyncIterator[bytes]:
    return _csv_rows(COLUMNS, _trail_rows(ticket))


async def _csv_rows(columns: tuple[str, ...], pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    async for page in pages:
        for row in page:
            writer.writerow(_cell(row[c]) for c in columns)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty export
        yield buffer.getvalue().encode()


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "" if value is None else str(value)


async def _json_rows(pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for page in pages:
        chunk = ",".join(json.dumps(row, separators=(",", ":")) for row in page)
        yield (chunk if first else "," + chunk).encode()
        first = False
    yield b"]"


async def _json(ticket: Ticket) -> AsyncIterator[bytes]:
    header = await _header(ticket)
    yield json.dumps(header, separators=(",", ":"))[:-1].encode() + b',"entries":['
    first = True
    async for page in _entries(ticket):
        chunk = ",".join(json.dumps(log.as_dict(e), separators=(",", ":")) for e in page)
        yield (chunk if first else "," + chunk).encode()
        first = False
    yield b"]}"


async def _header(ticket: Ticket) -> dict[str, Any]:
    checkpoint = await checkpoints.latest(ticket.organization_id, through=ticket.through)
    return {
        "organizationId": ids.encode("Organization", ticket.organization_id),
        "exportedAt": protocol.rfc3339(clock.now()),
        "filter": _described(ticket.selected),
        "checkpoint": None
        if checkpoint is None
        else {
            "sequence": checkpoint.sequence,
            "hash": checkpoint.hash,
            "signature": checkpoint.signature,
            "keyId": checkpoint.key_id,
            "createdAt": protocol.rfc3339(checkpoint.created_at),
        },
    }


async def _pdf(ticket: Ticket, keyring: Keyring) -> AsyncIterator[bytes]:
    header = await _header(ticket)
    chain = await verification.verify(ticket.organization_id, keyring)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spooled:
        report = pdf.Report(spooled, header, chain)
        async for page in _entries(ticket):
            await asyncio.to_thread(report.rows, [log.as_dict(e) for e in page])
        await asyncio.to_thread(report.finish)
        spooled.seek(0)
        while chunk := await asyncio.to_thread(spooled.read, 64 * 1024):
            yield chunk


def _described(selected: log.Filter) -> dict[str, str]:
    """The filter as the API names its fields, for the ticket, the audit entry and the file."""
    named = {
        "action": selected.action,
        "actorId": selected.actor_id,
        "targetId": selected.target_id,
        "since": selected.since.isoformat() if selected.since else None,
        "until": selected.until.isoformat() if selected.until else None,
    }
    return {k: v for k, v in named.items() if v is not None}


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
