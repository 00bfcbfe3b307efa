"""auditLogs and auditStats: the contract's filters, pages newest first, counts against a hand-counted
organization, and only for admins and managers of that organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aim_identity import ids
from aim_identity.models import AuditLogEntry
from tests.support import Org, create_agent

LOGS = """query($f: AuditLogFilter, $first: Int, $after: String) { auditLogs(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { sequence action actorType actorId targetId } } } }"""
STATS = """query($since: DateTime, $until: DateTime) { auditStats(since: $since, until: $until) {
  total byAction { key count } byActorType { key count } perDay { key count } } }"""
UPDATE = """mutation($i: UpdateAgentInput!) { updateAgent(input: $i) { agent { id } } }"""


async def listed(org: Org, **filter) -> list[dict]:
    return [e["node"] for e in (await org.admin.api(LOGS, f=filter or None))["auditLogs"]["edges"]]


async def test_the_filters_select_by_action_prefix_actor_target_and_time(org: Org):
    first, second = await create_agent(org.admin.api), await create_agent(org.admin.api)
    await org.admin.api(UPDATE, i={"id": first.id, "description": "renamed"})
    everything = await listed(org)
    assert [e["sequence"] for e in everything] == sorted((e["sequence"] for e in everything), reverse=True)
    assert [e["action"] for e in everything][:3] == ["agent.update", "agent.create", "agent.create"]

    assert {e["action"] for e in await listed(org, action="agent.*")} == {"agent.create", "agent.update"}
    assert [e["action"] for e in await listed(org, action="agent.update")] == ["agent.update"]
    assert [e["targetId"] for e in await listed(org, targetId=second.id)] == [second.id]
    admin = (await org.admin.api("{ viewer { id } }"))["viewer"]["id"]
    assert {e["actorId"] for e in await listed(org, actorId=admin)} == {admin}
    assert await listed(org, since=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == []
    assert len(await listed(org, until=(datetime.now(UTC) + timedelta(minutes=1)).isoformat())) == len(everything)
    assert await org.admin.api.error(LOGS, f={"action": "*.create"}) == "BAD_USER_INPUT"


async def test_pages_walk_every_entry_once(org: Org):
    for _ in range(4):
        await create_agent(org.admin.api)
    total = (await org.admin.api(LOGS))["auditLogs"]["totalCount"]
    seen, after = [], None
    while True:
        page = (await org.admin.api(LOGS, first=3, after=after))["auditLogs"]
        seen += [e["node"]["sequence"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(range(total, 0, -1))


async def test_the_stats_count_what_the_organization_wrote(org: Org, other_org: Org):
    for _ in range(3):
        await create_agent(org.admin.api)
    await create_agent(other_org.admin.api)
    rows = await AuditLogEntry.filter(organization_id=ids.decode(org.id, "Organization"))
    by_action: dict[str, int] = {}
    by_actor: dict[str, int] = {}
    for row in rows:
        by_action[row.action] = by_action.get(row.action, 0) + 1
        by_actor[row.actor_type] = by_actor.get(row.actor_type, 0) + 1
    stats = (await org.admin.api(STATS))["auditStats"]
    assert stats["total"] == len(rows)
    assert {c["key"]: c["count"] for c in stats["byAction"]} == by_action
    assert by_action["agent.create"] == 3
    assert {c["key"]: c["count"] for c in stats["byActorType"]} == by_actor
    assert by_actor["anonymous"] == 1  # the sign-up, before anyone is signed in
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert stats["perDay"] == [{"key": today, "count": len(rows)}]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await org.admin.api(STATS, since=later))["auditStats"] == {
        "total": 0,
        "byAction": [],
        "byActorType": [],
        "perDay": [],
    }


async def test_only_admins_and_managers_read_the_trail(org: Org):
    manager, member = await org.member("MANAGER"), await org.member("MEMBER")
    assert (await manager.api(LOGS))["auditLogs"]["totalCount"] > 0
    assert (await manager.api(STATS))["auditStats"]["total"] > 0
    assert await member.api.error(LOGS) == "FORBIDDEN"
    assert await member.api.error(STATS) == "FORBIDDEN"
