"""graphql-transport-ws at /graphql, for subscriptions only (queries and mutations go over HTTP).
Each subscription joins the process's shared fan-out, and each connection counts against its
principal's limit until it closes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from graphql import OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from aim_identity.schema.core.context import Context

if TYPE_CHECKING:
    from graphql import GraphQLFormattedError
    from strawberry.asgi import ASGIWebSocketAdapter
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage, ErrorMessage

    from aim_identity.delivery.endpoint import Endpoint
    from aim_identity.delivery.fanout import Fanout


class SubscriptionsOnly(BaseGraphQLTransportWSHandler[Context, None]):
    # What the endpoint hands its handlers: itself, and Strawberry's ASGI socket adapter.
    view: Endpoint
    websocket: ASGIWebSocketAdapter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscriptions: set[str] = set()
        self.closing: asyncio.Task | None = None

    @property
    def fanout(self) -> Fanout:
        assert self.view.fanout is not None  # set by the application's lifespan, before any connection
        return self.view.fanout

    async def handle_subscribe(self, message: Any) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        operation_id = message["id"]
        if operation_id in self.subscriptions:
            await self.websocket.close(code=4409, reason=f"Subscriber for {operation_id} already exists")
            return
        payload = message.get("payload") or {}
        problem = _problem(payload)
        limit = self.max_subscriptions_per_connection
        assert limit is not None  # the endpoint always sets one (ws_max_subscriptions)
        if problem is None and len(self.subscriptions) >= limit:
            problem = f"Subscription limit reached: {limit} per connection"
        if problem:
            # An error for this operation only; the connection and its other operations carry on.
            error: GraphQLFormattedError = {"message": problem, "extensions": {"code": "BAD_USER_INPUT"}}
            reply: ErrorMessage = {"id": operation_id, "type": "error", "payload": [error]}
            await self.send_message(reply)
            return
        self.subscriptions.add(operation_id)
        principal = self.context.principal
        assert principal is not None  # on_ws_connect acknowledged the connection for it
        self.fanout.join(self, operation_id, payload, principal)

    async def handle_complete(self, message: Any) -> None:
        self.subscriptions.discard(message["id"])
        self.fanout.leave(self, message["id"])

    async def send_frame(self, frame: str) -> None:
        await self.websocket.ws.send_text(frame)

    async def finish(self, operation_id: str, message: CompleteMessage | ErrorMessage) -> None:
        """The server ends a subscription: its id is free again, and the client hears why."""
        self.subscriptions.discard(operation_id)
        await self.send_message(message)

    def drop(self, reason: str) -> None:
        # Not awaited: closing waits for the same socket that stopped taking data.
        self.closing = self.closing or asyncio.create_task(self.websocket.close(code=1013, reason=reason))

    async def shutdown(self) -> None:
        await super().shutdown()
        for operation_id in self.subscriptions:
            self.fanout.leave(self, operation_id)
        self.subscriptions.clear()
        if self.closing is not None:
            self.closing.cancel()
        self.view.release(self.context)


def _problem(payload: dict) -> str | None:
    """Why a subscribe message cannot run, or None."""
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
