"""Published events are kept a week for processes catching up, then pruned; unpublished ones never."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from aim_identity.events import outbox
from aim_identity.models import OutboxEvent


async def test_events_published_over_a_week_ago_are_pruned_and_the_rest_kept(server):
    now = datetime.now(UTC)
    organization = uuid.uuid4()
    # Created already published, so the running relay never touches them; `waiting` it may publish
    # meanwhile, which keeps it all the same.
    _old, recent, waiting = [
        await OutboxEvent.create(organization_id=organization, kind="agent.created", payload={}, published_at=at)
        for at in (now - timedelta(days=8), now - timedelta(days=6), None)
    ]
    assert await outbox.prune() >= 1
    assert set(await OutboxEvent.filter(organization_id=organization).values_list("id", flat=True)) == {
        recent.id,
        waiting.id,
    }
    assert [m["seq"] for m in await outbox.since(str(organization), 0)] == [recent.id, waiting.id]
