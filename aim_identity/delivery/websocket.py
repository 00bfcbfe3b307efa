"""graphql-transport-ws at /graphql, for subscriptions only (queries and mutations go over HTTP).
Each subscription joins the process's shared fan-out, and each connection counts against its
principal's limit until it closes. A subscription is charged its requested cost when it starts, to its
principal's budget (schema/core/budget.py), and its start is audited (`subscription.start`, with its
fields and the operation's name) before it joins."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, FieldNode, OperationDefinitionNode, OperationType
from graphql.error import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from aim_identity.auth.principal import still_valid
from aim_identity.errors import RateLimited
from aim_identity.schema.core import documents
from aim_identity.schema.core.budget import budget_of
from aim_identity.schema.core.context import Context
from aim_identity.schema.core.cost import requested_cost
from aim_identity.unit_of_work import atomic

if TYPE_CHECKING:
    from graphql import GraphQLFormattedError
    from strawberry.asgi import ASGIWebSocketAdapter
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage, ErrorMessage

    from aim_identity.delivery.endpoint import Endpoint


class SubscriptionsOnly(BaseGraphQLTransportWSHandler[Context, None]):
    # What the endpoint hands its handlers: itself, and Strawberry's ASGI socket adapter.
    view: Endpoint
    websocket: ASGIWebSocketAdapter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscriptions: set[str] = set()
        self.refused = 0
        self.closing: asyncio.Task | None = None

    async def handle_subscribe(self, message: Any) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        operation_id = message["id"]
        if operation_id in self.subscriptions:
            await self.websocket.close(code=4409, reason=f"Subscriber for {operation_id} already exists")
            return
        principal = self.context.principal
        assert principal is not None  # on_ws_connect acknowledged the connection for it
        # The credential of connection_init may have been revoked, or its role changed, since: this
        # socket's principal is then no longer who the database says, and the socket ends.
        now = await still_valid(principal)
        if now is None or now.role != principal.role or now.must_enroll_mfa:
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        payload = message.get("payload") or {}
        subscription = self._subscription(payload)
        limit = self.max_subscriptions_per_connection
        assert limit is not None  # the endpoint always sets one (ws_max_subscriptions)
        # Refused subscribes count too: a socket cannot have documents parsed for it without end.
        if not isinstance(subscription, str) and len(self.subscriptions) + self.refused >= limit:
            subscription = f"Subscription limit reached: {limit} per connection"
        error: GraphQLFormattedError | None = None
        if isinstance(subscription, str):
            error = {"message": subscription, "extensions": {"code": "BAD_USER_INPUT"}}
        else:
            document, operation = subscription
            try:
                cost = requested_cost(self.view.fanout.schema._schema, document, operation)
                await self.view.throttle.spend(budget_of(principal), cost, self.view.settings.cost_budget)
            except RateLimited as refused:
                error = {"message": str(refused), "extensions": refused.extensions}
        if error is not None:
            self.refused += 1
            # An error for this operation only; the connection and its other operations carry on.
            reply: ErrorMessage = {"id": operation_id, "type": "error", "payload": [error]}
            await self.send_message(reply)
            return
        self.subscriptions.add(operation_id)  # before the audit's await: the id is taken from here on
        try:
            await self._audit_start(operation)
        except BaseException:
            self.subscriptions.discard(operation_id)
            raise
        if operation_id in self.subscriptions:  # not completed by the client meanwhile
            self.view.fanout.join(self, operation_id, payload, principal)

    async def _audit_start(self, operation: OperationDefinitionNode) -> None:
        async with atomic(self.context.actor) as work:
            work.audit(
                "subscription.start",
                fields=[s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)],
                operation=operation.name.value if operation.name else None,
            )

    def _subscription(self, payload: dict) -> tuple[DocumentNode, OperationDefinitionNode] | str:
        """The subscription a subscribe message asks for, or why it cannot run."""
        query = payload.get("query")
        if not isinstance(query, str):
            return "The subscribe payload needs a query"
        settings = self.view.settings
        try:
            document = documents.parse(query, settings.max_document_bytes, settings.max_tokens)
        except GraphQLError as exc:
            return exc.message
        if not isinstance(payload.get("variables") or {}, dict):
            return "variables must be an object"
        name = payload.get("operationName")
        operation = documents.operation(document, name)
        if operation is None:
            return f"Unknown operation named {name!r}" if name else "Name the operation to run"
        if operation.operation != OperationType.SUBSCRIPTION:
            return "Only subscriptions are served over WebSocket; send queries and mutations over HTTP"
        return document, operation

    async def handle_complete(self, message: Any) -> None:
        self.subscriptions.discard(message["id"])
        self.view.fanout.leave(self, message["id"])

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
            self.view.fanout.leave(self, operation_id)
        self.subscriptions.clear()
        if self.closing is not None:
            self.closing.cancel()
        self.view.release(self.context)
