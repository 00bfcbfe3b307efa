"""Webhook deliveries to a real HTTP receiver on loopback: signed as PROTOCOL.md says, in order, the
first attempt failed and retried, every attempt recorded, and nothing lost while no worker delivers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

from aim_identity import ids
from aim_identity.auth.keyring import load_keyring
from aim_identity.models import Webhook, WebhookDelivery
from aim_identity.webhooks import deliveries
from tests.receivers import Receiver, respond
from tests.support import Org, create_agent, eventually

CREATE = """mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id url events } secret } }"""
LISTED = "{ webhooks { id lastDeliveryStatus lastDeliveryAt } }"


def failing_first(bodies: list[bytes], failures: int = 1):
    """Answers 500 to the first `failures` requests and 200 after, keeping each body."""

    async def answer(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bodies.append(await reader.readexactly(int(receiver.requests[-1]["content-length"])))
        status = "500 Internal Server Error" if len(bodies) <= failures else "200 OK"
        await respond(writer, status)

    return answer


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in headers["x-aim-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(fields["v1"], expected)


async def test_a_delivery_is_signed_retried_after_a_failure_and_recorded(org: Org, receivers):
    bodies: list[bytes] = []
    receiver = await receivers(failing_first(bodies))
    made = (await org.admin.api(CREATE, i={"url": receiver.url, "events": ["agent.created"]}))["createWebhook"]
    assert made["secret"].startswith("whsec_") and made["webhook"]["events"] == ["agent.created"]
    agent = await create_agent(org.admin.api)  # agent.created, and audit events the webhook did not ask for

    async def twice() -> bool:
        return len(bodies) >= 2

    await eventually(twice)
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same event, again
    for headers, body in zip(receiver.requests, bodies, strict=True):
        assert verified(made["secret"], headers, body)
        assert headers["x-aim-event"] == "agent.created"
    event = json.loads(bodies[0])
    assert (event["kind"], event["agentId"]) == ("agent.created", agent.id)

    webhook_id = ids.decode(made["webhook"]["id"], "Webhook")
    attempts = await WebhookDelivery.filter(webhook_id=webhook_id).order_by("id")
    assert [(a.attempt, a.status) for a in attempts] == [(1, 500), (2, 200)]
    assert attempts[0].error == "the receiver answered HTTP 500" and attempts[1].error is None
    listed = {w["id"]: w for w in (await org.admin.api(LISTED))["webhooks"]}
    assert listed[made["webhook"]["id"]]["lastDeliveryStatus"] == 200


async def test_events_committed_while_no_worker_delivers_are_all_delivered_in_order(org: Org, receivers, settings):
    bodies: list[bytes] = []
    receiver = await receivers(failing_first(bodies, failures=0))
    made = (await org.admin.api(CREATE, i={"url": receiver.url, "events": ["agent.*"]}))["createWebhook"]
    webhook_id = ids.decode(made["webhook"]["id"], "Webhook")
    await Webhook.filter(id=webhook_id).update(active=False)  # as if every worker were down
    agents = [await create_agent(org.admin.api) for _ in range(3)]
    assert bodies == []

    # A worker that starts now, with nothing but the database, delivers everything it missed.
    await Webhook.filter(id=webhook_id).update(active=True)
    keyring = await load_keyring(settings)
    for webhook in await deliveries.claim(settings, datetime.now(UTC), 100):
        if webhook.id == webhook_id:
            await deliveries.deliver(settings, keyring, webhook)

    def created() -> list[str]:
        return [e["agentId"] for e in map(json.loads, bodies) if e["kind"] == "agent.created"]

    async def all_three() -> bool:
        return len(created()) >= 3

    await eventually(all_three)
    assert created() == [a.id for a in agents]  # in the order they were committed
    assert {json.loads(b)["kind"].split(".")[0] for b in bodies} == {"agent"}  # `agent.*`: that family only
    assert all(verified(made["secret"], h, b) for h, b in zip(receiver.requests, bodies, strict=True))


async def test_a_webhook_url_follows_the_outbound_rules_and_events_are_checked(org: Org):
    bad = await org.admin.api.error(CREATE, i={"url": "ftp://example.com/hook", "events": ["*"]})
    assert bad == "BAD_USER_INPUT"
    assert await org.admin.api.error(CREATE, i={"url": "https://example.com/hook", "events": []}) == "BAD_USER_INPUT"
    nonsense = await org.admin.api.error(CREATE, i={"url": "https://example.com/hook", "events": ["DROP TABLE"]})
    assert nonsense == "BAD_USER_INPUT"


async def test_housekeeping_deletes_attempts_a_month_old(org: Org):
    made = (await org.admin.api(CREATE, i={"url": "https://hooks.example.com/old", "events": ["*"]}))["createWebhook"]
    webhook_id = ids.decode(made["webhook"]["id"], "Webhook")
    await Webhook.filter(id=webhook_id).update(active=False)
    old, recent = (datetime.now(UTC) - timedelta(days=days) for days in (31, 29))
    # Only these two: the worker may have delivered the webhook's own creation meanwhile.
    events = {uuid.uuid4(): at for at in (old, recent)}
    for event_id, at in events.items():
        await WebhookDelivery.create(
            webhook_id=webhook_id, event_id=event_id, kind="agent.created", attempt=1, latency_ms=3, at=at
        )
    await deliveries.prune()
    assert [d.at for d in await WebhookDelivery.filter(event_id__in=list(events))] == [recent]
