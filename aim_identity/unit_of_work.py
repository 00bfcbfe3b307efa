"""One transaction per mutation: its rows, its audit entries and its outbox events commit together."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from aim_identity import ids, tenancy
from aim_identity.audit import chain
from aim_identity.events import outbox, relay


@dataclass(frozen=True)
class Actor:
    """Who did it, from where: stamped on every audit entry."""

    organization_id: uuid.UUID | None
    actor_type: str  # user | agent | api_key | system
    actor_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None

    def within(self, organization_id: uuid.UUID) -> Actor:
        return Actor(organization_id, self.actor_type, self.actor_id, self.ip_address, self.user_agent)


@dataclass
class Work:
    actor: Actor
    _audit: list[chain.Record] = field(default_factory=list)
    _events: list[outbox.Event] = field(default_factory=list)

    def audit(self, action: str, target_type: str | None = None, target_id: str | None = None,
              organization_id: uuid.UUID | None = None, **metadata: Any) -> None:
        org = organization_id or self.actor.organization_id
        assert org is not None, "an audit entry needs an organization"
        self._audit.append(chain.Record(org, self.actor, action, target_type, target_id, metadata))

    def emit(self, kind: str, organization_id: uuid.UUID | None = None, **payload: Any) -> None:
        org = organization_id or self.actor.organization_id
        assert org is not None, "an event needs an organization"
        self._events.append(outbox.Event(org, kind, payload))


@asynccontextmanager
async def atomic(actor: Actor) -> AsyncIterator[Work]:
    async with in_transaction():
        work = Work(actor)
        yield work
        for record in work._audit:
            work.emit("audit.appended", organization_id=record.organization_id,
                      entryId=ids.encode("AuditLogEntry", record.id))
        # Last, so each organization's chain head (and data version) is locked only for the moment
        # before commit. The outbox rows follow the append: the lock then orders an organization's
        # event ids as its commits, which catching up from the outbox relies on (events/broker.py).
        appended = await chain.append(work._audit)
        await outbox.add(work._events)
        # Every audit entry emitted an event in its organization, so the events name every organization
        # written to; the append bumped the versions of those it appended to.
        written = {e.organization_id for e in work._events}
        if actor.organization_id:
            written.add(actor.organization_id)
        await tenancy.touch(written - appended)
    if work._events:
        relay.nudge()
