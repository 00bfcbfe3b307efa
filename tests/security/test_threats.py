"""Threats through the API: repeats join one open threat, the list filters and pages, and people
acknowledge, resolve (a false positive teaches the rule) and block them."""

from __future__ import annotations

import httpx
import pytest

from aim_identity import ids
from aim_identity.models import Agent, AgentStatus, AuditLogEntry, Suppression, Threat
from tests.identity.test_actions import AUTHORIZE
from tests.support import Api, Org, create_agent, judged, signed_request, verify

THREATS = """query($f: ThreatFilter, $first: Int, $after: String) {
  threats(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id type severity status occurrences title evidence agent { id } resolvedAt note } } } }"""
ACKNOWLEDGE = """mutation($i: ThreatActionInput!) { acknowledgeThreat(input: $i) { threat { id status note } } }"""
RESOLVE = """mutation($i: ThreatActionInput!) {
  resolveThreat(input: $i) { threat { id status resolvedAt note } } }"""
BLOCK = """mutation($i: ThreatActionInput!) { blockThreat(input: $i) { threat { id status agent { status } } } }"""
LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken } }"""
WHOAMI = "{ viewer { id } }"


async def violate(anonymous: Api, agent, capability: str = "db:write") -> dict:
    return (await anonymous(AUTHORIZE, i=signed_request(agent, capability)))["authorizeAction"]


async def listed(api: Api, **filter) -> list[dict]:
    return [e["node"] for e in (await api(THREATS, f=filter))["threats"]["edges"]]


async def test_repeated_violations_join_one_open_threat_whose_count_and_evidence_grow(org: Org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    decisions = [await violate(anonymous, agent) for _ in range(3)]
    assert all(not d["allowed"] and d["threat"]["type"] == "CAPABILITY_VIOLATION" for d in decisions)

    (threat,) = await listed(org.admin.api, agentId=agent.id)
    assert threat["occurrences"] == 3 and threat["status"] == "OPEN"
    assert threat["evidence"]["capability"] == "db:write" and len(threat["evidence"]["repeats"]) == 2
    row = await Threat.get(id=ids.decode(threat["id"], "Threat"))
    assert row.last_seen_at > row.detected_at
    # Each time audited: detected once, repeated twice.
    actions = await AuditLogEntry.filter(target_id=threat["id"]).order_by("sequence").values_list("action", flat=True)
    assert actions == ["threat.detected", "threat.updated", "threat.updated"]


async def test_threats_filter_by_status_severity_type_and_agent_and_page_newest_first(org: Org, anonymous):
    agents = [await create_agent(org.admin.api, capabilities=["db:read"]) for _ in range(3)]
    for agent in agents:
        await violate(anonymous, agent)  # MEDIUM
    await violate(anonymous, agents[0], "payments:refund:destroy")  # CRITICAL, joins agent 0's threat
    everything = await listed(org.admin.api)
    assert [t["agent"]["id"] for t in everything] == [a.id for a in reversed(agents)]
    assert [t["severity"] for t in everything] == ["MEDIUM", "MEDIUM", "CRITICAL"]  # a repeat escalates

    assert [t["agent"]["id"] for t in await listed(org.admin.api, severity=["CRITICAL"])] == [agents[0].id]
    assert await listed(org.admin.api, type=["BRUTE_FORCE"]) == []
    assert len(await listed(org.admin.api, type=["CAPABILITY_VIOLATION"], status=["OPEN"])) == 3
    assert [t["agent"]["id"] for t in await listed(org.admin.api, agentId=agents[1].id)] == [agents[1].id]

    first = (await org.admin.api(THREATS, first=2))["threats"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = (await org.admin.api(THREATS, first=2, after=first["pageInfo"]["endCursor"]))["threats"]
    assert not rest["pageInfo"]["hasNextPage"]
    assert [e["node"]["id"] for e in first["edges"] + rest["edges"]] == [t["id"] for t in everything]


async def test_a_threat_is_acknowledged_then_resolved_each_once_and_audited(org: Org, other_org: Org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    await violate(anonymous, agent)
    threat_id = (await listed(org.admin.api))[0]["id"]
    manager, member = await org.member("MANAGER"), await org.member("MEMBER")

    assert await member.api.error(ACKNOWLEDGE, i={"id": threat_id}) == "FORBIDDEN"
    assert await other_org.admin.api.error(ACKNOWLEDGE, i={"id": threat_id}) == "NOT_FOUND"
    acknowledged = (await manager.api(ACKNOWLEDGE, i={"id": threat_id, "note": "looking"}))["acknowledgeThreat"]
    assert acknowledged["threat"] == {"id": threat_id, "status": "ACKNOWLEDGED", "note": "looking"}
    assert await manager.api.error(ACKNOWLEDGE, i={"id": threat_id}) == "CONFLICT"

    # An acknowledged threat still collects its repeats.
    await violate(anonymous, agent)
    assert (await listed(org.admin.api))[0]["occurrences"] == 2

    resolved = (await manager.api(RESOLVE, i={"id": threat_id, "note": "fixed the SDK"}))["resolveThreat"]["threat"]
    assert resolved["status"] == "RESOLVED" and resolved["resolvedAt"] and resolved["note"] == "fixed the SDK"
    assert await manager.api.error(RESOLVE, i={"id": threat_id}) == "CONFLICT"
    actions = await AuditLogEntry.filter(target_id=threat_id).order_by("sequence").values_list("action", flat=True)
    assert actions == ["threat.detected", "threat.acknowledge", "threat.updated", "threat.resolve"]

    # Resolved, it is closed: the next violation opens a new threat.
    await violate(anonymous, agent)
    assert [t["status"] for t in await listed(org.admin.api)] == ["OPEN", "RESOLVED"]


async def test_a_false_positive_stops_the_rule_firing_on_the_same_evidence_only(org: Org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    await violate(anonymous, agent, "db:write")
    (threat,) = await listed(org.admin.api)
    resolved = (await org.admin.api(RESOLVE, i={"id": threat["id"], "falsePositive": True}))["resolveThreat"]
    assert resolved["threat"]["status"] == "FALSE_POSITIVE"
    assert await Suppression.filter(threat_id=ids.decode(threat["id"], "Threat")).count() == 1

    again = await violate(anonymous, agent, "db:write")
    assert not again["allowed"] and again["threat"] is None  # still refused, no longer a threat
    other = await violate(anonymous, agent, "db:drop")
    assert other["threat"]["type"] == "CAPABILITY_VIOLATION"
    assert [t["evidence"]["capability"] for t in await listed(org.admin.api, status=["OPEN"])] == ["db:drop"]


async def test_blocking_a_threat_suspends_its_agent_whose_token_fails_at_its_next_use(org: Org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    token = (await verify(anonymous, agent))["agentToken"]
    as_agent = anonymous.as_token(token)
    assert (await as_agent("query($id: ID!) { agent(id: $id) { id } }", id=agent.id))["agent"]["id"] == agent.id
    await violate(anonymous, agent)
    (threat,) = await listed(org.admin.api)

    blocked = (await org.admin.api(BLOCK, i={"id": threat["id"]}))["blockThreat"]["threat"]
    assert blocked == {"id": threat["id"], "status": "BLOCKED", "agent": {"status": "SUSPENDED"}}
    assert await as_agent.error("query($id: ID!) { agent(id: $id) { id } }", id=agent.id) == "UNAUTHENTICATED"
    assert await org.admin.api.error(BLOCK, i={"id": threat["id"]}) == "CONFLICT"


async def test_blocking_a_brute_force_threat_refuses_its_address_for_every_request(org: Org, url, settings):
    target = await org.member("VIEWER")
    attacker = Api(url)
    for i in range(settings.login_max_failures):
        assert await attacker.error(LOGIN, i={"email": target.email, "password": f"guess {i}"}) == "UNAUTHENTICATED"
    await judged(org)
    (threat,) = await listed(org.admin.api, type=["BRUTE_FORCE"])
    assert threat["evidence"]["ipAddress"] == attacker.ip

    assert (await org.admin.api(BLOCK, i={"id": threat["id"]}))["blockThreat"]["threat"]["status"] == "BLOCKED"
    assert await attacker.error(LOGIN, i={"email": target.email, "password": "again"}) == "FORBIDDEN"
    assert await Api(url, token=target.api.token, ip=attacker.ip).error(WHOAMI) == "FORBIDDEN"
    assert (await target.api(WHOAMI))["viewer"]["id"] == target.user_id  # from its own address, as before
    async with httpx.AsyncClient() as http:
        token = await http.post(
            url.removesuffix("/graphql") + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"X-Forwarded-For": attacker.ip},
        )
    assert (token.status_code, token.json()["error"]) == (403, "access_denied")
    audit = await AuditLogEntry.get(target_id=threat["id"], action="threat.block")
    assert audit.metadata["ipAddress"] == attacker.ip


async def test_a_threat_without_an_agent_or_address_cannot_be_blocked(org: Org, url, settings):
    """A refresh-token reuse names a person: there is nothing to suspend or refuse."""
    person = await org.member("VIEWER")
    refresh = """mutation($i: RefreshInput!) { refreshToken(input: $i) { refreshToken } }"""
    await Api(url)(refresh, i={"refreshToken": person.refresh_token})
    assert await Api(url).error(refresh, i={"refreshToken": person.refresh_token}) == "UNAUTHENTICATED"
    (threat,) = await listed(org.admin.api, type=["CREDENTIAL_MISUSE"])
    assert await org.admin.api.error(BLOCK, i={"id": threat["id"]}) == "BAD_USER_INPUT"
    assert (await listed(org.admin.api))[0]["status"] == "OPEN"


@pytest.mark.parametrize("document", [ACKNOWLEDGE, RESOLVE, BLOCK])
async def test_an_unknown_threat_is_not_found(org: Org, document):
    assert await org.admin.api.error(document, i={"id": ids.encode("Threat", Threat().id)}) == "NOT_FOUND"


async def test_the_agent_stays_as_it_was_when_blocking_fails(org: Org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    await verify(anonymous, agent)
    await violate(anonymous, agent)
    (threat,) = await listed(org.admin.api)
    await org.admin.api(RESOLVE, i={"id": threat["id"]})
    assert await org.admin.api.error(BLOCK, i={"id": threat["id"]}) == "CONFLICT"
    assert (await Agent.get(id=ids.decode(agent.id, "Agent"))).status == AgentStatus.VERIFIED
