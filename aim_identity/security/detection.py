"""The detector: reads each organization's events from the outbox in commit order and judges them
(security/rules.py). Its cursor moves in the transaction that writes what the events raised, so each
event is judged once, even across restarts. Any number of detectors may run: an organization's cursor
is locked (SKIP LOCKED) by the one judging it."""

from __future__ import annotations

import logging
import uuid

from aim_identity import db
from aim_identity.actors import Actor
from aim_identity.errors import AimError
from aim_identity.models import DetectionCursor, OutboxEvent
from aim_identity.security.rules import Judge
from aim_identity.unit_of_work import atomic

log = logging.getLogger(__name__)
BATCH = 500
# What a rule raises on an event whose payload it cannot read (a field missing, an ID of another kind).
UNREADABLE = (KeyError, TypeError, ValueError, AimError)
_WAITING = """
SELECT c.organization_id FROM detection_cursors c
WHERE EXISTS (SELECT 1 FROM outbox_events o WHERE o.organization_id = c.organization_id AND o.id > c.cursor)
LIMIT $1"""
# Organizations are named in each audit entry and event, not by the actor: a batch that raises nothing
# writes nothing but its cursor.
ENGINE = Actor(None, "system", "security-engine")
_LOCK = "SELECT cursor FROM detection_cursors WHERE organization_id = $1 FOR UPDATE SKIP LOCKED"


async def start(organization_id: uuid.UUID) -> None:
    """A new organization's detector starts at its first event."""
    await DetectionCursor.create(organization_id=organization_id, cursor=0)


async def judge_waiting(limit: int = 100) -> int:
    """Judges the organizations with events past their cursor; returns how many events it judged."""
    judged = 0
    for row in await db.fetch(_WAITING, limit):
        organization_id = row["organization_id"]
        try:
            judged += await _judge(organization_id, BATCH)
        except UNREADABLE:
            # One event the rules cannot read must not hold back the rest: judge them one at a time,
            # passing over the one that fails. (Anything else, the database refusing say, propagates:
            # nothing was judged, and the worker tries again.)
            log.exception("judging the events of organization %s failed; judging them one by one", organization_id)
            judged += await _one_by_one(organization_id)
    return judged


async def _judge(organization_id: uuid.UUID, limit: int) -> int:
    async with atomic(ENGINE) as work:
        row = await db.fetch_one(_LOCK, organization_id)
        if row is None:
            return 0  # another detector holds it
        events = (
            await OutboxEvent.filter(organization_id=organization_id, id__gt=row["cursor"]).order_by("id").limit(limit)
        )
        judge = Judge(work, organization_id)
        for event in events:
            await judge.judge(event)
        await judge.save()
        if events:
            await DetectionCursor.filter(organization_id=organization_id).update(cursor=events[-1].id)
    return len(events)


async def _one_by_one(organization_id: uuid.UUID) -> int:
    judged = 0
    for _ in range(BATCH):
        try:
            done = await _judge(organization_id, 1)
        except UNREADABLE:
            log.exception("passing over an event of organization %s that the rules cannot judge", organization_id)
            await _pass_over(organization_id)
            done = 1
        if not done:
            break
        judged += done
    return judged


async def _pass_over(organization_id: uuid.UUID) -> None:
    async with atomic(ENGINE):
        row = await db.fetch_one(_LOCK, organization_id)
        if row is None:
            return
        event = await OutboxEvent.filter(organization_id=organization_id, id__gt=row["cursor"]).order_by("id").first()
        if event is not None:
            await DetectionCursor.filter(organization_id=organization_id).update(cursor=event.id)
