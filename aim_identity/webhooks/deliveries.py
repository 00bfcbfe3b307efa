"""Delivering each webhook's events from the outbox, in the order they were committed (PROTOCOL.md,
"Webhooks"): a POST of the event's JSON signed with `X-AIM-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256 of "<t>.<body>">` under the webhook's secret. A 2xx moves the webhook's cursor past the
event; anything else is retried with exponential backoff, and the events after it wait. Every attempt
is recorded. The cursor lives in the database, so a worker that stops loses nothing: the next one
resumes after the last event delivered. Workers claim webhooks with SKIP LOCKED, so each webhook is
delivered by one of them at a time."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import httpx2

from aim_identity import db, outbound
from aim_identity.auth.keyring import Keyring
from aim_identity.config import Settings
from aim_identity.events import outbox
from aim_identity.models import OutboxEvent, Webhook, WebhookDelivery
from aim_identity.webhooks.registry import bound, wants

EVENTS_PER_PASS = 100
MAX_BACKOFF = timedelta(hours=1)
# Only webhooks with events past their cursor, out of their backoff and not leased to another worker.
_CLAIM = """
UPDATE webhooks SET leased_until = $2 WHERE id IN (
    SELECT w.id FROM webhooks w
    WHERE w.active AND (w.due_at IS NULL OR w.due_at <= $1) AND (w.leased_until IS NULL OR w.leased_until <= $1)
      AND EXISTS (SELECT 1 FROM outbox_events o WHERE o.organization_id = w.organization_id AND o.id > w.cursor)
    ORDER BY w.id LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING *"""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(settings: Settings, failures: int) -> timedelta:
    """The wait after the `failures`-th failed attempt in a row: doubling from the base, at most an hour."""
    return min(timedelta(seconds=settings.webhook_retry_seconds * 2 ** (failures - 1)), MAX_BACKOFF)


async def claim(settings: Settings, now: datetime, limit: int) -> list[Webhook]:
    lease = timedelta(seconds=settings.webhook_timeout * EVENTS_PER_PASS + 30)
    rows = await db.fetch(_CLAIM, now, now + lease, limit)
    return [db.instance(Webhook, row) for row in rows]


async def deliver(settings: Settings, keyring: Keyring, webhook: Webhook) -> int:
    """Delivers the claimed webhook's waiting events until one fails; returns how many were delivered."""
    events = (
        await OutboxEvent.filter(organization_id=webhook.organization_id, id__gt=webhook.cursor)
        .order_by("id")
        .limit(EVENTS_PER_PASS)
    )
    secret = keyring.unseal(webhook.secret_sealed, bound(webhook.id)).decode()
    delivered = 0
    async with outbound.client(settings, timeout=settings.webhook_timeout) as http:
        for event in events:
            if wants(webhook, event.kind):
                ok = await _attempt(settings, http, webhook, secret, event)
                if not ok:
                    break
                delivered += 1
            webhook.cursor, webhook.failures, webhook.due_at = event.id, 0, None
    await db.execute(
        "UPDATE webhooks SET cursor = $2, failures = $3, due_at = $4, leased_until = NULL, last_delivery_at = $5, "
        "last_delivery_status = $6 WHERE id = $1",
        webhook.id,
        webhook.cursor,
        webhook.failures,
        webhook.due_at,
        webhook.last_delivery_at,
        webhook.last_delivery_status,
    )
    return delivered


async def _attempt(
    settings: Settings, http: httpx2.AsyncClient, webhook: Webhook, secret: str, event: OutboxEvent
) -> bool:
    body = json.dumps(outbox.as_message(event), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AIM-Webhooks",
        "X-AIM-Event": event.kind,
        "X-AIM-Delivery": str(event.event_id),
        "X-AIM-Signature": signature(secret, int(time.time()), body),
    }
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        response = await http.post(webhook.url, content=body, headers=headers)
        await response.aread()  # the size cap applies to the answer too
        status = response.status_code
        if not 200 <= status < 300:
            error = f"the receiver answered HTTP {status}"
    except outbound.OutboundError as exc:
        error = str(exc)
    except httpx2.TimeoutException:
        error = f"no answer within {settings.webhook_timeout:g} s"
    except httpx2.HTTPError as exc:
        error = f"could not reach the receiver: {exc}"[:500]
    now = datetime.now(UTC)
    await WebhookDelivery.create(
        webhook_id=webhook.id,
        event_id=event.event_id,
        kind=event.kind,
        attempt=webhook.failures + 1,
        status=status,
        latency_ms=round((time.monotonic() - started) * 1000),
        error=error,
        at=now,
    )
    webhook.last_delivery_at, webhook.last_delivery_status = now, status
    if error is None:
        return True
    webhook.failures += 1
    webhook.due_at = now + backoff(settings, webhook.failures)
    return False


# Attempts are kept for a month, as the evidence of what a receiver was sent and answered.
ATTEMPTS_KEPT = timedelta(days=30)


async def prune(now: datetime | None = None) -> int:
    """Deletes delivery attempts older than ATTEMPTS_KEPT; `aimctl worker` runs it."""
    return await WebhookDelivery.filter(at__lt=(now or datetime.now(UTC)) - ATTEMPTS_KEPT).delete()
