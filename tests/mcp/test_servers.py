"""The MCP server registry (register, update, delete, list) and which servers an agent talks to:
declared by people, or detected by its SDK (drift)."""

from __future__ import annotations

import uuid

from aim_identity import ids
from aim_identity.models import AuditLogEntry, Threat
from tests.support import GraphQLError, Org, create_agent, verify

REGISTER = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) {
  mcpServer { id name url status transport capabilities { name kind } } } }"""
UPDATE = """mutation($i: UpdateMCPServerInput!) { updateMCPServer(input: $i) {
  mcpServer { id name url description status publicKey health } } }"""
DELETE = "mutation($i: DeleteMCPServerInput!) { deleteMCPServer(input: $i) { deletedId } }"
CONNECT = "mutation($i: ConnectMCPServerInput!) { connectMCPServer(input: $i) { agent { id } } }"
DISCONNECT = "mutation($i: ConnectMCPServerInput!) { disconnectMCPServer(input: $i) { agent { id } } }"
REPORT = """mutation($i: ReportDetectedMCPServersInput!) { reportDetectedMCPServers(input: $i) {
  agent { id } registered { id name url command transport status capabilities { name kind description } } } }"""
AGENT = """query($id: ID!) { agent(id: $id) {
  mcpServers { totalCount edges { node { name } } }
  threats { edges { node { type severity description occurrences } } }
  trustScore { factors { name value explanation } } } }"""
SERVER = "query($id: ID!) { mcpServer(id: $id) { id name } }"
PAGE = """query($after: String, $search: String) { mcpServers(first: 2, after: $after, search: $search) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"""


def url(name: str) -> str:
    return f"https://{name}.mcp.example/mcp"


async def register(api, name: str | None = None, **extra) -> dict:
    name = name or f"mcp-{uuid.uuid4().hex[:8]}"
    return (await api(REGISTER, i={"name": name, "url": url(name), **extra}))["registerMCPServer"]["mcpServer"]


async def drift_of(api, agent_id: str) -> dict:
    factors = (await api(AGENT, id=agent_id))["agent"]["trustScore"]["factors"]
    return next(f for f in factors if f["name"] == "drift")


async def test_register_and_find_servers(org: Org):
    server = await register(org.admin.api, "github", capabilities=["search_code", "open_pr"])
    assert (server["status"], server["transport"]) == ("PENDING", "STREAMABLE_HTTP")
    assert server["capabilities"] == [{"name": "search_code", "kind": "TOOL"}, {"name": "open_pr", "kind": "TOOL"}]
    listed = await org.admin.api('{ mcpServers(search: "GIT") { totalCount edges { node { id } } } }')
    assert listed["mcpServers"]["totalCount"] == 1


async def test_a_name_and_a_url_are_each_unique_in_the_organization(org: Org, other_org: Org):
    await register(org.admin.api, "github")
    taken_name = {"name": "github", "url": url("elsewhere")}
    taken_url = {"name": "gitlab", "url": url("github")}
    for taken, field in ((taken_name, "name"), (taken_url, "url")):
        try:
            await org.admin.api(REGISTER, i=taken)
        except GraphQLError as exc:
            assert exc.code == "CONFLICT" and exc.errors[0]["extensions"]["field"] == field
        else:
            raise AssertionError(f"a second server with the same {field} was registered")
    # Another organization may use both.
    assert (await register(other_org.admin.api, "github"))["url"] == url("github")


async def test_bad_input_is_refused_and_nothing_is_written(org: Org):
    refused = [
        {"name": " ", "url": url("x")},
        {"name": "ftp", "url": "ftp://files.example/"},
        {"name": "local-file", "url": "file:///etc/passwd"},
        {"name": "script", "url": "javascript:alert(1)"},
        {"name": "no-host", "url": "http://"},
        {"name": "bad-key", "url": url("bad-key"), "publicKey": "AAAA"},
        {"name": "too-many", "url": url("too-many"), "capabilities": [f"tool_{n}" for n in range(501)]},
        {"name": "x" * 201, "url": url("long")},
    ]
    for attempt in refused:
        assert await org.admin.api.error(REGISTER, i=attempt) == "BAD_USER_INPUT", attempt
    assert (await org.admin.api("{ mcpServers { totalCount } }"))["mcpServers"]["totalCount"] == 0


async def test_updating_a_server(org: Org):
    server = await register(org.admin.api, "search")
    other = await register(org.admin.api, "other")
    updated = (await org.admin.api(UPDATE, i={"id": server["id"], "name": "search-v2", "description": "Docs search"}))[
        "updateMCPServer"
    ]["mcpServer"]
    assert (updated["name"], updated["url"], updated["description"]) == ("search-v2", url("search"), "Docs search")
    assert await org.admin.api.error(UPDATE, i={"id": server["id"], "name": "other"}) == "CONFLICT"
    assert await org.admin.api.error(UPDATE, i={"id": server["id"], "url": other["url"]}) == "CONFLICT"
    assert await org.admin.api.error(UPDATE, i={"id": server["id"], "url": "gopher://x"}) == "BAD_USER_INPUT"
    assert await org.admin.api.error(UPDATE, i={"id": server["id"], "publicKey": "short"}) == "BAD_USER_INPUT"
    moved = (await org.admin.api(UPDATE, i={"id": server["id"], "url": url("moved")}))["updateMCPServer"]
    assert (moved["mcpServer"]["url"], moved["mcpServer"]["health"]) == (url("moved"), "UNKNOWN")
    row = await AuditLogEntry.filter(target_id=server["id"], action="mcp_server.update").order_by("-sequence").first()
    assert row is not None and row.metadata["url"] == url("moved")


async def test_deleting_a_server_keeps_its_evidence_and_frees_its_name_and_url(org: Org, anonymous):
    server = await register(org.admin.api, "files")
    agent = await create_agent(org.admin.api)
    await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": server["id"]})
    pk = ids.decode(server["id"], "MCPServer")
    threat = await Threat.create(
        organization_id=ids.decode(org.id, "Organization"),
        mcp_server_id=pk,
        type="CONFIGURATION_DRIFT",
        severity="MEDIUM",
        title="t",
        description="d",
        evidence={},
    )
    assert await (await org.member("MEMBER")).api.error(DELETE, i={"id": server["id"]}) == "FORBIDDEN"
    assert (await org.admin.api(DELETE, i={"id": server["id"]}))["deleteMCPServer"]["deletedId"] == server["id"]

    # Gone from every live read, and from its agent.
    assert (await org.admin.api(SERVER, id=server["id"]))["mcpServer"] is None
    assert (await org.admin.api("{ mcpServers { totalCount } }"))["mcpServers"]["totalCount"] == 0
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["mcpServers"]["totalCount"] == 0
    assert await org.admin.api.error(DELETE, i={"id": server["id"]}) == "NOT_FOUND"
    # The threat that names it still shows it, and its audit history stays.
    named = await org.admin.api(
        "query($id: ID!) { node(id: $id) { ... on Threat { mcpServer { name } } } }",
        id=ids.encode("Threat", threat.id),
    )
    assert named["node"]["mcpServer"] == {"name": "files"}
    actions = await AuditLogEntry.filter(target_id=server["id"]).order_by("sequence").values_list("action", flat=True)
    assert actions[0] == "mcp_server.register" and actions[-1] == "mcp_server.delete"
    # Its name and URL are free for a new server.
    assert (await register(org.admin.api, "files"))["id"] != server["id"]


async def test_pages_walk_every_match_once(org: Org):
    names = [f"alpha-{n}" for n in range(5)]
    for name in [*names, "beta-0", "beta-1"]:
        await register(org.admin.api, name)
    seen, after, pages = [], None, 0
    while True:
        page = (await org.admin.api(PAGE, after=after, search="alpha"))["mcpServers"]
        assert page["totalCount"] == 5
        seen += [e["node"]["name"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert (sorted(seen), pages) == (names, 3)


async def test_declared_connections_keep_drift_clean(org: Org):
    agent = await create_agent(org.admin.api)
    server = await register(org.admin.api, "files")
    link = {"agentId": agent.id, "mcpServerId": server["id"]}
    before = await drift_of(org.admin.api, agent.id)
    assert before["explanation"] == "no MCP server connections observed"
    await org.admin.api(CONNECT, i=link)
    data = (await org.admin.api(AGENT, id=agent.id))["agent"]
    assert [e["node"]["name"] for e in data["mcpServers"]["edges"]] == ["files"]
    assert (await drift_of(org.admin.api, agent.id))["value"] == 1.0
    await org.admin.api(DISCONNECT, i=link)
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["mcpServers"]["totalCount"] == 0
    assert await org.admin.api.error(DISCONNECT, i=link) == "NOT_FOUND"


async def test_undeclared_servers_reported_by_the_agent_are_drift(org: Org, anonymous):
    agent = await create_agent(org.admin.api)
    declared = await register(org.admin.api, "files")
    await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": declared["id"]})
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    report = (
        await as_agent(
            REPORT,
            i={
                "agentId": agent.id,
                "servers": [
                    {"name": "files", "url": declared["url"]},
                    {
                        "name": "shell",
                        "command": "uvx",
                        "args": ["mcp-shell", "--root", "/srv/my files"],
                        "capabilities": [
                            {"name": "run_command", "description": "Runs a command."},
                            {"name": "logs://today", "kind": "RESOURCE"},
                        ],
                    },
                ],
            },
        )
    )["reportDetectedMCPServers"]
    shell = next(s for s in report["registered"] if s["name"] == "shell")
    # A stdio server runs on the agent's machine: AIM keeps its command line and what the SDK found it offering.
    assert (shell["url"], shell["transport"], shell["status"]) == ("stdio:shell", "STDIO", "PENDING")
    assert shell["command"] == "uvx mcp-shell --root '/srv/my files'"
    assert shell["capabilities"] == [
        {"name": "run_command", "kind": "TOOL", "description": "Runs a command."},
        {"name": "logs://today", "kind": "RESOURCE", "description": None},
    ]
    data = (await org.admin.api(AGENT, id=agent.id))["agent"]
    assert [(t["node"]["type"], t["node"]["severity"]) for t in data["threats"]["edges"]] == [
        ("CONFIGURATION_DRIFT", "MEDIUM")
    ]
    drift = await drift_of(org.admin.api, agent.id)
    assert drift["value"] == 0.5
    assert drift["explanation"] == "1 of 2 MCP server(s) it talks to were never declared"
    # Reporting the same configuration again is not new drift.
    await as_agent(REPORT, i={"agentId": agent.id, "servers": [{"name": "shell", "command": "uvx"}]})
    assert len((await org.admin.api(AGENT, id=agent.id))["agent"]["threats"]["edges"]) == 1
    # Declaring the detected server resolves the drift factor.
    await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": shell["id"]})
    assert (await drift_of(org.admin.api, agent.id))["value"] == 1.0


async def test_a_bad_report_is_refused_whole(org: Org, anonymous):
    agent = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    good = {"name": "fine", "command": "npx"}
    for bad in (
        {"name": "nowhere"},
        {"name": "odd", "url": "ssh://host"},
        {"name": "huge", "command": "x" * 2001},
        {"name": "many", "command": "npx", "capabilities": [{"name": f"t{n}"} for n in range(501)]},
    ):
        assert await as_agent.error(REPORT, i={"agentId": agent.id, "servers": [good, bad]}) == "BAD_USER_INPUT"
    assert (await org.admin.api("{ mcpServers { totalCount } }"))["mcpServers"]["totalCount"] == 0


async def test_an_agent_reports_only_for_itself(org: Org, anonymous):
    agent = await create_agent(org.admin.api)
    other = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    assert await as_agent.error(REPORT, i={"agentId": other.id, "servers": [{"name": "x"}]}) == "FORBIDDEN"


async def test_foreign_servers_and_agents_are_not_found(org: Org, other_org: Org):
    agent = await create_agent(org.admin.api)
    theirs = await register(other_org.admin.api, "theirs")
    link = {"agentId": agent.id, "mcpServerId": theirs["id"]}
    assert await org.admin.api.error(CONNECT, i=link) == "NOT_FOUND"
    for mutation, extra in ((UPDATE, {"name": "mine"}), (DELETE, {})):
        assert await org.admin.api.error(mutation, i={"id": theirs["id"], **extra}) == "NOT_FOUND"
    assert (await org.admin.api(SERVER, id=theirs["id"]))["mcpServer"] is None
    assert (await org.admin.api("{ mcpServers { totalCount } }"))["mcpServers"]["totalCount"] == 0


async def test_a_tool_that_appears_later_is_drift_for_agents_that_never_declared_it(org: Org, anonymous):
    careful = await create_agent(org.admin.api, capabilities=["files:read", "mcp:delete_file"])
    careless = await create_agent(org.admin.api, capabilities=["files:read"])
    report = {"name": "files", "command": "npx", "args": ["@mcp/files"], "capabilities": [{"name": "read_file"}]}
    for agent in (careful, careless):
        as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
        await as_agent(REPORT, i={"agentId": agent.id, "servers": [report]})
    drift_before = {
        a.id: len((await org.admin.api(AGENT, id=a.id))["agent"]["threats"]["edges"]) for a in (careful, careless)
    }
    # The server now offers a tool to delete files: only the agent with no grant for it is in drift.
    grown = {**report, "capabilities": [{"name": "read_file"}, {"name": "Delete_File"}]}
    await as_agent(REPORT, i={"agentId": careless.id, "servers": [grown]})
    threats = {a.id: (await org.admin.api(AGENT, id=a.id))["agent"]["threats"]["edges"] for a in (careful, careless)}
    assert len(threats[careful.id]) == drift_before[careful.id]
    # The new drift joins the agent's open drift threat, which now describes it.
    (drift,) = threats[careless.id]
    assert len(threats[careless.id]) == drift_before[careless.id]
    assert drift["node"]["type"] == "CONFIGURATION_DRIFT" and "Delete_File" in drift["node"]["description"]
    assert drift["node"]["occurrences"] == 2
