"""Admission control: at most N GraphQL requests over HTTP run at once in a process; the rest wait
their turn, in arrival order, before anything of theirs runs.

One process runs one request's Python at a time. Past a handful of requests in flight, more of them
only interleave: each holds its database connection and row locks across more turns of the event
loop, others pile up behind those locks and on the connection pool (whose queue lets newcomers
overtake), and the slowest requests wait several times the average. In line, latency stays close to
the average, and a transaction holding an organization's audit chain reaches its commit sooner.

A request's body is read before it takes a slot: a client that sends slowly waits without holding
one, so a few slow clients cannot stall everyone else."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Admission:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        # asyncio.Semaphore is fair (Python 3.11.1+): with anyone waiting, a newcomer queues too.
        self.slots = asyncio.Semaphore(limit) if limit > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.slots is None or scope["type"] != "http":  # WebSockets are long-lived: never queued
            await self.app(scope, receive, send)
            return
        body = []
        while True:
            message = await receive()
            body.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        queued = iter(body)

        async def replay() -> Message:
            return next(queued, None) or await receive()

        async with self.slots:
            await self.app(scope, replay, send)
