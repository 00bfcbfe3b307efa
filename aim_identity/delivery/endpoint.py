"""The /graphql endpoint: Strawberry's ASGI view with AIM's context, one authentication per request,
the response cache's early answer, and WebSocket connections counted per principal."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import strawberry
from cross_web import HTTPException, StarletteRequestAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from aim_identity.auth.keyring import Keyring
from aim_identity.auth.principal import Principal, authenticate
from aim_identity.config import Settings
from aim_identity.delivery import media
from aim_identity.delivery.fanout import Fanout
from aim_identity.delivery.response_cache import Kept, ResponseCache
from aim_identity.delivery.websocket import SubscriptionsOnly
from aim_identity.errors import AimError, Forbidden, RateLimited
from aim_identity.mail import Mailer
from aim_identity.schema.core.budget import budget_of, cost_extension
from aim_identity.schema.core.context import Context
from aim_identity.security.blocklist import Blocklist
from aim_identity.throttle import Throttle


def client_ip(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None


class _Request(StarletteRequestAdapter):
    """Strawberry compares the request's media type as it is written; AIM reads `Application/JSON` as
    the JSON it is (media types are case-insensitive)."""

    @property
    def content_type(self) -> str | None:
        written = super().content_type
        return written.lower() if written else written


class Endpoint(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SubscriptionsOnly
    request_adapter_class = _Request

    def __init__(self, schema: strawberry.Schema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=not settings.production,
            allowed_origins=settings.allowed_origins,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
        )
        self.settings = settings
        self.connections: Counter[str] = Counter()
        self.responses = ResponseCache(
            settings.response_cache_size, max_document_bytes=settings.max_document_bytes, max_tokens=settings.max_tokens
        )

    def start(self, keyring: Keyring, fanout: Fanout, throttle: Throttle, mailer: Mailer, blocklist: Blocklist) -> None:
        """What the application's lifespan provides once the database and the broker are up, before the
        first request."""
        self.keyring, self.fanout, self.throttle, self.mailer = keyring, fanout, throttle, mailer
        self.blocklist = blocklist

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        principal, credential_error = await self._caller(request) if isinstance(request, Request) else (None, None)
        return Context(
            settings=self.settings,
            keyring=self.keyring,
            principal=principal,
            credential_error=credential_error,
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            request=request,
            response=response,
            throttle=self.throttle,
            mailer=self.mailer,
            blocklist=self.blocklist,
        )

    async def _caller(self, request: Request) -> tuple[Principal | None, AimError | None]:
        """Authenticates once per request: the response cache and the context share the answer."""
        if not hasattr(request.state, "caller"):
            try:
                request.state.caller = (
                    await authenticate(request.headers, client_ip(request), self.keyring, self.settings),
                    None,
                )
            except AimError as error:  # reported as a GraphQL error by whatever field needs a caller
                request.state.caller = (None, error)
        return request.state.caller

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if not isinstance(request, Request):
            return await super().run(request, context, root_value)
        if await self.blocklist.blocked(client_ip(request)):
            error = Forbidden("Requests from this address are blocked")
            return JSONResponse(
                {"data": None, "errors": [{"message": str(error), "extensions": error.extensions}]}, 403
            )
        accept = request.headers.get("accept")
        answer_in = media.negotiated(accept)
        if answer_in is None and not (request.method == "GET" and self.graphql_ide and "text/html" in (accept or "")):
            return PlainTextResponse(f"Answers are {media.GRAPHQL_RESPONSE} or {media.JSON}", 406)
        request.state.media = answer_in or media.JSON
        if request.method == "POST" and not media.readable(request.headers.get("content-type")):
            return PlainTextResponse(f"POST a JSON body (Content-Type: {media.JSON})", 415)
        # POST only: in production a GET query is refused, and a cached answer must not skip that.
        if request.method == "POST" and self.responses.size:
            body = await self._cached_body(request)
            if body is not None:
                return Response(body, media_type=request.state.media)
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as error:
            if isinstance(error.__cause__, InvalidOperationTypeError) and request.method == "GET":
                return PlainTextResponse(error.reason, 405, headers={"Allow": "POST"})
            raise
        if request.state.media == media.GRAPHQL_RESPONSE and response.headers.get("content-type") == media.JSON:
            response.headers["content-type"] = media.GRAPHQL_RESPONSE
            if getattr(request.state, "request_error", False) and response.status_code == 200:
                response.status_code = 400  # a refusal of the budget keeps its 429
        return response

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if isinstance(request, Request) and media.request_error(result):
            request.state.request_error = True
            if request.state.media == media.GRAPHQL_RESPONSE:
                processed.pop("data", None)  # the specification: no `data` entry when nothing ran
        return processed

    async def _cached_body(self, request: Request) -> bytes | None:
        """A repeated query's response, found before any GraphQL machinery runs. Anything unusual
        (a batch, extensions, a malformed body) goes the whole way instead."""
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
        kept = self.responses.get(key) if key else None
        if kept is None:
            return None
        assert principal is not None  # only a signed-in caller's answers are kept
        try:
            allowance = await self.throttle.spend(budget_of(principal), kept.requested, self.settings.cost_budget)
        except RateLimited:
            return None  # the whole way refuses it, with its status and headers
        status = allowance.as_extension() if allowance else None
        return kept.answer({"cost": cost_extension(kept.requested, kept.actual, status)})

    async def execute_single(
        self, request: Any, request_adapter: Any, sub_response: Any, context: Any, root_value: Any, request_data: Any
    ) -> Any:
        result = await super().execute_single(request, request_adapter, sub_response, context, root_value, request_data)
        key = (
            self.responses.key(
                context.principal, request_data.query, request_data.operation_name, request_data.variables
            )
            if request_adapter.method == "POST"
            else None
        )
        extensions = dict(result.extensions or {})
        cost = extensions.pop("cost", None)
        if key and not result.errors and cost is not None and not extensions:
            body = self.encode_json({"data": result.data})
            self.responses.put(
                key,
                Kept(
                    body if isinstance(body, bytes) else body.encode(),
                    cost["requestedQueryCost"],
                    cost["actualQueryCost"],
                ),
            )
        return result

    async def on_ws_connect(self, context: Context) -> None:
        if await self.blocklist.blocked(context.ip_address):
            raise ConnectionRejectionError({"reason": "requests from this address are blocked"})
        try:
            principal = await authenticate(
                context.connection_params or {}, context.ip_address, self.keyring, self.settings
            )
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
