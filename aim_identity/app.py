"""The Starlette application: GraphQL over HTTP and WebSocket at /graphql, the JWKS, the OAuth
endpoints MCP servers trust (delivery/oauth.py), and health."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from tortoise import Tortoise

from aim_identity import row_security
from aim_identity.api import build_schema
from aim_identity.auth.keyring import load_keyring
from aim_identity.config import Settings
from aim_identity.db import tortoise_config
from aim_identity.delivery.admission import Admission
from aim_identity.delivery.endpoint import Endpoint
from aim_identity.delivery.exports import ExportDownloads
from aim_identity.delivery.fanout import Fanout
from aim_identity.delivery.headers import security_headers
from aim_identity.delivery.oauth import OAuthEndpoints
from aim_identity.events import outbox
from aim_identity.events.broker import Broker
from aim_identity.mail import Mailer
from aim_identity.security.blocklist import Blocklist
from aim_identity.throttle import Throttle
from aim_identity.workers import checkpoints, detection, housekeeping, mcp_watch, relay, rescoring, webhooks


def create_app(settings: Settings | None = None, *, checks: bool = True) -> Starlette:
    """`checks=False` leaves out the schema's checks and the security headers, for the benchmark of
    what they cost (bench/hardening.py); nothing deployed runs without them."""
    settings = settings or Settings()
    schema = build_schema(settings, checks=checks)
    graphql = Endpoint(schema, settings)
    oauth = OAuthEndpoints(settings, lambda: graphql.keyring, lambda: graphql.blocklist)
    downloads = ExportDownloads(settings, lambda: graphql.keyring, lambda: graphql.blocklist)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The global fallback lets every request task see the ORM (STACK-NOTES, trap 2).
        await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
        keyring = await load_keyring(settings)
        broker = Broker(settings.redis_url, replay=outbox)
        await broker.connect()
        mailer = Mailer(settings.smtp_url, settings.mail_from)
        blocklist = Blocklist(settings.redis_url)
        graphql.start(
            keyring, Fanout(schema, broker, keyring, settings), Throttle(settings.redis_url), mailer, blocklist
        )
        # In development one process does everything; production runs these in `aimctl worker`.
        row_security.enter_every_organization()  # the workers' tasks below are about every organization
        background = (
            []
            if settings.production
            else [
                asyncio.create_task(relay.run(broker)),
                asyncio.create_task(detection.run()),
                asyncio.create_task(checkpoints.run(settings)),
                asyncio.create_task(housekeeping.run(settings)),
                asyncio.create_task(mcp_watch.run(settings)),
                asyncio.create_task(rescoring.run(settings)),
                asyncio.create_task(webhooks.run(settings)),
            ]
        )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await mailer.drain()
            await blocklist.close()
            await broker.disconnect()
            await Tortoise.close_connections()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(graphql.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def healthz(request: Request) -> JSONResponse:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(
                "/graphql",
                Admission(
                    graphql,
                    settings.max_concurrent_requests,
                    max_body_bytes=settings.max_request_bytes,
                    max_waiting=settings.max_queued_requests,
                ),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", graphql),
            Route("/.well-known/jwks.json", jwks),
            *oauth.routes(),
            *downloads.routes(),
            Route("/healthz", healthz),
        ],
        middleware=[Middleware(row_security.Unscoped), *([security_headers(settings.production)] if checks else [])],
        lifespan=lifespan,
    )
