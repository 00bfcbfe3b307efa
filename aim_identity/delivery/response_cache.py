"""Query results kept per caller and per organization data version.

Dashboards ask the same questions over and over. Every transaction that changes what an organization's
callers can read bumps its data version (tenancy.touch), and authentication reads that version in the
query it makes anyway, so a result is reused only while nothing it could contain has changed, on any
replica. The key also holds the caller's identity and role, the document, the operation and the
variables. Only queries are kept, and only results without errors, as the response body itself: a
repeated query costs authentication and a lookup (app.AimGraphQL.run)."""

from __future__ import annotations

import json
from collections import OrderedDict
from functools import lru_cache

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from aim_identity.auth.principal import Principal


@lru_cache(maxsize=1024)
def is_query(document: str, operation_name: str | None) -> bool:
    try:
        definitions = parse(document).definitions
    except GraphQLError:
        return False
    operations = [
        d
        for d in definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name and d.name.value == operation_name))
    ]
    return len(operations) == 1 and operations[0].operation == OperationType.QUERY


class ResponseCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._bodies: OrderedDict[tuple, bytes] = OrderedDict()

    def key(
        self, principal: Principal | None, document: str | None, operation_name: str | None, variables: dict | None
    ) -> tuple | None:
        if (
            not self.size
            or principal is None
            or principal.data_version is None
            or not document
            or not is_query(document, operation_name)
        ):
            return None
        return (
            principal.organization_id,
            principal.data_version,
            principal.kind,
            principal.actor_id,
            principal.role,
            document,
            operation_name,
            json.dumps(variables, sort_keys=True, default=str),
        )

    def get(self, key: tuple) -> bytes | None:
        body = self._bodies.get(key)
        if body is not None:
            self._bodies.move_to_end(key)
        return body

    def put(self, key: tuple, body: bytes) -> None:
        self._bodies[key] = body
        if len(self._bodies) > self.size:
            self._bodies.popitem(last=False)
