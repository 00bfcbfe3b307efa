"""Creating and deleting an organization's webhooks. A webhook receives the events committed after it
was made; its secret is shown once and kept sealed (it signs every delivery, so it cannot be a hash)."""

from __future__ import annotations

import re
import secrets
import uuid

from aim_identity import db, ids, outbound
from aim_identity.actors import Actor
from aim_identity.auth.keyring import Keyring
from aim_identity.errors import BadUserInput, NotFound
from aim_identity.models import Webhook
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import atomic

MAX_EVENTS = 50
_KIND = re.compile(r"^(\*|[a-z_]+\.[a-z_*]+)$")


def bound(webhook_id: uuid.UUID) -> bytes:
    """What the sealed secret is bound to: its own row."""
    return f"webhook:{webhook_id}".encode()


def _events(events: list[str]) -> list[str]:
    kinds = list(dict.fromkeys(e.strip() for e in events))
    if not kinds or len(kinds) > MAX_EVENTS:
        raise BadUserInput(f"name 1 to {MAX_EVENTS} event kinds (or ['*'] for all)", field="events")
    for kind in kinds:
        if not _KIND.match(kind):
            raise BadUserInput(f"{kind[:100]!r} is not an event kind like 'threat.detected'", field="events")
    return kinds


def wants(webhook: Webhook, kind: str) -> bool:
    """`*` is every event; `threat.*` every event of that family."""
    return any(e == "*" or e == kind or (e.endswith(".*") and kind.startswith(e[:-1])) for e in webhook.events)


async def create(actor: Actor, keyring: Keyring, url: str, events: list[str]) -> tuple[Webhook, str]:
    url, kinds = outbound.http_url(url), _events(events)
    assert actor.organization_id is not None
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook_id = uuid.uuid4()
    async with atomic(actor) as work:
        # Its first event is the first committed after this one.
        head = await db.fetch_one(
            "SELECT COALESCE(MAX(id), 0) AS id FROM outbox_events WHERE organization_id = $1", actor.organization_id
        )
        webhook = await Webhook.create(
            id=webhook_id,
            organization_id=actor.organization_id,
            url=url,
            events=kinds,
            secret_sealed=keyring.seal(secret.encode(), bound(webhook_id)),
            cursor=head["id"] if head else 0,
        )
        work.audit("webhook.created", "Webhook", ids.encode("Webhook", webhook.id), url=url, events=kinds)
    return webhook, secret


async def delete(actor: Actor, webhook_id: uuid.UUID) -> None:
    assert actor.organization_id is not None
    async with atomic(actor) as work:
        webhook = await scoped(Webhook, actor.organization_id).select_for_update().get_or_none(id=webhook_id)
        if webhook is None:
            raise NotFound("No such webhook")
        await webhook.delete()
        work.audit("webhook.deleted", "Webhook", ids.encode("Webhook", webhook_id), url=webhook.url)
