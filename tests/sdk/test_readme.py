"""The SDK README's quick start, run as a reader would paste it, against the live server: its setup
makes the organization and the key, its agent script runs, and runs again registering nothing."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from aim_identity.models import Agent

README = Path(__file__).parents[2] / "sdk" / "README.md"


def block(marker: str) -> str:
    found = re.search(rf"<!-- quickstart:{marker} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert found, marker
    return found.group(1)


async def run(script: Path, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_quick_start_works_as_written(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")}
    env |= {"AIM_SDK_URL": server, "AIM_SDK_HOME": str(tmp_path / "home")}
    (tmp_path / "setup.py").write_text(block("setup"))
    (tmp_path / "agent.py").write_text(block("python"))
    exported = (await run(tmp_path / "setup.py", env)).strip()
    assert exported.startswith("export AIM_SDK_API_KEY=aim_live_")
    env["AIM_SDK_API_KEY"] = exported.removeprefix("export AIM_SDK_API_KEY=")
    for _ in range(2):
        out = await run(tmp_path / "agent.py", env)
        assert re.search(r"^trust score: 0\.\d+$", out, re.M), out
        assert "['INV-1', 'INV-2']" in out and "denied: db:delete is outside the agent's grants" in out
    assert await Agent.filter(organization__name="Acme", name="billing-agent").count() == 1
