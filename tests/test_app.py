"""Production hardening, against a real production server: `aimctl serve` with AIM_ENV=production in a
process of its own, on a database of its own (so that one test can break it on purpose).

It refuses introspection, the IDE, GET, batches, bodies that are not JSON and documents over each
limit (each tested at the limit and one past it), suggests no names, sends the security headers, and
masks internal errors. The development server (the `url` fixture) is the control."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import pytest_asyncio
import websockets
from graphql.language import Lexer, Source, TokenKind

from aim_identity.config import Settings
from tests.servers import Served, serving
from tests.support import Api, Org, create_agent, register, verify

# Not the defaults, so the tests also prove each AIM_MAX_* variable is read.
LIMITS = {
    "AIM_MAX_QUERY_DEPTH": 10,
    "AIM_MAX_ALIASES": 15,
    "AIM_MAX_ROOT_FIELDS": 16,
    "AIM_MAX_DIRECTIVES": 2,
    "AIM_MAX_TOKENS": 1500,
    "AIM_MAX_DOCUMENT_BYTES": 16384,
    "AIM_MAX_REQUEST_BYTES": 32768,
    "AIM_MAX_QUERY_COST": 3000,
}
INTROSPECTION = "{ __schema { types { name } } }"


@dataclass
class Production(Served):
    org: Org  # has one agent, verified once: deep queries have something to go deep into


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def production(settings: Settings, tmp_path_factory) -> AsyncIterator[Production]:
    work = tmp_path_factory.mktemp("production")
    # The tests open their organizations by `register`.
    async with serving(settings, work, AIM_ENV="production", AIM_REGISTRATION="open", **LIMITS) as served:
        org = await register(served.url)
        agent = await create_agent(org.admin.api)
        assert (await verify(Api(served.url), agent))["verified"]
        yield Production(served.url, served.database_url, served.log, org)


async def post(url: str, query: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        response = await client.post(url, json={"query": query}, headers=headers)
    return response.json()


def codes(body: dict) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


# ---- introspection and the IDE


async def test_introspection_is_refused_in_production(production: Production):
    for query in (INTROSPECTION, '{ __type(name: "Agent") { fields { name } } }'):
        body = await post(production.url, query)
        assert body.get("errors"), body
        assert not body.get("data"), body
        assert "introspection" in body["errors"][0]["message"].lower()
    # __typename is not introspection of the schema and stays allowed.
    assert (await post(production.url, "{ __typename }"))["data"] == {"__typename": "Query"}


async def test_introspection_works_in_development(anonymous: Api):
    data = await anonymous(INTROSPECTION)
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Agent", "AgentConnection", "Query", "Mutation"} <= names


async def test_graphiql_is_not_served_in_production(production: Production, url: str):
    async with httpx.AsyncClient() as client:
        development = await client.get(url, headers={"Accept": "text/html"})
        served = await client.get(production.url, headers={"Accept": "text/html"})
    # The control: development serves the IDE, so the request below is the one that would get it.
    assert development.status_code == 200 and "graphiql" in development.text.lower()
    assert served.status_code == 406, served.status_code  # nothing AIM answers in is acceptable
    assert "graphiql" not in served.text.lower()
    assert not served.headers.get("content-type", "").startswith("text/html")


# ---- GET


async def test_get_is_refused_in_production(production: Production):
    async with httpx.AsyncClient() as client:
        for query in (
            'mutation { register(input: {email: "a@b.c", password: "pw-pw-pw-pw-pw", name: "A", '
            'organizationName: "A"}) { accessToken } }',
            "{ __typename }",
        ):
            response = await client.get(production.url, params={"query": query})
            assert response.status_code in (400, 405), (query, response.status_code, response.text)
            assert "accessToken" not in response.text and '__typename":' not in response.text


async def test_mutation_via_get_is_refused_in_development(url: str):
    mutation = "mutation { logout(input: {}) { ok } }"
    async with httpx.AsyncClient() as client:
        query = await client.get(url, params={"query": "{ __typename }"})
        refused = await client.get(url, params={"query": mutation})
    assert query.status_code == 200 and query.json()["data"] == {"__typename": "Query"}
    assert refused.status_code == 405 and refused.headers["allow"] == "POST", refused.text
    assert "data" not in refused.text


# ---- document limits

ROOT = ["agents(first: 1)", "edges", "node"]
CYCLE = ["verificationEvents(first: 1)", "edges", "node", "agent"]
LEAF = {"edges": "cursor", "node": "id", "agent": "id"}


def nested(levels: int) -> str:
    """A query `levels` fields deep: agents > edges > node > (verificationEvents > edges > node > agent)*"""
    fields = (ROOT + CYCLE * levels)[: levels - 1]
    query = LEAF.get(fields[-1], "totalCount")
    for field in reversed(fields):
        query = f"{field} {{ {query} }}"
    return "{ " + query + " }"


async def test_depth_limit(production: Production):
    token = production.org.admin.api.token
    limit = LIMITS["AIM_MAX_QUERY_DEPTH"]
    # The limiter counts the root field as depth 0: a limit of 10 allows 11 nested fields.
    at_limit = await post(production.url, nested(limit + 1), token)
    assert not at_limit.get("errors"), at_limit
    assert at_limit["data"]["agents"]["edges"][0]["node"]["verificationEvents"]["edges"]  # it went deep
    too_deep = await post(production.url, nested(limit + 2), token)
    assert codes(too_deep) == ["QUERY_TOO_COMPLEX"], too_deep
    assert not too_deep.get("data")


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{n}: viewer {{ id }}" for n in range(count)) + " }"


async def at_and_past(production: Production, document: Callable[[int], str], limit: int) -> tuple[dict, dict]:
    """The answers to `document(limit)`, which must run, and to `document(limit + 1)`, which must be
    refused as QUERY_TOO_COMPLEX with nothing run."""
    token = production.org.admin.api.token
    at_limit = await post(production.url, document(limit), token)
    assert not at_limit.get("errors"), at_limit
    past = await post(production.url, document(limit + 1), token)
    assert codes(past) == ["QUERY_TOO_COMPLEX"], past
    assert not past.get("data")
    return at_limit, past


async def test_alias_limit(production: Production):
    at_limit, _ = await at_and_past(production, aliased, LIMITS["AIM_MAX_ALIASES"])
    assert len(at_limit["data"]) == LIMITS["AIM_MAX_ALIASES"]


def rooted(count: int) -> str:
    """`count` root fields, one of them through a fragment, with no more aliases than the limit."""
    aliases = " ".join(f"a{n}: viewer {{ id }}" for n in range(count - 2))
    return f"{{ viewer {{ id }} {aliases} ...Org }} fragment Org on Query {{ organization {{ id }} }}"


async def test_root_field_limit(production: Production):
    limit = LIMITS["AIM_MAX_ROOT_FIELDS"]
    at_limit, past = await at_and_past(production, rooted, limit)
    assert len(at_limit["data"]) == limit
    assert past["errors"][0]["extensions"]["limit"] == limit


def directed(count: int) -> str:
    directives = ["@include(if: true)", "@skip(if: false)"] * count
    return "{ viewer " + " ".join(directives[:count]) + " { id } }"


async def test_directive_limit(production: Production):
    at_limit, _ = await at_and_past(production, directed, LIMITS["AIM_MAX_DIRECTIVES"])
    assert at_limit["data"]["viewer"]["id"]
    # Far past it, the caller hears of the limit alone, not of each repeated directive.
    far_past = await post(production.url, directed(300), production.org.admin.api.token)
    assert codes(far_past) == ["QUERY_TOO_COMPLEX"] and not far_past.get("data")


async def test_a_subscription_past_a_limit_is_refused(production: Production):
    async with websockets.connect(
        production.url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"]
    ) as socket:
        token = production.org.admin.api.token
        await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        query = "subscription { securityEvents @include(if: true) @skip(if: false) @include(if: true) { kind } }"
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert reply["type"] == "error" and [e["extensions"]["code"] for e in reply["payload"]] == ["QUERY_TOO_COMPLEX"]


async def test_no_error_suggests_a_name(production: Production, org: Org, url: str):
    """Introspection is off in production, so no error may name what a near miss was near."""
    misses = [
        ("{ agentz { totalCount } }", None),
        ("{ agents(frist: 1) { totalCount } }", None),
        ("{ agents(first: 1, filter: {statuss: []}) { totalCount } }", None),
        ("query($s: [AgentStatuz!]) { agents(first: 1, filter: {status: $s}) { totalCount } }", None),
        # Found while coercing the variables, at execution rather than validation.
        ("query($f: AgentFilter) { agents(first: 1, filter: $f) { totalCount } }", {"f": {"statuss": []}}),
    ]
    async with httpx.AsyncClient() as client:
        for query, variables in misses:
            body = {"query": query, "variables": variables}
            answers = [
                (await client.post(target, json=body, headers={"Authorization": f"Bearer {token}"})).json()
                for target, token in ((production.url, production.org.admin.api.token), (url, org.admin.api.token))
            ]
            production_answer, development_answer = answers
            assert set(codes(production_answer)) == {"BAD_USER_INPUT"}, production_answer
            assert "Did you mean" not in str(production_answer), production_answer
            assert "Did you mean" in str(development_answer), development_answer  # the control


async def test_security_headers(production: Production, url: str):
    async with httpx.AsyncClient() as client:
        answers = [
            await client.post(production.url, json={"query": "{ __typename }"}),
            await client.get(production.url.replace("/graphql", "/.well-known/jwks.json")),
            await client.post(production.url, content=b"{", headers={"Content-Type": "text/plain"}),
        ]
        development = await client.get(url, headers={"Accept": "text/html"})
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cross-origin-opener-policy"] == "same-origin"
        assert answer.headers["strict-transport-security"].startswith("max-age=63072000")
        assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    # Development serves GraphiQL's page, which a content policy of 'none' would break; it still
    # refuses framing and sniffing, and sends no HSTS for a server on plain HTTP.
    assert "graphiql" in development.text.lower()
    assert development.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in development.headers
    assert "content-security-policy" not in development.headers
    assert answers[1].headers["cache-control"] == "public, max-age=300"  # its own headers are kept


async def test_a_batch_is_refused(production: Production):
    async with httpx.AsyncClient() as client:
        response = await client.post(production.url, json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert response.status_code == 400 and "__typename" not in response.text


async def test_only_json_bodies_are_read(production: Production):
    """A browser page on another site can POST a form or text/plain without a preflight: AIM reads
    neither, so such a request runs nothing (here, the sign-up it carries)."""
    email = f"csrf-{os.urandom(4).hex()}@example.com"
    mutation = (
        f'mutation {{ register(input: {{email: "{email}", password: "pw-pw-pw-pw-pw-1", name: "C", '
        f'organizationName: "C {email}"}}) {{ accessToken }} }}'
    )
    body = json.dumps({"query": mutation})
    async with httpx.AsyncClient() as client:
        refused = [
            await client.post(production.url, content=body, headers={"Content-Type": "text/plain"}),
            await client.post(production.url, data={"query": mutation}),
            await client.post(production.url, files={"operations": (None, body)}),
        ]
        afterwards = await client.post(production.url, json={"query": mutation})
    assert [r.status_code for r in refused] == [415, 415, 415]
    assert afterwards.json()["data"]["register"]["accessToken"]  # the address was still free


def token_count(query: str) -> int:
    lexer, count = Lexer(Source(query)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def with_tokens(count: int) -> str:
    """A valid query of exactly `count` tokens: an agent filter with a long list of statuses."""
    query = "{{ agents(first: 1, filter: {{status: [{}]}}) {{ totalCount }} }}"
    padding = count - token_count(query.format(""))
    text = query.format(" ".join(["PENDING"] * padding))
    assert token_count(text) == count
    return text


async def test_token_limit(production: Production):
    await at_and_past(production, with_tokens, LIMITS["AIM_MAX_TOKENS"])


async def test_validation_budget_is_query_too_complex(production: Production, org: Org):
    """Under every limit of ours, yet too much work for the validator (each repeated field is compared
    with every other): graphql-core gives up, and the caller learns the document is too complex."""
    query = "{ viewer { " + "id " * 1400 + "} }"
    assert token_count(query) < LIMITS["AIM_MAX_TOKENS"]
    body = await post(production.url, query, production.org.admin.api.token)
    assert "QUERY_TOO_COMPLEX" in codes(body), body
    assert not body.get("data")
    assert await org.admin.api.error(query) == "QUERY_TOO_COMPLEX"


async def test_other_document_errors_are_bad_user_input(production: Production, org: Org, url: str):
    """Only the limits are QUERY_TOO_COMPLEX; a syntax error or a field conflict (whose message
    mentions aliases) is the caller's mistake, in either environment."""
    conflict = "{ a: agents(first: 1) { totalCount } a: agents(first: 2) { totalCount } }"
    for query in ("{ viewer { id }", conflict, "{ nope }"):
        assert codes(await post(production.url, query, production.org.admin.api.token)) == ["BAD_USER_INPUT"]
        assert codes(await post(url, query, org.admin.api.token)) == ["BAD_USER_INPUT"]


EXPENSIVE = """{ agents(first: 100) { edges { node {
  verificationEvents(first: 100) { edges { node { id } } } } } } }"""
AFFORDABLE = """{ agents(first: 100) { edges { node {
  verificationEvents(first: 5) { edges { node { id } } } } } } }"""


def costing(extra: str = "") -> str:
    """Exactly the cost limit, 3000: 14 pages of 100 agents at 1 + 1 + 100 * 2 each, and one of 85."""
    pages = [f"a{n}: agents(first: 100) {{ edges {{ node {{ id }} }} }}" for n in range(14)]
    pages.append("a14: agents(first: 85) { edges { node { id } } }")
    return "{ " + " ".join(pages) + f" {extra} }}"


async def test_cost_limit_at_and_past_it(production: Production):
    token = production.org.admin.api.token
    assert LIMITS["AIM_MAX_QUERY_COST"] == 3000
    at_limit = await post(production.url, costing(), token)
    assert not at_limit.get("errors"), at_limit
    assert at_limit["extensions"]["cost"]["requestedQueryCost"] == 3000
    past = await post(production.url, costing("__typename"), token)
    assert codes(past) == ["QUERY_TOO_COMPLEX"] and not past.get("data")
    assert past["errors"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 3001, "limit": 3000}


async def test_cost_limit(production: Production):
    token = production.org.admin.api.token
    assert not (await post(production.url, AFFORDABLE, token)).get("errors")
    body = await post(production.url, EXPENSIVE, token)
    assert codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert not body.get("data")
    assert body["errors"][0]["extensions"]["limit"] == LIMITS["AIM_MAX_QUERY_COST"]
    # A page size in a variable is unknown until run time, so it costs as the largest page.
    async with httpx.AsyncClient() as client:
        response = await client.post(
            production.url,
            headers={"Authorization": f"Bearer {token}"},
            json={
                "query": "query($n: Int) { agents(first: 100) { edges { node {"
                " verificationEvents(first: $n) { edges { node { id } } } } } } }",
                "variables": {"n": 1},
            },
        )
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]


async def test_limits_do_not_apply_in_development(org: Org):
    """The document limits are production's: the development server runs what production refuses."""
    data = await org.admin.api(EXPENSIVE)
    assert data["agents"]["edges"] == []


# ---- internal errors


@asynccontextmanager
async def agents_table_gone(database_url: str):
    """Break the production database for real: its agents table disappears, then comes back."""
    rename = "ALTER TABLE {} RENAME TO {}"
    if database_url.startswith("postgres"):
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(rename.format("agents", "agents_away"))
            yield
        finally:
            await conn.execute(rename.format("agents_away", "agents"))
            await conn.close()
    else:
        path = database_url.removeprefix("sqlite://")
        with sqlite3.connect(path) as conn:
            conn.execute(rename.format("agents", "agents_away"))
        try:
            yield
        finally:
            with sqlite3.connect(path) as conn:
                conn.execute(rename.format("agents_away", "agents"))


async def test_internal_error_is_masked(production: Production):
    token = production.org.admin.api.token
    query = "{ agents(first: 5) { totalCount edges { node { id } } } }"
    async with agents_table_gone(production.database_url):
        body = await post(production.url, query, token)
    assert body.get("data") is None, body
    [error] = body["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["message"] == f"Internal server error (request {request_id})"
    assert error["path"] == ["agents"]
    for leak in ("agents_away", "relation", "table", "sqlite", "asyncpg", "Traceback"):
        assert leak.lower() not in str(body).lower(), leak
    # Operators find the real cause in the log under the same request id.
    await asyncio.sleep(0.2)
    log = production.log.read_text()
    assert f"internal error {request_id}" in log
    assert "agents" in log[log.index(f"internal error {request_id}") :]
    # The server recovered with the table.
    assert (await post(production.url, query, token))["data"]["agents"]["totalCount"] == 1


async def test_only_internal_errors_are_logged(production: Production):
    """A caller's mistake is answered, not logged: anyone could fill the log with them."""
    token = production.org.admin.api.token
    for query in ("{ loggedNowhere }", "{ viewer { id }", directed(LIMITS["AIM_MAX_DIRECTIVES"] + 1)):
        assert codes(await post(production.url, query, token))
    await asyncio.sleep(0.2)
    log = production.log.read_text()
    assert "loggedNowhere" not in log and "Syntax Error" not in log and "directives" not in log


# ---- sizes


def sized(size: int) -> str:
    """`{ __typename }` padded with a comment (which is no token) to exactly `size` bytes."""
    query = "{ __typename }\n#"
    return query + "x" * (size - len(query))


async def test_document_size_limit(production: Production):
    limit = LIMITS["AIM_MAX_DOCUMENT_BYTES"]
    at_limit = await post(production.url, sized(limit))
    assert at_limit["data"] == {"__typename": "Query"}, at_limit
    too_large = await post(production.url, sized(limit + 1))
    assert codes(too_large) == ["QUERY_TOO_COMPLEX"] and not too_large.get("data")
    assert too_large["errors"][0]["extensions"]["limit"] == limit


def body_of(size: int) -> bytes:
    """A JSON request of exactly `size` bytes, padded in a variable the query ignores."""
    body = '{"query": "{ __typename }", "variables": {"p": ""}}'
    return body.replace('""', '"' + "x" * (size - len(body)) + '"').encode()


async def test_request_size_limit(production: Production):
    limit = LIMITS["AIM_MAX_REQUEST_BYTES"]
    async with httpx.AsyncClient() as client:
        at_limit = await client.post(
            production.url, content=body_of(limit), headers={"Content-Type": "application/json"}
        )
        too_large = await client.post(
            production.url, content=body_of(limit + 1), headers={"Content-Type": "application/json"}
        )
    assert at_limit.status_code == 200 and at_limit.json()["data"] == {"__typename": "Query"}
    assert too_large.status_code == 413 and codes(too_large.json()) == ["BAD_USER_INPUT"]


async def test_an_oversized_websocket_message_is_refused(production: Production):
    padding = "x" * LIMITS["AIM_MAX_REQUEST_BYTES"]
    async with websockets.connect(
        production.url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"], max_size=None
    ) as socket:
        await socket.send('{"type": "connection_init", "payload": {"p": "' + padding + '"}}')
        await asyncio.wait_for(socket.wait_closed(), 5)
    assert socket.close_code == 1009  # message too big
