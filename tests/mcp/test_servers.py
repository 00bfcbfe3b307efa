"""Which MCP servers an agent talks to: declared by people, or detected by its SDK (drift)."""

from __future__ import annotations

from tests.support import create_agent, verify

REGISTER = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) {
  mcpServer { id name url status capabilities { name kind } } } }"""
CONNECT = "mutation($i: ConnectMCPServerInput!) { connectMCPServer(input: $i) { agent { id } } }"
DISCONNECT = "mutation($i: ConnectMCPServerInput!) { disconnectMCPServer(input: $i) { agent { id } } }"
REPORT = """mutation($i: ReportDetectedMCPServersInput!) { reportDetectedMCPServers(input: $i) {
  agent { id } registered { id name url status } } }"""
AGENT = """query($id: ID!) { agent(id: $id) {
  mcpServers { totalCount edges { node { name } } }
  threats { edges { node { type severity description } } }
  trustScore { factors { name value explanation } } } }"""


async def drift_of(api, agent_id: str) -> dict:
    factors = (await api(AGENT, id=agent_id))["agent"]["trustScore"]["factors"]
    return next(f for f in factors if f["name"] == "drift")


async def test_register_and_list_servers(org):
    server = (
        await org.admin.api(
            REGISTER,
            i={"name": "github", "url": "https://mcp.github.example", "capabilities": ["search_code", "open_pr"]},
        )
    )["registerMCPServer"]
    assert server["mcpServer"]["status"] == "PENDING"
    assert server["mcpServer"]["capabilities"] == [
        {"name": "search_code", "kind": "TOOL"},
        {"name": "open_pr", "kind": "TOOL"},
    ]
    listed = await org.admin.api('{ mcpServers(search: "git") { totalCount edges { node { id } } } }')
    assert listed["mcpServers"]["totalCount"] == 1
    assert await org.admin.api.error(REGISTER, i={"name": "github", "url": "https://x"}) == "CONFLICT"
    assert await org.admin.api.error(REGISTER, i={"name": " ", "url": "https://x"}) == "BAD_USER_INPUT"
    assert (
        await org.admin.api.error(REGISTER, i={"name": "k", "url": "https://x", "publicKey": "AAAA"})
        == "BAD_USER_INPUT"
    )


async def test_declared_connections_keep_drift_clean(org):
    agent = await create_agent(org.admin.api)
    server = (await org.admin.api(REGISTER, i={"name": "files", "url": "stdio:files"}))["registerMCPServer"]
    link = {"agentId": agent.id, "mcpServerId": server["mcpServer"]["id"]}
    before = await drift_of(org.admin.api, agent.id)
    assert before["explanation"] == "no MCP server connections observed"
    await org.admin.api(CONNECT, i=link)
    data = (await org.admin.api(AGENT, id=agent.id))["agent"]
    assert [e["node"]["name"] for e in data["mcpServers"]["edges"]] == ["files"]
    assert (await drift_of(org.admin.api, agent.id))["value"] == 1.0
    await org.admin.api(DISCONNECT, i=link)
    assert (await org.admin.api(AGENT, id=agent.id))["agent"]["mcpServers"]["totalCount"] == 0
    assert await org.admin.api.error(DISCONNECT, i=link) == "NOT_FOUND"


async def test_undeclared_servers_reported_by_the_agent_are_drift(org, anonymous):
    agent = await create_agent(org.admin.api)
    declared = (await org.admin.api(REGISTER, i={"name": "files", "url": "stdio:files"}))["registerMCPServer"]
    await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": declared["mcpServer"]["id"]})
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    report = (
        await as_agent(
            REPORT,
            i={
                "agentId": agent.id,
                "servers": [
                    {"name": "files", "command": "npx", "args": ["@mcp/files"]},
                    {"name": "shell", "command": "uvx", "args": ["mcp-shell"]},
                ],
            },
        )
    )["reportDetectedMCPServers"]
    assert {s["name"]: s["status"] for s in report["registered"]} == {"files": "PENDING", "shell": "PENDING"}
    assert next(s for s in report["registered"] if s["name"] == "shell")["url"] == "uvx mcp-shell"
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
    shell = next(s for s in report["registered"] if s["name"] == "shell")
    await org.admin.api(CONNECT, i={"agentId": agent.id, "mcpServerId": shell["id"]})
    assert (await drift_of(org.admin.api, agent.id))["value"] == 1.0


async def test_an_agent_reports_only_for_itself(org, anonymous):
    agent = await create_agent(org.admin.api)
    other = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    assert await as_agent.error(REPORT, i={"agentId": other.id, "servers": [{"name": "x"}]}) == "FORBIDDEN"


async def test_foreign_servers_and_agents_are_not_found(org, other_org):
    agent = await create_agent(org.admin.api)
    theirs = (await other_org.admin.api(REGISTER, i={"name": "theirs", "url": "https://t"}))["registerMCPServer"]
    link = {"agentId": agent.id, "mcpServerId": theirs["mcpServer"]["id"]}
    assert await org.admin.api.error(CONNECT, i=link) == "NOT_FOUND"
    assert (await org.admin.api("query($id: ID!) { mcpServer(id: $id) { id } }", id=theirs["mcpServer"]["id"]))[
        "mcpServer"
    ] is None
    assert (await org.admin.api("{ mcpServers { totalCount } }"))["mcpServers"]["totalCount"] == 0
