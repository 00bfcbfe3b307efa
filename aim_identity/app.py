"""The Starlette application: GraphQL over HTTP and WebSocket at /graphql, the JWKS, and health."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from graphql import OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types.unset import UNSET
from tortoise import Tortoise

from aim_identity.admission import Admission
from aim_identity.auth.principal import Principal, authenticate
from aim_identity.auth.signing_keys import Keyring, load_keyring
from aim_identity.config import Settings
from aim_identity.db import tortoise_config
from aim_identity.errors import AimError
from aim_identity.events import outbox, relay
from aim_identity.events.broker import Broker
from aim_identity.schema import build_schema
from aim_identity.schema.context import Context
from aim_identity.schema.fanout import Fanout
from aim_identity.schema.response_cache import ResponseCache
from aim_identity.workers import housekeeping

log = logging.getLogger(__name__)


def client_ip(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None


class SubscriptionsOnly(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws at /graphql: subscriptions only (queries and mutations go over HTTP). Each
    subscription joins the process's shared fan-out, and each connection counts against its
    principal's limit until it closes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subscriptions: set[str] = set()
        self.closing: asyncio.Task | None = None

    async def handle_subscribe(self, message) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        operation_id = message["id"]
        if operation_id in self.subscriptions:
            await self.websocket.close(code=4409, reason=f"Subscriber for {operation_id} already exists")
            return
        payload = message.get("payload") or {}
        problem = self._problem(payload)
        if problem is None and len(self.subscriptions) >= self.max_subscriptions_per_connection:
            problem = f"Subscription limit reached: {self.max_subscriptions_per_connection} per connection"
        if problem:
            # An error for this operation only; the connection and its other operations carry on.
            error = {"message": problem, "extensions": {"code": "BAD_USER_INPUT"}}
            await self.send_message({"id": operation_id, "type": "error", "payload": [error]})
            return
        self.subscriptions.add(operation_id)
        self.view.fanout.join(self, operation_id, payload, self.context.principal)

    @staticmethod
    def _problem(payload: dict) -> str | None:
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            return f"Syntax error: {exc.message}"
        except (KeyError, TypeError):
            return "The subscribe payload needs a query"
        if not isinstance(payload.get("variables") or {}, dict):
            return "variables must be an object"
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = payload.get("operationName")
        chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
        if len(chosen) != 1:
            return f"Unknown operation named {name!r}" if name else "Name the operation to run"
        if chosen[0].operation != OperationType.SUBSCRIPTION:
            return "Only subscriptions are served over WebSocket; send queries and mutations over HTTP"
        return None

    async def handle_complete(self, message) -> None:
        self.subscriptions.discard(message["id"])
        self.view.fanout.leave(self, message["id"])

    async def send_frame(self, frame: str) -> None:
        await self.websocket.ws.send_text(frame)

    async def finish(self, operation_id: str, message: dict) -> None:
        """The server ends a subscription: its id is free again, and the client hears why."""
        self.subscriptions.discard(operation_id)
        await self.send_message(message)

    def drop(self, reason: str) -> None:
        # Not awaited: closing waits for the same socket that stopped taking data.
        self.closing = self.closing or asyncio.create_task(self.websocket.close(code=1013, reason=reason))

    async def shutdown(self) -> None:
        await super().shutdown()
        for operation_id in self.subscriptions:
            self.view.fanout.leave(self, operation_id)
        self.subscriptions.clear()
        if self.closing is not None:
            self.closing.cancel()
        self.view.release(self.context)


class AimGraphQL(GraphQL):
    graphql_transport_ws_handler_class = SubscriptionsOnly

    def __init__(self, settings: Settings) -> None:
        super().__init__(build_schema(settings), graphql_ide=None if settings.production else "graphiql",
                         allow_queries_via_get=not settings.production,
                         allowed_origins=settings.allowed_origins,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
                         max_subscriptions_per_connection=settings.ws_max_subscriptions)
        self.settings = settings
        self.keyring: Keyring | None = None
        self.broker: Broker | None = None
        self.fanout: Fanout | None = None
        self.connections: Counter[str] = Counter()
        self.responses = ResponseCache(settings.response_cache_size)

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:
        principal, credential_error = await self._caller(request) if isinstance(request, Request) else (None, None)
        return Context(settings=self.settings, keyring=self.keyring, principal=principal,
                       credential_error=credential_error, ip_address=client_ip(request),
                       user_agent=request.headers.get("user-agent"), request=request, response=response)

    async def _caller(self, request: Request) -> tuple[Principal | None, AimError | None]:
        """Authenticates once per request: the response cache and the context share the answer."""
        if not hasattr(request.state, "caller"):
            try:
                request.state.caller = (await authenticate(request.headers, client_ip(request), self.keyring,
                                                           self.settings), None)
            except AimError as error:  # reported as a GraphQL error by whatever field needs a caller
                request.state.caller = (None, error)
        return request.state.caller

    async def run(self, request, context=UNSET, root_value=UNSET):
        # POST only: in production a GET query is refused, and a cached answer must not skip that.
        if isinstance(request, Request) and request.method == "POST" and self.responses.size:
            body = await self._cached_body(request)
            if body is not None:
                return Response(body, media_type="application/json")
        return await super().run(request, context, root_value)

    async def _cached_body(self, request: Request) -> bytes | None:
        """A repeated query's response, found before any GraphQL machinery runs. Anything unusual
        (another content type, a batch, extensions, a malformed body) goes the whole way instead."""
        if parse_content_type(request.headers.get("content-type", ""))[0] != "application/json":
            return None
        try:
            data = json.loads(await request.body())
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("extensions") is not None:
            return None
        query, name, variables = data.get("query"), data.get("operationName"), data.get("variables")
        if not isinstance(query, str) or not isinstance(name, str | None) or not isinstance(variables, dict | None):
            return None
        principal, _ = await self._caller(request)
        key = self.responses.key(principal, query, name, variables)
        return self.responses.get(key) if key else None

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        result = await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                              request_data)
        key = self.responses.key(context.principal, request_data.query, request_data.operation_name,
                                 request_data.variables) if request_adapter.method == "POST" else None
        if key and not result.errors:
            body = self.encode_json(await self.process_result(request, result))
            self.responses.put(key, body if isinstance(body, bytes) else body.encode())
        return result

    async def on_ws_connect(self, context: Context) -> None:
        try:
            principal = await authenticate(context.connection_params or {}, context.ip_address, self.keyring,
                                           self.settings)
        except AimError:
            principal = None
        if principal is None:
            raise ConnectionRejectionError()
        if self.connections[principal.actor_id] >= self.settings.ws_max_connections_per_principal:
            raise ConnectionRejectionError({"reason": "too many connections for this credential"})
        self.connections[principal.actor_id] += 1
        context.act_as(principal)

    def release(self, context: Context) -> None:
        if context.principal is not None:
            self.connections[context.principal.actor_id] -= 1
            if self.connections[context.principal.actor_id] <= 0:
                del self.connections[context.principal.actor_id]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    graphql = AimGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The global fallback lets every request task see the ORM (STACK-NOTES, trap 2).
        await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
        graphql.keyring = await load_keyring(settings)
        graphql.broker = Broker(settings.redis_url, replay=outbox)
        await graphql.broker.connect()
        graphql.fanout = Fanout(graphql.schema, graphql.broker, graphql.keyring, settings)
        # In development one process does everything; production runs these in `aimctl worker`.
        background = [] if settings.production else [asyncio.create_task(relay.run(graphql.broker)),
                                                     asyncio.create_task(housekeeping.run(settings))]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await graphql.broker.disconnect()
            await Tortoise.close_connections()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(graphql.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def healthz(request: Request) -> JSONResponse:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/graphql", Admission(graphql, settings.max_concurrent_requests,
                                        max_body_bytes=settings.max_request_bytes,
                                        max_waiting=settings.max_queued_requests), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/.well-known/jwks.json", jwks),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
