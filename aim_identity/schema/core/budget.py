"""Each request's query cost, weighed before it runs, charged to its caller's budget and reported.

Before execution the requested cost (schema/core/cost.py) is computed; in production a request over
AIM_MAX_QUERY_COST is refused, and every request's cost is taken from its caller's budget
(AIM_COST_BUDGET, throttle.py): a user, an API key or an agent, and the address of a caller who is not
signed in. A request the budget cannot pay runs nothing: RATE_LIMITED, HTTP 429 and Retry-After. Every
answer to a query or a mutation carries, as Shopify's API does,

    "extensions": {"cost": {"requestedQueryCost": 63, "actualQueryCost": 12,
                            "throttleStatus": {"maximumAvailable": 100000, "currentlyAvailable": 99937,
                                               "windowSeconds": 60}}}

The budget is charged the requested cost, the most the request could have read, so that what a caller
may run is known before it runs; the actual cost says what the answer did read. A subscription is
charged once, when it starts. While the budget's store (Redis) is unreachable, requests are served
uncounted and their answers carry no throttle status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from aim_identity.auth.principal import Principal
from aim_identity.errors import QueryTooComplex, RateLimited
from aim_identity.schema.core import documents
from aim_identity.schema.core.cost import actual_cost, requested_cost


def budget_of(principal: Principal) -> str:
    return f"{principal.kind}:{principal.actor_id}"


def payer(principal: Principal | None, address: str | None) -> str | None:
    """Whose budget a request is charged to."""
    if principal is not None:
        return budget_of(principal)
    return f"address:{address}" if address else None


def cost_extension(requested: int, actual: int, throttle_status: dict[str, Any] | None) -> dict[str, Any]:
    cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": actual}
    if throttle_status is not None:
        cost["throttleStatus"] = throttle_status
    return cost


class QueryCost(SchemaExtension):
    def __init__(self, *, maximum: int | None, budget: str) -> None:
        self.maximum, self.budget = maximum, budget
        self.requested: int | None = None
        self.document: DocumentNode | None = None
        self.operation: OperationDefinitionNode | None = None
        self.throttle_status: dict[str, Any] | None = None
        self.subscription = False

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        assert document is not None  # validated already
        operation = documents.operation(document, execution.operation_name)
        assert operation is not None
        self.document, self.operation = document, operation
        self.subscription = operation.operation == OperationType.SUBSCRIPTION
        self.requested = requested_cost(execution.schema._schema, document, operation)
        if self.maximum is not None and self.requested > self.maximum:
            raise _error(
                QueryTooComplex(
                    f"The query cost {self.requested} is over the limit of {self.maximum}",
                    cost=self.requested,
                    limit=self.maximum,
                )
            )
        await self._charge(execution.context, self.requested)
        yield

    async def _charge(self, context: Any, cost: int) -> None:
        caller = payer(context.principal, context.ip_address)
        # No throttle: a fan-out group's run, whose members were charged as they subscribed.
        if caller is None or context.throttle is None:
            return
        try:
            allowance = await context.throttle.spend(caller, cost, self.budget)
        except RateLimited as refused:
            self.throttle_status = cast(dict[str, Any], refused.extensions["throttleStatus"])
            if isinstance(context.response, Response):
                context.response.status_code = 429
                context.response.headers["Retry-After"] = str(refused.extensions["retryAfter"])
            raise _error(refused) from None
        self.throttle_status = allowance.as_extension() if allowance else None

    def get_results(self) -> dict[str, Any]:
        if self.requested is None or self.document is None or self.operation is None or self.subscription:
            return {}
        result = self.execution_context.result
        data = result.data if result is not None else None
        actual = actual_cost(self.execution_context.schema._schema, self.document, self.operation, data)
        return {"cost": cost_extension(self.requested, actual, self.throttle_status)}


def _error(error: QueryTooComplex | RateLimited) -> GraphQLError:
    """Raised from a hook, a GraphQLError reaches ErrorCodes, which gives it the AimError's code."""
    return GraphQLError(str(error), original_error=error)
