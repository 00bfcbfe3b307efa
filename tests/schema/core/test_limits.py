"""Query cost, computed from the document alone before anything runs."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from aim_identity.api import build_schema
from aim_identity.config import Settings
from aim_identity.schema.core.limits import cost_limit


@pytest.fixture(scope="module")
def graphql_schema():
    return build_schema(Settings(env="development"))._schema


def cost_errors(graphql_schema, document: str, budget: int) -> list[dict]:
    errors = validate(graphql_schema, parse(document), [cost_limit(budget)])
    return [e.extensions for e in errors]


def test_a_page_multiplies_what_it_selects(graphql_schema):
    document = "{ agents(first: 10) { edges { node { id name } } } }"
    # agents 1 + 10 * (edges 1 + node 1 + id 1 + name 1)
    assert cost_errors(graphql_schema, document, 41) == []
    assert cost_errors(graphql_schema, document, 40) == [{"code": "QUERY_TOO_COMPLEX", "cost": 41, "limit": 40}]


def test_fragments_count_where_they_are_spread(graphql_schema):
    document = """{ agents(first: 10) { edges { node { ...f } } } } fragment f on Agent { id name }"""
    assert cost_errors(graphql_schema, document, 40)[0]["cost"] == 41


def test_a_page_size_from_a_variable_counts_as_the_largest_page(graphql_schema):
    document = "query($n: Int) { agents(first: $n) { edges { node { id } } } }"
    assert cost_errors(graphql_schema, document, 1)[0]["cost"] == 1 + 100 * 3
