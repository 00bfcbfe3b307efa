"""Validation: production's limits first and alone, no suggestions when asked, one validation per
document."""

from __future__ import annotations

from graphql import build_schema, parse

from aim_identity.schema.core.limits import directive_limit
from aim_identity.schema.core.validation import validator

SCHEMA = build_schema("type Query { agents: Int agent: Int }")


def test_a_document_past_a_limit_gets_that_error_alone():
    validated = validator(limits=[directive_limit(2)])
    repeated = parse("{ agents " + "@include(if: true) " * 300 + "}")
    assert [e.extensions for e in validated(SCHEMA, repeated)] == [{"code": "QUERY_TOO_COMPLEX", "limit": 2}]
    # Without the limit graphql-core reports each repeat until it gives up.
    assert len(validator()(SCHEMA, repeated)) > 100


def test_suggestions_are_left_out_when_asked():
    document = parse("{ agentz }")
    [suggested] = validator()(SCHEMA, document)
    [plain] = validator(hide_suggestions=True)(SCHEMA, document)
    assert "Did you mean 'agent' or 'agents'?" in suggested.message
    assert plain.message == "Cannot query field 'agentz' on type 'Query'."


def test_a_document_is_validated_once():
    validated = validator()
    document = parse("{ agentz }")
    assert validated(SCHEMA, document) is validated(SCHEMA, document)
