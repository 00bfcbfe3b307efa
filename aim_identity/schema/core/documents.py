"""Parsing a GraphQL document, bounded before it is parsed: a document over the size limit is refused
unread, and parsing stops at the token limit. Every path that parses (HTTP, the response cache's
early answer, a WebSocket `subscribe`) comes here, so none of them can be made to lex a megabyte.
Parsed documents are kept by the SHA-256 of their text, so the cache never holds a large text itself."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from graphql import parse as parse_graphql
from strawberry.extensions import SchemaExtension

KEPT = 1024
_parsed: OrderedDict[tuple[bytes, int], DocumentNode] = OrderedDict()


def parse(text: str, max_bytes: int, max_tokens: int) -> DocumentNode:
    """The document, or GraphQLError: QUERY_TOO_COMPLEX past a limit, a syntax error otherwise."""
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise GraphQLError(
            f"The document is over the limit of {max_bytes} bytes",
            extensions={"code": "QUERY_TOO_COMPLEX", "limit": max_bytes},
        )
    key = (hashlib.sha256(text.encode()).digest(), max_tokens)
    document = _parsed.get(key)
    if document is None:
        document = _parsed[key] = parse_graphql(text, max_tokens=max_tokens)
        if len(_parsed) > KEPT:
            _parsed.popitem(last=False)
    else:
        _parsed.move_to_end(key)
    return document


def operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the one named, or the only one; None if that is not one operation."""
    chosen = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and (name is None or (d.name is not None and d.name.value == name))
    ]
    return chosen[0] if len(chosen) == 1 else None


class BoundedParser(SchemaExtension):
    """Strawberry's parse step, through `parse`."""

    def __init__(self, *, max_bytes: int, max_tokens: int) -> None:
        self.max_bytes, self.max_tokens = max_bytes, max_tokens

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            context.graphql_document = parse(context.query, self.max_bytes, self.max_tokens)
        yield
