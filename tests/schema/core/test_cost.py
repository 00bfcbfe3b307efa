"""Query cost: requested, from the document and the schema before anything runs; actual, from the
answer."""

from __future__ import annotations

import pytest
from graphql import parse

from aim_identity.api import build_schema
from aim_identity.config import Settings
from aim_identity.schema.core.cost import actual_cost, requested_cost
from aim_identity.schema.core.documents import operation

SCHEMA = build_schema(Settings(env="development"))._schema


@pytest.fixture(scope="module")
def graphql_schema():
    return SCHEMA


def cost(graphql_schema, document: str) -> int:
    parsed = parse(document)
    return requested_cost(graphql_schema, parsed, operation(parsed, None))


def spent(document: str, data: dict) -> int:
    parsed = parse(document)
    return actual_cost(SCHEMA, parsed, operation(parsed, None), data)


def test_a_page_multiplies_what_it_selects(graphql_schema):
    document = "{ agents(first: 10) { edges { node { id name } } } }"
    # agents 1 + edges (1 + 10 * (node 1 + id 1 + name 1))
    assert cost(graphql_schema, document) == 32


def test_fragments_count_where_they_are_spread(graphql_schema):
    document = """{ agents(first: 10) { edges { node { ...f } } } } fragment f on Agent { id name }"""
    assert cost(graphql_schema, document) == 32


def test_a_page_size_from_a_variable_counts_as_the_largest_page(graphql_schema):
    document = "query($n: Int) { agents(first: $n) { edges { node { id } } } }"
    assert cost(graphql_schema, document) == 1 + 1 + 100 * 2


def test_a_connections_count_and_page_info_are_not_multiplied_by_its_page(graphql_schema):
    document = "{ agents(first: 50) { totalCount pageInfo { hasNextPage } edges { node { id } } } }"
    assert cost(graphql_schema, document) == 1 + 1 + (1 + 1) + (1 + 50 * 2)


def test_a_connection_without_first_counts_its_default_page(graphql_schema):
    assert cost(graphql_schema, "{ agents { edges { node { id } } } }") == 1 + 1 + 20 * 2


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
    assert cost(graphql_schema, document) == 1 + 1 + (1 + 1 + 20 * 2) * 2


def test_mutations_and_heavy_root_fields_weigh_more(graphql_schema):
    assert cost(graphql_schema, "mutation { logout(input: {}) { ok } }") == 10 + 1
    assert cost(graphql_schema, "{ verifyAuditChain { valid } }") == 200 + 1
    login = 'mutation { login(input: {email: "a@b.c", password: "p"}) { accessToken user { id } } }'
    assert cost(graphql_schema, login) == 10 + 1 + (1 + 1)


def test_the_actual_cost_counts_the_items_the_answer_holds():
    document = "{ agents(first: 20) { totalCount edges { node { id name } } } }"
    three = {"agents": {"totalCount": 3, "edges": [{"node": {"id": str(n), "name": "a"}} for n in range(3)]}}
    # agents 1 + totalCount 1 + edges 1 + 3 * (node 1 + id 1 + name 1)
    assert spent(document, three) == 1 + 1 + 1 + 3 * 3
    assert spent(document, {"agents": {"totalCount": 0, "edges": []}}) == 3
    assert spent(document, {"agents": None}) == 1  # a field that failed costs itself


def test_the_actual_cost_follows_aliases_fragments_and_weights():
    document = """mutation { a: logout(input: {}) { ok } b: logout(input: {}) { ok } }"""
    assert spent(document, {"a": {"ok": True}, "b": {"ok": True}}) == 2 * (10 + 1)
    document = """query($id: ID!) { node(id: $id) { id ... on Agent { name ...more } } }
      fragment more on Agent { status }"""
    assert spent(document, {"node": {"id": "x", "name": "n", "status": "ACTIVE"}}) == 1 + 3
    # Only the fragments that applied to the item are in the answer.
    assert spent(document, {"node": {"id": "x"}}) == 1 + 1


def test_the_actual_cost_is_at_most_the_requested_for_a_full_page(graphql_schema):
    document = "{ agents(first: 2) { edges { node { id name } } } }"
    full = {"agents": {"edges": [{"node": {"id": "1", "name": "a"}}, {"node": {"id": "2", "name": "b"}}]}}
    assert spent(document, full) <= cost(graphql_schema, document)
