"""The media type of a GraphQL answer over HTTP, as the GraphQL-over-HTTP specification has it: a
client that accepts `application/graphql-response+json` gets it, and with it status codes that tell
a request error (a document that does not parse or validate, variables that do not coerce: nothing
ran) from an answer; every other client gets `application/json`, whose status is 200. A request
body is JSON (`application/json`) or nothing at all."""

from __future__ import annotations

from strawberry.http.parse_content_type import parse_content_type
from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiated(accept: str | None) -> str | None:
    """The type to answer in: `application/graphql-response+json` when the Accept header ranks it at
    least as high as `application/json` (a wildcard counts for the latter, the traditional type);
    `application/json` with no Accept header; None when the header admits neither (406)."""
    if not (accept or "").strip():
        return JSON
    quality = {GRAPHQL_RESPONSE: 0.0, JSON: 0.0}
    for media_range in (accept or "").split(","):
        kind, *parameters = (part.strip() for part in media_range.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = kind.lower()
        if kind in quality:
            quality[kind] = max(quality[kind], q)
        elif kind in {"*/*", "application/*"}:
            quality[JSON] = max(quality[JSON], q)
    if quality[GRAPHQL_RESPONSE] > 0 and quality[GRAPHQL_RESPONSE] >= quality[JSON]:
        return GRAPHQL_RESPONSE
    return JSON if quality[JSON] > 0 else None


def readable(content_type: str | None) -> bool:
    """A POST body AIM reads: JSON, however the type is spelled (media types are case-insensitive,
    RFC 9110 section 8.3.1). (Strawberry would also take multipart uploads, which the contract has no
    use for.)"""
    return parse_content_type(content_type or "")[0].lower() == JSON


def request_error(result: ExecutionResult) -> bool:
    """Nothing was executed: no data, and no error belongs to a field (a field's error has a path)."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(not e.path for e in errors)
