"""The shape limits, on graphql-core's validator alone: root fields are counted through fragments,
and directives on every kind of node that carries them."""

from __future__ import annotations

from graphql import build_schema, parse, validate

from aim_identity.schema.core.limits import directive_limit, root_field_limit

SCHEMA = build_schema("type Query { a: Int b: Int c: Int }")


def refusals(query: str, rule) -> list[dict]:
    return [e.extensions for e in validate(SCHEMA, parse(query), [rule])]


def test_root_fields_count_through_fragments_and_aliases():
    rule = root_field_limit(3)
    assert refusals("{ a b ...F } fragment F on Query { c }", rule) == []
    assert refusals("{ a ... on Query { b } ...F } fragment F on Query { c x: a }", rule) == [
        {"code": "QUERY_TOO_COMPLEX", "limit": 3}
    ]
    assert refusals("{ a a b c }", rule) == [{"code": "QUERY_TOO_COMPLEX", "limit": 3}]


def test_each_operation_is_counted_on_its_own():
    rule = root_field_limit(2)
    assert refusals("query One { a b } query Two { b c }", rule) == []


def test_a_fragment_cycle_ends_the_count():
    # The cycle itself is for graphql-core's NoFragmentCyclesRule to report; counting it must end.
    query = "{ ...F } fragment F on Query { a ...G } fragment G on Query { b ...F }"
    assert refusals(query, root_field_limit(2)) == []
    assert refusals(query, root_field_limit(1)) == [{"code": "QUERY_TOO_COMPLEX", "limit": 1}]


def test_directives_are_limited_on_fields_spreads_and_inline_fragments():
    rule = directive_limit(2)
    two = "@include(if: true) @skip(if: false)"
    assert refusals(f"{{ a {two} ...F {two} ... on Query {two} {{ b }} }} fragment F on Query {{ c }}", rule) == []
    for query in (
        f"{{ a {two} @x }}",
        f"{{ ...F {two} @x }} fragment F on Query {{ c }}",
        f"{{ ... on Query {two} @x {{ b }} }}",
    ):
        assert refusals(query, rule) == [{"code": "QUERY_TOO_COMPLEX", "limit": 2}], query
