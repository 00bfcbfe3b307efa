"""Fuzzing the served schema. hypothesis-graphql writes queries and mutations over every root field of
the schema AIM serves, valid ones and ones that break the schema in one place each, and a production
server answers each one, for a signed-in admin of an organization with an agent in it, for that
agent, or for nobody. None may get a 5xx or an internal error (which production masks with a request
id); every refusal carries a code from the contract. The mutations that can end their caller's own
session (signing out, a role, the organization's MFA rule) each get an organization of their own, so
the admin stays signed in for the rest.

The run is derandomized, so CI sees the same examples each time; AIM_FUZZ_EXAMPLES asks for more of
them (and a random run) when hunting."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC

import httpx
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from aim_identity.api import build_schema
from aim_identity.config import Settings
from tests.servers import serving
from tests.support import Api, create_agent, register, verify

EXPECTED = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
}
HUNTING = int(os.environ.get("AIM_FUZZ_EXAMPLES", "0"))
EXAMPLES = HUNTING or 150

SCHEMA = build_schema(Settings())._schema
# The IDs of the target's own objects, filled in once it is up: an ID drawn at random names nothing,
# so half the drawn IDs are these, and resolvers run on real rows.
KNOWN: list[str] = []
SCALARS = {
    "ID": st.one_of(
        st.integers(0, 63).map(lambda n: nodes.String(KNOWN[n % len(KNOWN)] if KNOWN else "")),
        st.text(max_size=30).map(nodes.String),
    ),
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda at: nodes.String(at.isoformat())),
    "JSON": st.one_of(st.integers(-(2**31), 2**31 - 1).map(nodes.Int), st.text(max_size=20).map(nodes.String)),
}


ENDS_A_SESSION = ("logout", "updateOrganization", "updateUserRole")
LEAVES_IT = [name for name in SCHEMA.mutation_type.fields if name not in ENDS_A_SESSION]


CREATE_API_KEY = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }"


def operations() -> st.SearchStrategy[str]:
    """One root field per operation, every field as likely as any other: a document of many root
    fields is answered with no data at all once one of its non-null fields fails, and the resolvers
    behind the rest would hardly ever be seen to run."""
    return st.one_of(
        *(queries(SCHEMA, fields=[name], custom_scalars=SCALARS) for name in SCHEMA.query_type.fields),
        *(mutations(SCHEMA, fields=[name], custom_scalars=SCALARS) for name in LEAVES_IT),
    )


def violations() -> st.SearchStrategy[str]:
    """Operations that break the schema in one place each (not every field has a place to break)."""
    return st.one_of(
        queries(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
        mutations(SCHEMA, fields=LEAVES_IT, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
    )


@dataclass
class Target:
    url: str
    callers: dict[str, dict[str, str]]  # headers by who is calling


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def target(settings: Settings, tmp_path_factory) -> AsyncIterator[Target]:
    # A Redis database of its own: a fuzzed `login` must not spend the suite's own attempts, which
    # are counted per address in Redis.
    redis = settings.redis_url.rsplit("/", 1)[0] + "/1" if settings.redis_url.startswith("redis") else "memory://"
    async with serving(
        settings,
        tmp_path_factory.mktemp("fuzz"),
        AIM_ENV="production",
        AIM_REGISTRATION="open",
        AIM_REDIS_URL=redis,
        AIM_COST_BUDGET="100000000/minute",
        AIM_LOGIN_RATE="100000/minute",
        AIM_SIGNUP_RATE="100000/minute",
    ) as served:
        org = await register(served.url)
        agent = await create_agent(org.admin.api, capabilities=["files:read"])
        verified = await verify(Api(served.url), agent)
        key = await org.admin.api(CREATE_API_KEY, i={"name": "fuzz", "role": "MEMBER"})
        KNOWN.extend(
            [org.id, org.admin.user_id, agent.id, verified["event"]["id"], key["createApiKey"]["apiKey"]["id"]]
        )
        token = verified["agentToken"]
        yield Target(
            served.url,
            {
                "nobody": {},
                "admin": {"Authorization": f"Bearer {org.admin.api.token}"},
                "agent": {"Authorization": f"Bearer {token}"},
            },
        )


def hunt(examples: int = EXAMPLES) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not HUNTING,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


async def answer(url: str, document: str, headers: dict[str, str]) -> dict:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(url, json={"query": document}, headers=headers)
    assert response.status_code < 500, (document, response.status_code, response.text)
    body = response.json()
    errors = body.get("errors") or []
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    assert codes <= EXPECTED, (document, headers, errors)
    return body


@hunt()
@given(document=operations(), caller=st.sampled_from(["admin", "admin", "agent", "nobody"]))
async def test_valid_operations_get_an_answer_or_a_coded_refusal(target: Target, document: str, caller: str):
    await answer(target.url, document, target.callers[caller])


@hunt()
@given(document=violations(), caller=st.sampled_from(["admin", "nobody"]))
async def test_invalid_operations_get_a_coded_refusal(target: Target, document: str, caller: str):
    refused = await answer(target.url, document, target.callers[caller])
    assert refused.get("errors") and refused.get("data") is None, (document, refused)  # nothing ran


@hunt(max(EXAMPLES // 5, 10))
@given(
    document=st.one_of(
        *(mutations(SCHEMA, fields=[name], custom_scalars=SCALARS) for name in ENDS_A_SESSION),
        mutations(SCHEMA, fields=ENDS_A_SESSION, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
    )
)
async def test_mutations_that_end_a_session_get_an_answer_or_a_coded_refusal(target: Target, document: str):
    org = await register(target.url)
    await answer(target.url, document, {"Authorization": f"Bearer {org.admin.api.token}"})
