"""One transaction per mutation: its rows, its audit entries and its outbox events commit together.

Whoever must act once events are committed (the relay, in a process that runs one) registers with
`after_commit`; the unit of work knows nothing of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from tortoise.transactions import in_transaction

from aim_identity import db, ids, row_security, tenancy
from aim_identity.actors import Actor
from aim_identity.audit import chain
from aim_identity.events import outbox

_after_commit: list[Callable[[], None]] = []


def after_commit(hook: Callable[[], None]) -> Callable[[], None]:
    """Calls `hook` after each commit that wrote events; returns what unregisters it."""
    _after_commit.append(hook)
    return lambda: _after_commit.remove(hook)


@dataclass
class Work:
    actor: Actor
    _scope: str
    _audit: list[chain.Record] = field(default_factory=list)
    _events: list[outbox.Event] = field(default_factory=list)

    async def act_as(self, actor: Actor) -> None:
        """The caller has proved who it is: the rest of the transaction is theirs."""
        self.actor = actor
        await self._scope_to(actor)

    async def _scope_to(self, actor: Actor) -> None:
        """Row-level security (row_security.py): the transaction touches only its actor's organization, or,
        for an actor of none yet (a caller still to prove who it is, the system), the organization
        its rows turn out to be in. The commit's own bookkeeping writes for every organization the
        transaction names, as the database's (migration 0020)."""
        wanted = str(actor.organization_id) if actor.organization_id else row_security.EVERY_ORGANIZATION
        if wanted != self._scope and db.dialect() == "postgres":
            await db.execute("SELECT set_config('aim.organization', $1, true)", wanted)
        self._scope = wanted

    def audit(
        self,
        action: str,
        target_type: str | None = None,
        target_id: str | None = None,
        organization_id: uuid.UUID | None = None,
        **metadata: Any,
    ) -> None:
        org = organization_id or self.actor.organization_id
        assert org is not None, "an audit entry needs an organization"
        self._audit.append(chain.Record(org, self.actor, action, target_type, target_id, metadata))

    def emit(self, kind: str, organization_id: uuid.UUID | None = None, **payload: Any) -> None:
        org = organization_id or self.actor.organization_id
        assert org is not None, "an event needs an organization"
        self._events.append(outbox.Event(org, kind, payload))


@asynccontextmanager
async def atomic(actor: Actor) -> AsyncIterator[Work]:
    try:
        async with in_transaction():
            work = Work(actor, _scope=row_security.current())  # what the transaction's session was given
            await work._scope_to(actor)
            yield work
            for record in work._audit:
                work.emit(
                    "audit.appended",
                    organization_id=record.organization_id,
                    entryId=ids.encode("AuditLogEntry", record.id),
                )
            # Every audit entry emitted an event in its organization, so the events name every
            # organization written to.
            written = {e.organization_id for e in work._events}
            if actor.organization_id:
                written.add(actor.organization_id)
            await _finish(work, written)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == chain.NO_CHAIN_HEAD:
            raise chain.NoChainHead(uuid.UUID(exc.detail)) from exc
        raise
    if work._events:
        for hook in _after_commit:
            hook()


# What orders an organization's writes (its row, whose data version moves, and its audit chain head)
# is locked last: cached responses read at an older version are never served again, sequences have no
# gaps, and an organization's event ids follow its commits, which catching up from the outbox and
# webhook deliveries rely on (events/broker.py, webhooks/deliveries.py).
async def _finish(work: Work, written: set[uuid.UUID]) -> None:
    if db.dialect() == "postgres":
        # One statement; PostgreSQL writes it all at COMMIT (migration 0019), so those locks are never
        # held across a round trip to this process.
        await db.execute(
            "INSERT INTO commit_work (work) VALUES ($1::jsonb)",
            json.dumps(
                {
                    "organizations": [str(org) for org in written],  # locked in id order by the trigger
                    "entries": chain.for_commit(work._audit),
                    "events": outbox.for_commit(work._events),
                }
            ),
        )
        return
    await tenancy.touch(written)
    await chain.append(work._audit)
    await outbox.add(work._events)
