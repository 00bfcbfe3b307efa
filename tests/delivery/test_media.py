"""GraphQL over HTTP: the answer's media type follows Accept, and with
`application/graphql-response+json` a request error is a 400 with no `data`; the audit suite of the
npm `graphql-http` package (the specification's reference implementation) finds nothing to fault."""

from __future__ import annotations

import asyncio
import json
import shutil

import httpx
import pytest

from aim_identity.delivery import media
from tests.support import Org

GRAPHQL_RESPONSE = "application/graphql-response+json"
# Runs the audits and prints each one's id, name, status and reason, as JSON.
AUDIT = """
import { auditServer } from 'graphql-http';
const results = await auditServer({ url: process.argv[1], fetchFn: fetch });
console.log(JSON.stringify(results.map(({ id, name, status, reason }) => ({ id, name, status, reason }))));
"""


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        (None, media.JSON),
        ("*/*", media.JSON),
        ("application/json", media.JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", media.JSON),
        (f"{GRAPHQL_RESPONSE};q=0", None),  # refused outright
        (f"{GRAPHQL_RESPONSE};q=nonsense, */*", media.JSON),
        ("text/html", None),
        ("application/xml, text/*", None),
    ],
)
def test_the_answer_type_follows_accept(accept, answered):
    assert media.negotiated(accept) == answered


async def post(url: str, body: dict, accept: str, token: str | None = None) -> httpx.Response:
    headers = {"Accept": accept} | ({"Authorization": f"Bearer {token}"} if token else {})
    async with httpx.AsyncClient() as http:
        return await http.post(url, json=body, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ viewer { id "},  # does not parse
        {"query": "{ viewer { noSuchField } }"},  # does not validate
        {"query": "query($n: Int) { agents(first: $n) { totalCount } }", "variables": {"n": "many"}},  # no coercion
    ],
    ids=["parse", "validation", "variables"],
)
async def test_a_request_error_is_a_400_without_data_for_graphql_response_json(url, org: Org, body):
    strict = await post(url, body, GRAPHQL_RESPONSE, org.admin.api.token)
    assert strict.status_code == 400
    assert strict.headers["content-type"] == GRAPHQL_RESPONSE
    assert "data" not in strict.json() and strict.json()["errors"]
    traditional = await post(url, body, "application/json", org.admin.api.token)
    assert traditional.status_code == 200 and traditional.headers["content-type"] == "application/json"
    assert traditional.json()["data"] is None and traditional.json()["errors"]


async def test_a_field_error_is_still_an_answer(url, org: Org):
    """Something ran: the error belongs to a field, and the answer is a 200 with its data."""
    answer = await post(url, {"query": "{ organization { id } users(first: 5) { totalCount } }"}, GRAPHQL_RESPONSE)
    assert answer.status_code == 200 and answer.headers["content-type"] == GRAPHQL_RESPONSE
    assert "data" in answer.json() and answer.json()["errors"][0]["path"]


async def test_a_cached_answer_is_given_in_the_type_asked_for(url, org: Org):
    body = {"query": "{ organization { name } }"}
    for accept in ("application/json", GRAPHQL_RESPONSE, GRAPHQL_RESPONSE, "application/json"):
        answer = await post(url, body, accept, org.admin.api.token)
        assert answer.status_code == 200 and answer.headers["content-type"] == media.negotiated(accept)
        assert answer.json()["data"] == {"organization": {"name": org.name}}


async def test_what_aim_cannot_read_or_answer_in_is_refused_by_status(url, org: Org):
    query = {"query": "{ __typename }"}
    async with httpx.AsyncClient() as http:
        unanswerable = await http.post(url, json=query, headers={"Accept": "application/xml"})
        unreadable = await http.post(url, content=json.dumps(query), headers={"Content-Type": "text/plain"})
        form = await http.post(url, data={"query": "{ __typename }"})
        over_get = await http.get(url, params={"query": "mutation { logout(input: {}) { ok } }"})
        query_over_get = await http.get(url, params=query, headers={"Accept": GRAPHQL_RESPONSE})
    assert unanswerable.status_code == 406
    assert unreadable.status_code == form.status_code == 415
    assert over_get.status_code == 405 and over_get.headers["allow"] == "POST"
    assert query_over_get.status_code == 200 and query_over_get.json()["data"] == {"__typename": "Query"}


async def test_a_json_body_is_read_however_its_type_is_spelled(url, org: Org):
    async with httpx.AsyncClient() as http:
        for content_type in ("Application/JSON", "APPLICATION/JSON; Charset=UTF-8"):
            answer = await http.post(
                url,
                content=json.dumps({"query": "{ organization { name } }"}),
                headers={"Content-Type": content_type, **org.admin.api.headers()},
            )
            assert answer.status_code == 200, (content_type, answer.text)
            assert answer.json()["data"] == {"organization": {"name": org.name}}


@pytest.fixture(scope="session")
async def graphql_http(tmp_path_factory) -> str:
    """The npm `graphql-http` package, installed from the npm registry for this run."""
    assert shutil.which("node") and shutil.which("npm"), "make test installs Node.js (Debian's nodejs, npm)"
    prefix = tmp_path_factory.mktemp("graphql-http")
    process = await asyncio.create_subprocess_exec(
        "npm",
        "install",
        "--prefix",
        str(prefix),
        "--no-audit",
        "--no-fund",
        "graphql-http@1",
        "graphql@16",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()
    return str(prefix)


async def test_the_graphql_http_audit_suite_finds_no_error_and_no_warning(url, graphql_http):
    process = await asyncio.create_subprocess_exec(
        "node",
        "--input-type=module",
        "-e",
        AUDIT,
        url,
        cwd=graphql_http,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    results = json.loads(out)
    assert len(results) > 50  # the suite ran whole
    faults = [f"{r['status']} {r['id']} {r['name']}: {r.get('reason')}" for r in results if r["status"] != "ok"]
    assert not faults, "\n".join(faults)
