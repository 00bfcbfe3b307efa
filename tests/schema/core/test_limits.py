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


def cost(graphql_schema, document: str) -> int:
    errors = cost_errors(graphql_schema, document, 0)
    return errors[0]["cost"] if errors else 0


def test_a_connection_without_first_counts_its_default_page(graphql_schema):
    assert cost(graphql_schema, "{ agents { edges { node { id } } } }") == 1 + 20 * 3


def test_nested_connections_without_first_multiply_their_default_pages(graphql_schema):
    document = """{ agents { edges { node { mcpServers { edges { node {
      agents { edges { node { mcpServers { edges { node { id } } } } } } } } } } } } }"""
    assert cost(graphql_schema, document) > 20**4


def test_a_list_of_its_own_size_counts_its_default_and_its_maximum(graphql_schema):
    one = "{ agents(first: 1) { edges { node { trustHistory%s { score } } } } }"
    assert cost(graphql_schema, one % "") == 1 + (1 + 1 + (1 + 50))  # trustHistory's default, 50
    assert cost(graphql_schema, one % "(first: 10000)") == 1 + (1 + 1 + (1 + 500))  # at most 500
    variable = "query($n: Int!) { agents(first: 1) { edges { node { trustHistory(first: $n) { score } } } } }"
    assert cost(graphql_schema, variable) == 1 + (1 + 1 + (1 + 500))


def test_unpaged_lists_count(graphql_schema):
    document = "{ agents(first: 1) { edges { node { capabilities { name } } } } }"
    assert cost(graphql_schema, document) == 1 + (1 + 1 + (1 + 20))


def test_fragments_on_an_interface_count_each(graphql_schema):
    document = """query($id: ID!) { node(id: $id) { id
      ... on Agent { mcpServers { edges { node { id } } } }
      ... on MCPServer { agents { edges { node { id } } } } } }"""
    assert cost(graphql_schema, document) == 1 + 1 + (1 + 20 * 3) * 2
