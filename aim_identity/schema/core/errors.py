"""Every error leaves with an `extensions.code` from the contract. Internal failures are logged with
a request id and, in production, masked so nothing internal reaches the caller."""

from __future__ import annotations

import logging
import uuid

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from aim_identity.errors import AimError

log = logging.getLogger("aim_identity.errors")

# The messages of the limits (depth, aliases, tokens, cost, and graphql-core's own validation budget),
# exact enough not to catch other errors ("Use different aliases" is a field conflict).
TOO_COMPLEX_MARKERS = (
    "exceeds maximum operation depth",
    "aliases found. Allowed",
    "Document contains more than",
    "query cost",
    "Validation aborted",
)


def shape(error: GraphQLError, mask: bool) -> GraphQLError:
    original = error.original_error
    if isinstance(original, AimError):
        error.extensions = dict(original.extensions)
    elif error.extensions and error.extensions.get("code"):
        pass
    elif original is None or error.path is None:
        # Problems with the document or its variables, found before anything ran.
        too_complex = any(marker in error.message for marker in TOO_COMPLEX_MARKERS)
        error.extensions = {"code": "QUERY_TOO_COMPLEX" if too_complex else "BAD_USER_INPUT"}
    else:
        request_id = uuid.uuid4().hex[:12]
        log.error("internal error %s at %s", request_id, error.path, exc_info=original)
        if mask:
            error = GraphQLError(
                f"Internal server error (request {request_id})", nodes=error.nodes, path=error.path, original_error=None
            )
        error.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    return error


class ErrorCodes(SchemaExtension):
    def __init__(self, *, mask: bool) -> None:
        self.mask = mask

    def on_operation(self):
        try:
            yield
        except GraphQLError as error:
            # Raised by another extension's hook, e.g. ParserCache's on_parse for a syntax error or too
            # many tokens: strawberry makes the result from the error itself, after this hook.
            raise shape(error, self.mask) from None
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shape(e, self.mask) for e in result.errors]
