"""`aim-agent`, as a shell or a CI job runs it: each command, `--json`, and an exit code for each way
it can fail."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.conftest import free_port
from tests.support import Org


async def aim_agent(home, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")} | {"AIM_SDK_HOME": str(home)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aim_agent.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_each_command_with_json_output(org: Org, api_key, server, tmp_path):
    at = ["--url", server, "--store", "file", "--json"]
    code, out, _ = await aim_agent(
        tmp_path, *at, "--api-key", api_key, "register", "ci-agent", "--capability", "db:read"
    )
    assert code == 0
    registered = json.loads(out)
    assert registered["verified"] is True and 0 < registered["trustScore"] <= 1 and registered["name"] == "ci-agent"

    code, out, _ = await aim_agent(tmp_path, *at, "verify", "ci-agent")  # no API key needed any more
    assert code == 0 and json.loads(out)["agentId"] == registered["agentId"]

    code, out, _ = await aim_agent(tmp_path, *at, "status", "ci-agent")
    status = json.loads(out)
    assert code == 0 and status["status"] == "VERIFIED" and status["capabilities"] == [{"name": "db:read"}]

    code, out, _ = await aim_agent(tmp_path, *at, "rotate-key", "ci-agent")
    rotated = json.loads(out)
    assert code == 0 and rotated["previousPublicKey"] == registered["publicKey"] != rotated["publicKey"]

    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps({"mcpServers": {"remote": {"url": f"http://127.0.0.1:{free_port()}/mcp"}}}))
    code, out, _ = await aim_agent(tmp_path, *at, "detect-mcp", "ci-agent", "--config", str(config))
    assert code == 0 and [s["name"] for s in json.loads(out)["registered"]] == ["remote"]

    code, out, _ = await aim_agent(tmp_path, *at, "forget", "ci-agent")
    assert code == 0 and json.loads(out)["forgotten"] is True
    code, out, _ = await aim_agent(tmp_path, *at, "verify", "ci-agent")
    assert code == 3 and json.loads(out)["error"] == "UnknownIdentity"


async def test_plain_output_is_one_line_per_field(api_key, server, tmp_path):
    code, out, _ = await aim_agent(tmp_path, "--url", server, "--store", "file", "--api-key", api_key, "register", "x")
    assert code == 0 and "verified: True" in out.splitlines()


@pytest.mark.parametrize(
    ("args", "code", "complaint"),
    [
        (["verify", "never-registered"], 3, "no identity is stored"),
        (["register", "keyless"], 1, "needs an API key"),
        (["--url", "http://127.0.0.1:{port}", "--api-key", "aim_live_x", "register", "offline"], 4, "did not answer"),
        (["--store", "plaintext", "verify", "x"], 2, "invalid choice"),
        (["rotate"], 2, "invalid choice"),
    ],
)
async def test_each_failure_has_its_exit_code(server, tmp_path, args, code, complaint):
    args = [a.format(port=free_port()) for a in args]
    exit_code, out, err = await aim_agent(tmp_path, "--url", server, "--store", "file", *args)
    assert exit_code == code
    assert complaint in out + err
