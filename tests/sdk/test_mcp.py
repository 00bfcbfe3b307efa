"""MCP from the agent's side: the servers in Claude Desktop's configuration reach AIM without their
`env`, with each stdio server's tools listed here by the official `mcp` client; and a token for an MCP
server that trusts AIM, kept until it nears expiry."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from aim_agent import AsyncIdentity, asecure
from tests.conftest import free_port
from tests.oauth.support import registered_server
from tests.sdk.conftest import database_text
from tests.support import Org

FIXTURE = Path(__file__).parents[1] / "mcp" / "fixture.py"
SECRETS = {"FIXTURE_TOKEN": "fixture-secret-7Qm2Lx9Vb4Nc8Rt1", "GITHUB_TOKEN": "ghp_sdkSecret0123456789abcdefABCDEF"}
SERVERS = """query($id: ID!) { agent(id: $id) { mcpServers(first: 10) { edges { node {
  name url capabilities { name kind description } } } } } }"""


def stdio_server(*extra: str, env: dict[str, str] | None = None) -> dict:
    entry = {"command": sys.executable, "args": [str(FIXTURE), "--transport", "stdio", *extra]}
    return {**entry, "env": env} if env is not None else entry


@pytest.fixture
async def agent(api_key, store, server) -> AsyncIdentity:
    identity = await asecure("claude-agent", url=server, api_key=api_key, capabilities=["mcp:*"], store=store)
    yield identity
    await identity.close()


async def test_configured_servers_are_reported_with_their_tools_and_without_their_secrets(
    org: Org, agent: AsyncIdentity, tmp_path, settings
):
    remote = f"http://127.0.0.1:{free_port()}/mcp"
    config = {
        "mcpServers": {
            "local-docs": stdio_server("--tools", "read_file,list_dir", "--require-env", "FIXTURE_TOKEN", env=SECRETS),
            "remote": {"url": remote},
        }
    }
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps(config))
    registered = await agent.detect_mcp_servers(path)
    assert sorted(s["name"] for s in registered) == ["local-docs", "remote"]

    servers = (await org.admin.api(SERVERS, id=agent.agent_id))["agent"]["mcpServers"]["edges"]
    found = {s["node"]["name"]: s["node"] for s in servers}
    assert found["remote"]["url"] == remote
    # The fixture starts only with FIXTURE_TOKEN in its environment: the env was used, here.
    assert sorted((c["kind"], c["name"]) for c in found["local-docs"]["capabilities"]) == [
        ("PROMPT", "summarize"),
        ("RESOURCE", "readme"),
        ("TOOL", "list_dir"),
        ("TOOL", "read_file"),
    ]
    stored = await database_text(settings)
    assert str(FIXTURE) in stored  # the database was read, and holds the report
    assert not [name for name, secret in SECRETS.items() if secret in stored]


async def test_a_stdio_server_that_fails_here_is_reported_without_tools(agent: AsyncIdentity, tmp_path, caplog):
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps({"mcpServers": {"needs-a-secret": stdio_server("--require-env", "FIXTURE_TOKEN")}}))
    with caplog.at_level(logging.WARNING, logger="aim_agent"):
        registered = await agent.detect_mcp_servers(path)
    assert [s["name"] for s in registered] == ["needs-a-secret"]
    assert "could not list what the MCP server needs-a-secret offers" in caplog.text


async def test_nothing_configured_reports_nothing(agent: AsyncIdentity, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("APPDATA", raising=False)
    assert await agent.detect_mcp_servers() == []


async def test_a_token_for_an_mcp_server_is_minted_for_it_and_kept(org: Org, agent: AsyncIdentity, server):
    resource = (await registered_server(org.admin.api, f"http://127.0.0.1:{free_port()}/mcp"))["url"]
    token = await agent.mcp_token(resource, scope=["mcp:read_file"])
    assert await agent.mcp_token(resource, scope=["mcp:read_file"]) == token  # cached
    async with httpx.AsyncClient() as http:
        keys = jwt.PyJWKSet.from_dict((await http.get(f"{server}/.well-known/jwks.json")).json())
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, keys[kid].key, algorithms=["EdDSA"], audience=resource, issuer=server)
    assert claims["sub"] == agent.agent_id and claims["scope"] == "mcp:read_file"
    assert await agent.mcp_token(resource) != token  # another scope is another token
