"""Admission control: at most N GraphQL requests over HTTP run at once in a process; the rest wait
their turn, in arrival order, before anything of theirs runs.

One process runs one request's Python at a time. Past a handful of requests in flight, more of them
only interleave: each holds its database connection and row locks across more turns of the event
loop, others pile up behind those locks and on the connection pool (whose queue lets newcomers
overtake), and the slowest requests wait several times the average. In line, latency stays close to
the average, and a transaction holding an organization's audit chain reaches its commit sooner.

A request's body is read before it takes a slot: a client that sends slowly waits without holding
one, so a few slow clients cannot stall everyone else. A body over the size limit is refused as soon
as it is known to be (413), and a request that finds the line full is turned away (503, with
Retry-After) rather than waiting behind more work than the process can catch up on."""

from __future__ import annotations

import asyncio
import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aim_identity.delivery import media

RETRY_AFTER_S = 1


class Admission:
    def __init__(self, app: ASGIApp, limit: int, *, max_body_bytes: int, max_waiting: int) -> None:
        self.app = app
        # asyncio.Semaphore is fair (Python 3.11.1+): with anyone waiting, a newcomer queues too.
        self.slots = asyncio.Semaphore(limit) if limit > 0 else None
        self.max_body_bytes = max_body_bytes
        self.max_waiting = max_waiting
        self.waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # WebSockets are long-lived: never queued
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive)
        if body is None:
            await _refuse(
                scope,
                send,
                413,
                "BAD_USER_INPUT",
                f"The request body is over the limit of {self.max_body_bytes} bytes",
            )
            return
        queued = iter(body)

        async def replay() -> Message:
            return next(queued, None) or await receive()

        if self.slots is None:
            await self.app(scope, replay, send)
            return
        if self.slots.locked() and self.waiting >= self.max_waiting:
            await _refuse(
                scope,
                send,
                503,
                "RATE_LIMITED",
                "The server is busy; retry shortly",
                [(b"retry-after", str(RETRY_AFTER_S).encode())],
            )
            return
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:
            await self.app(scope, replay, send)
        finally:
            self.slots.release()

    async def _read_body(self, scope: Scope, receive: Receive) -> list[Message] | None:
        """The request's messages, or None once its body is known to be over the limit."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return None
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if message["type"] != "http.request" or not message.get("more_body"):
                return messages


async def _refuse(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A refusal in the type the client asked for (and JSON if it asked for neither: a 406 would hide
    why it was refused)."""
    kind = media.negotiated(Headers(scope=scope).get("accept")) or media.JSON
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
