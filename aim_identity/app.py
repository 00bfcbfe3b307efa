"""The Starlette application: GraphQL over HTTP and WebSocket at /graphql, the JWKS, and health."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from tortoise import Tortoise

from aim_identity.auth.principal import authenticate
from aim_identity.auth.signing_keys import Keyring, load_keyring
from aim_identity.config import Settings
from aim_identity.db import tortoise_config
from aim_identity.schema import build_schema
from aim_identity.schema.context import Context

log = logging.getLogger(__name__)


def client_ip(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None


class AimGraphQL(GraphQL):
    def __init__(self, settings: Settings) -> None:
        super().__init__(build_schema(settings), graphql_ide=None if settings.production else "graphiql",
                         allow_queries_via_get=not settings.production,
                         allowed_origins=settings.allowed_origins)
        self.settings = settings
        self.keyring: Keyring | None = None

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:
        principal = None
        if isinstance(request, Request):
            principal = await authenticate(request.headers, client_ip(request), self.keyring, self.settings)
        return Context(settings=self.settings, keyring=self.keyring, principal=principal,
                       ip_address=client_ip(request), user_agent=request.headers.get("user-agent"),
                       request=request, response=response)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    graphql = AimGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The global fallback lets every request task see the ORM (STACK-NOTES, trap 2).
        await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
        graphql.keyring = await load_keyring(settings)
        try:
            yield
        finally:
            await Tortoise.close_connections()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(graphql.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def healthz(request: Request) -> JSONResponse:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/.well-known/jwks.json", jwks),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
