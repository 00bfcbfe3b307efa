"""Query results kept per caller and per organization data version.

Dashboards ask the same questions over and over. Every transaction that changes what an organization's
callers can read bumps its data version (tenancy.touch), and authentication reads that version in the
query it makes anyway, so a result is reused only while nothing it could contain has changed, on any
replica. The key also holds the caller's identity and role, the document's digest, the operation and
the variables. Only queries are kept, and only results without errors, as the response body itself and
its cost: a repeated query costs authentication, a lookup and the charge of its cost to the caller's
budget (delivery/endpoint.py), whose status the answer then carries."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLError, Node, OperationType

from aim_identity.auth.principal import Principal
from aim_identity.schema.core import documents

# Fields whose answer changes with no write through AIM: a check of the audit table as it is now (a
# superuser could have changed it), and counts over a window that moves with the clock.
UNCACHED = frozenset({"verifyAuditChain", "securityMetrics"})


def _nodes(node: Node | DocumentNode) -> Iterator[Node]:
    yield node
    for key in node.keys:
        value = getattr(node, key, None)
        for child in value if isinstance(value, tuple | list) else (value,):
            if isinstance(child, Node):
                yield from _nodes(child)


@dataclass(frozen=True)
class Kept:
    body: bytes  # the answer without its extensions
    requested: int
    actual: int

    def answer(self, extensions: dict[str, Any]) -> bytes:
        return self.body[:-1] + b',"extensions":' + json.dumps(extensions, separators=(",", ":")).encode() + b"}"


class ResponseCache:
    def __init__(self, size: int, *, max_document_bytes: int, max_tokens: int) -> None:
        self.size = size
        self.max_document_bytes, self.max_tokens = max_document_bytes, max_tokens
        self._kept: OrderedDict[tuple, Kept] = OrderedDict()

    def key(
        self, principal: Principal | None, document: str | None, operation_name: str | None, variables: dict | None
    ) -> tuple | None:
        if not self.size or principal is None or principal.data_version is None or not document:
            return None
        if not self._is_query(document, operation_name):
            return None
        return (
            principal.organization_id,
            principal.data_version,
            principal.kind,
            principal.actor_id,
            principal.role,
            principal.must_enroll_mfa,
            hashlib.sha256(document.encode()).digest(),
            operation_name,
            json.dumps(variables, sort_keys=True, default=str),
        )

    def _is_query(self, document: str, operation_name: str | None) -> bool:
        """A query, and none that reads what a data version does not follow."""
        try:
            parsed = documents.parse(document, self.max_document_bytes, self.max_tokens)
        except GraphQLError:
            return False  # the whole way then says why
        operation = documents.operation(parsed, operation_name)
        if operation is None or operation.operation != OperationType.QUERY:
            return False
        return not any(isinstance(node, FieldNode) and node.name.value in UNCACHED for node in _nodes(parsed))

    def get(self, key: tuple) -> Kept | None:
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
        return kept

    def put(self, key: tuple, kept: Kept) -> None:
        self._kept[key] = kept
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
