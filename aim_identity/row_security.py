"""Whose rows a task may touch, as PostgreSQL's row-level security sees them: the database's own wall
behind the application's filter (tenancy.py), so a query that forgets its organization still gets no
foreign row (migration 0020).

The scope lives in a context variable: a request takes its caller's organization once it has
authenticated them, a subscription its subscriber's, and work that is about every organization by
nature (finding the caller a credential belongs to, the relay, the workers, the operator's commands)
says so with `every_organization()`. A task that has said nothing sees nothing. Each pooled session is
told its taker's scope as it is handed out (db.py); each mutation's transaction narrows it to its
actor's organization with SET LOCAL (unit_of_work.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

# What the `aim.organization` setting holds: an organization's id, this for every organization, or
# nothing (no rows at all).
EVERY_ORGANIZATION = "*"
NO_ORGANIZATION = ""

_current: ContextVar[str] = ContextVar("aim_scope", default=NO_ORGANIZATION)


def current() -> str:
    return _current.get()


def _of(organization_id: uuid.UUID | None) -> str:
    return str(organization_id) if organization_id else NO_ORGANIZATION


def enter(organization_id: uuid.UUID | None) -> None:
    """For the rest of this task: only this organization's rows (none without one)."""
    _current.set(_of(organization_id))


def enter_every_organization() -> None:
    """For the rest of this task (a worker's, an operator's command): every organization's rows."""
    _current.set(EVERY_ORGANIZATION)


def organization(organization_id: uuid.UUID | None) -> AbstractContextManager[None]:
    return _within(_of(organization_id))


def every_organization() -> AbstractContextManager[None]:
    return _within(EVERY_ORGANIZATION)


@contextmanager
def _within(held: str) -> Iterator[None]:
    token = _current.set(held)
    try:
        yield
    finally:
        _current.reset(token)


def of_caller(organization_id: uuid.UUID | None) -> AbstractContextManager[None]:
    """A caller's organization; every organization for a caller still to prove who it is, whose
    signature will say which organization is theirs (as a transaction does, unit_of_work.py)."""
    return organization(organization_id) if organization_id else every_organization()


class Unscoped:
    """ASGI middleware: every request and WebSocket starts with no organization's rows, whatever the
    task that accepted it held, and takes its caller's once they are known."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, asgi_scope, receive, send) -> None:
        if asgi_scope["type"] in ("http", "websocket"):
            enter(None)
        await self.app(asgi_scope, receive, send)
