"""Query.agents as a Relay connection: keyset pages forwards and backwards, every order and filter,
page-size and cursor validation, and tenant isolation, over one organization of 120 agents."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from aim_identity import ids
from aim_identity.models import Agent as AgentRow
from aim_identity.models import AgentStatus, AgentType
from tests.support import Org, register

N = 120
NAME_WORDS = ["scout", "ranger", "pilot", "echo", "nova", "zephyr", "atlas"]
# Mixed case for case-insensitive search; `_` and `%` must match literally, not as LIKE wildcards.
DISPLAY_NAMES = ["Scout Prime", "NOVA Helper", "ranger_x", "Data 100% Bot", None]
BASE = datetime(2026, 1, 1, tzinfo=UTC)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # never-verified agents sort as the oldest

CREATE = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"""
PAGE = """query($first: Int, $after: String, $last: Int, $before: String, $filter: AgentFilter,
                $orderBy: AgentOrder) {
  agents(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name displayName agentType status lastVerifiedAt createdAt trustScore { score } } }
  } }"""


@dataclass(frozen=True)
class Spec:
    """What one agent was given, and so what the API must report and how it must sort."""

    id: str  # global ID
    pk: str  # the row's UUID: the tie-breaker of every order
    name: str
    display_name: str | None
    agent_type: str
    status: str
    trust_score: float
    last_verified_at: datetime | None
    created_at: datetime


@dataclass
class Fleet:
    org: Org
    agents: list[Spec]
    foreign_ids: set[str]


def spec_for(i: int) -> dict:
    statuses, types = list(AgentStatus), list(AgentType)
    return {
        # (i * 37) % 120 is a permutation of 0..119, so names are unique and unrelated to creation order.
        "name": f"{NAME_WORDS[i % len(NAME_WORDS)]}-{(i * 37) % N:03d}",
        "display_name": DISPLAY_NAMES[i % len(DISPLAY_NAMES)],
        "agent_type": types[i % len(types)].value,
        "status": statuses[(i // 3) % len(statuses)].value,
        "trust_score": ((i * 7) % 40) / 40,  # 40 distinct scores, three agents each: ties
        "last_verified_at": None if i % 5 == 0 else BASE + timedelta(minutes=(i * 13) % 97),  # some ties
        "created_at": BASE + timedelta(seconds=i // 2),  # pairs created at the same instant
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fleet(url: str) -> Fleet:
    org = await register(url)
    agents = []
    for i in range(N):
        s = spec_for(i)
        data = await org.admin.api(
            CREATE, i={"name": s["name"], "displayName": s["display_name"], "agentType": s["agent_type"]}
        )
        gid = data["createAgent"]["agent"]["id"]
        pk = ids.decode(gid, "Agent")
        # Status, score and verification time come from verification rounds in real life; set them
        # directly so that every filter and order has varied values (and ties) to work on.
        await AgentRow.filter(id=pk).update(
            status=s["status"],
            trust_score=s["trust_score"],
            last_verified_at=s["last_verified_at"],
            created_at=s["created_at"],
        )
        agents.append(Spec(id=gid, pk=str(pk), **s))
    other = await register(url)
    foreign = set()
    for name in (agents[0].name, "scout-elsewhere", "nova-elsewhere"):
        data = await other.admin.api(CREATE, i={"name": name, "displayName": "Scout Prime"})
        foreign.add(data["createAgent"]["agent"]["id"])
    return Fleet(org, agents, foreign)


SORT_KEYS = {
    "NAME": lambda a: a.name,
    "CREATED_AT": lambda a: a.created_at,
    "TRUST_SCORE": lambda a: a.trust_score,
    "LAST_VERIFIED_AT": lambda a: a.last_verified_at or NEVER,
}


def expected_order(agents: list[Spec], field: str = "CREATED_AT", direction: str = "ASC") -> list[str]:
    key = SORT_KEYS[field]
    # Ties are broken by id, in the direction of the order (UUIDs compare like their lowercase hex).
    return [a.id for a in sorted(agents, key=lambda a: (key(a), a.pk), reverse=direction == "DESC")]


async def page(api, **variables) -> dict:
    return (await api(PAGE, **variables))["agents"]


async def walk_forward(api, size: int, **variables) -> list[dict]:
    pages, after = [], None
    while True:
        p = await page(api, first=size, after=after, **variables)
        pages.append(p)
        if not p["pageInfo"]["hasNextPage"]:
            return pages
        after = p["pageInfo"]["endCursor"]
        assert len(pages) <= N, "the walk does not end"


async def walk_backward(api, size: int, **variables) -> list[dict]:
    pages, before = [], None
    while True:
        p = await page(api, last=size, before=before, **variables)
        pages.append(p)
        if not p["pageInfo"]["hasPreviousPage"]:
            return pages
        before = p["pageInfo"]["startCursor"]
        assert len(pages) <= N, "the walk does not end"


def node_ids(p: dict) -> list[str]:
    return [e["node"]["id"] for e in p["edges"]]


def check_cursors(p: dict) -> None:
    edges, info = p["edges"], p["pageInfo"]
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


async def test_forward_walk_visits_every_agent_once_in_order(fleet: Fleet):
    pages = await walk_forward(fleet.org.admin.api, 25)
    assert [len(p["edges"]) for p in pages] == [25, 25, 25, 25, 20]
    for n, p in enumerate(pages):
        assert p["totalCount"] == N
        assert p["pageInfo"]["hasPreviousPage"] is (n > 0)
        assert p["pageInfo"]["hasNextPage"] is (n < len(pages) - 1)
        check_cursors(p)
    seen = [i for p in pages for i in node_ids(p)]
    assert len(set(seen)) == N
    assert seen == expected_order(fleet.agents)


async def test_nodes_report_what_each_agent_was_given(fleet: Fleet):
    by_id = {a.id: a for a in fleet.agents}
    nodes = [e["node"] for p in await walk_forward(fleet.org.admin.api, 100) for e in p["edges"]]
    assert len(nodes) == N
    for node in nodes:
        spec = by_id[node["id"]]
        assert (node["name"], node["displayName"], node["agentType"], node["status"]) == (
            spec.name,
            spec.display_name,
            spec.agent_type,
            spec.status,
        )
        assert node["trustScore"]["score"] == pytest.approx(spec.trust_score)
        assert parse_time(node["lastVerifiedAt"]) == spec.last_verified_at
        assert parse_time(node["createdAt"]) == spec.created_at


async def test_backward_walk_visits_every_agent_once_in_order(fleet: Fleet):
    pages = await walk_backward(fleet.org.admin.api, 25)
    assert [len(p["edges"]) for p in pages] == [25, 25, 25, 25, 20]
    for n, p in enumerate(pages):
        assert p["totalCount"] == N
        assert p["pageInfo"]["hasNextPage"] is (n > 0)
        assert p["pageInfo"]["hasPreviousPage"] is (n < len(pages) - 1)
        check_cursors(p)
    seen = [i for p in reversed(pages) for i in node_ids(p)]
    assert len(set(seen)) == N
    assert seen == expected_order(fleet.agents)


async def test_cursors_resume_in_both_directions(fleet: Fleet):
    """`after` a page's end continues it; `before` that next page's start returns to it."""
    api = fleet.org.admin.api
    order = expected_order(fleet.agents)
    first = await page(api, first=30)
    second = await page(api, first=30, after=first["pageInfo"]["endCursor"])
    assert node_ids(second) == order[30:60]
    back = await page(api, last=30, before=second["pageInfo"]["startCursor"])
    assert node_ids(back) == node_ids(first) == order[:30]
    assert back["pageInfo"]["hasPreviousPage"] is False
    assert back["pageInfo"]["hasNextPage"] is True
    middle = await page(api, last=10, before=second["pageInfo"]["startCursor"])
    assert node_ids(middle) == order[20:30]
    assert middle["pageInfo"]["hasPreviousPage"] is True


ORDERS = [(field, direction) for field in SORT_KEYS for direction in ("ASC", "DESC")]


@pytest.mark.parametrize(("field", "direction"), ORDERS)
async def test_every_order_matches_python_sort(fleet: Fleet, field: str, direction: str):
    order_by = {"field": field, "direction": direction}
    expected = expected_order(fleet.agents, field, direction)
    forward = await walk_forward(fleet.org.admin.api, 50, orderBy=order_by)
    assert [i for p in forward for i in node_ids(p)] == expected
    backward = await walk_backward(fleet.org.admin.api, 50, orderBy=order_by)
    assert [i for p in reversed(backward) for i in node_ids(p)] == expected
    assert all(p["totalCount"] == N for p in forward + backward)


async def test_never_verified_agents_sort_as_the_oldest(fleet: Fleet):
    never = {a.id for a in fleet.agents if a.last_verified_at is None}
    assert 0 < len(never) < N
    asc = await page(fleet.org.admin.api, first=len(never), orderBy={"field": "LAST_VERIFIED_AT", "direction": "ASC"})
    assert set(node_ids(asc)) == never
    desc = await page(fleet.org.admin.api, last=len(never), orderBy={"field": "LAST_VERIFIED_AT", "direction": "DESC"})
    assert set(node_ids(desc)) == never
    assert all(e["node"]["lastVerifiedAt"] is None for e in asc["edges"] + desc["edges"])


FILTERS = {
    "one status": ({"status": ["VERIFIED"]}, lambda a: a.status == "VERIFIED"),
    "two statuses": ({"status": ["PENDING", "SUSPENDED"]}, lambda a: a.status in ("PENDING", "SUSPENDED")),
    "one type": ({"agentType": ["CLAUDE"]}, lambda a: a.agent_type == "CLAUDE"),
    "three types": ({"agentType": ["GPT", "GEMINI", "CUSTOM"]}, lambda a: a.agent_type in ("GPT", "GEMINI", "CUSTOM")),
    # "scout" is in some names and in the display name "Scout Prime".
    "search name and display name": (
        {"search": "scout"},
        lambda a: "scout" in a.name or "scout" in (a.display_name or "").lower(),
    ),
    "search ignores case": ({"search": "NoVa"}, lambda a: "nova" in a.name or "nova" in (a.display_name or "").lower()),
    "search display name only": ({"search": "HELPER"}, lambda a: "helper" in (a.display_name or "").lower()),
    "search underscore is literal": ({"search": "ranger_"}, lambda a: "ranger_" in (a.display_name or "")),
    "search percent is literal": ({"search": "100%"}, lambda a: "100%" in (a.display_name or "")),
    "search no match": ({"search": "r_0"}, lambda a: False),
    "min score inclusive": ({"minTrustScore": 0.5}, lambda a: a.trust_score >= 0.5),
    "max score inclusive": ({"maxTrustScore": 0.25}, lambda a: a.trust_score <= 0.25),
    "score range": ({"minTrustScore": 0.3, "maxTrustScore": 0.6}, lambda a: 0.3 <= a.trust_score <= 0.6),
    "combined": (
        {
            "status": ["PENDING", "VERIFIED"],
            "agentType": ["AI_AGENT", "CLAUDE", "GPT", "CUSTOM"],
            "search": "o",
            "minTrustScore": 0.2,
        },
        lambda a: (
            a.status in ("PENDING", "VERIFIED")
            and a.agent_type in ("AI_AGENT", "CLAUDE", "GPT", "CUSTOM")
            and ("o" in a.name or "o" in (a.display_name or "").lower())
            and a.trust_score >= 0.2
        ),
    ),
}


@pytest.mark.parametrize("case", FILTERS)
async def test_filter_returns_exactly_the_matching_agents(fleet: Fleet, case: str):
    agent_filter, matches = FILTERS[case]
    expected = [a for a in fleet.agents if matches(a)]
    pages = await walk_forward(fleet.org.admin.api, 20, filter=agent_filter)
    assert [i for p in pages for i in node_ids(p)] == expected_order(expected)
    assert {p["totalCount"] for p in pages} == {len(expected)}
    if case != "search no match":
        assert 0 < len(expected) < N, "the filter should select some agents, not all"


async def test_filter_with_order_pages_backwards(fleet: Fleet):
    agent_filter = {"status": ["VERIFIED", "SUSPENDED"], "maxTrustScore": 0.7}
    expected = [a for a in fleet.agents if a.status in ("VERIFIED", "SUSPENDED") and a.trust_score <= 0.7]
    order_by = {"field": "TRUST_SCORE", "direction": "DESC"}
    pages = await walk_backward(fleet.org.admin.api, 7, filter=agent_filter, orderBy=order_by)
    assert [i for p in reversed(pages) for i in node_ids(p)] == expected_order(expected, "TRUST_SCORE", "DESC")
    assert {p["totalCount"] for p in pages} == {len(expected)}


async def test_page_size_limits(fleet: Fleet):
    api = fleet.org.admin.api
    assert len((await page(api, first=100))["edges"]) == 100
    assert len((await page(api, last=100))["edges"]) == 100
    empty = await page(api, first=0)
    assert empty["edges"] == [] and empty["totalCount"] == N
    for variables in ({"first": 101}, {"first": -1}, {"last": 101}, {"last": -5}, {"first": 10, "last": 10}):
        assert await api.error(PAGE, **variables) == "BAD_USER_INPUT", variables


def raw_cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


SOME_ID = "0b7e3c1e-5d2a-4f37-9a41-3c0f6f2d8e11"
GARBAGE_CURSORS = {
    "not base64": "!!!not base64!!!",
    "not json": "garbage",
    "not utf-8": base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    "an object": raw_cursor({"not": "a list"}),
    "too short": raw_cursor(["created_at", SOME_ID]),
    "too long": raw_cursor(["created_at", 1, 2, 3]),
    "bad id": raw_cursor(["created_at", "x", "not-a-uuid"]),
    "id not a string": raw_cursor(["created_at", 1, 2]),
    "bad timestamp": raw_cursor(["created_at", {"t": "yesterday"}, SOME_ID]),
    "timestamp without t": raw_cursor(["created_at", {"when": 1}, SOME_ID]),
    "timestamp not a string": raw_cursor(["created_at", {"t": 5}, SOME_ID]),
    "no order": raw_cursor([{"t": "2026-01-01T00:00:00+00:00"}, SOME_ID]),
    "a string for a time": raw_cursor(["created_at", "yesterday", SOME_ID]),
    "a number for a time": raw_cursor(["created_at", 5, SOME_ID]),
    "a time without zone": raw_cursor(["created_at", {"t": "2026-01-01T00:00:00"}, SOME_ID]),
    "a list for a time": raw_cursor(["created_at", [1], SOME_ID]),
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
@pytest.mark.parametrize("direction", ["after", "before"])
async def test_garbage_cursor_is_bad_user_input(fleet: Fleet, cursor: str, direction: str):
    size = "first" if direction == "after" else "last"
    assert await fleet.org.admin.api.error(PAGE, **{size: 5, direction: cursor}) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("field", "cursor"),
    [
        ("NAME", raw_cursor(["name", 5, SOME_ID])),
        ("TRUST_SCORE", raw_cursor(["trust_score", "high", SOME_ID])),
        ("TRUST_SCORE", raw_cursor(["trust_score", True, SOME_ID])),
        ("LAST_VERIFIED_AT", raw_cursor(["verified_sort", "never", SOME_ID])),
    ],
    ids=["number for a name", "string for a score", "boolean for a score", "string for a time"],
)
async def test_a_sort_key_of_the_wrong_type_is_bad_user_input(fleet: Fleet, field: str, cursor: str):
    # It used to reach PostgreSQL and come back as a masked internal error.
    assert (
        await fleet.org.admin.api.error(PAGE, first=3, after=cursor, orderBy={"field": field, "direction": "ASC"})
        == "BAD_USER_INPUT"
    )


async def test_cursor_of_another_order_is_bad_user_input(fleet: Fleet):
    """A cursor holds one order's sort key; handed to another order it must be refused, not crash."""
    api = fleet.org.admin.api
    by_name = await page(api, first=3, orderBy={"field": "NAME", "direction": "ASC"})
    for field in ("TRUST_SCORE", "CREATED_AT", "LAST_VERIFIED_AT"):
        code = await api.error(
            PAGE, first=3, after=by_name["pageInfo"]["endCursor"], orderBy={"field": field, "direction": "ASC"}
        )
        assert code == "BAD_USER_INPUT", field


async def test_other_organizations_agents_never_appear(fleet: Fleet):
    api = fleet.org.admin.api
    for variables in (
        {},
        {"filter": {"search": "scout"}},
        {"filter": {"search": "elsewhere"}},
        {"orderBy": {"field": "NAME", "direction": "ASC"}},
    ):
        seen = {i for p in await walk_forward(api, 100, **variables) for i in node_ids(p)}
        assert not seen & fleet.foreign_ids
        assert seen <= {a.id for a in fleet.agents}
    assert (await page(api, first=5, filter={"search": "elsewhere"}))["totalCount"] == 0
