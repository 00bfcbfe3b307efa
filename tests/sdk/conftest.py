"""What the SDK's tests share: an API key of the test organization, a key store of the test's own,
and the whole server database as text, to search it for what must never reach it."""

from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from aim_agent import FileStore
from aim_identity.config import Settings
from tests.support import Org

CREATE_KEY = """mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }"""


async def new_api_key(org: Org, role: str) -> str:
    return (await org.admin.api(CREATE_KEY, i={"name": f"sdk-{role.lower()}", "role": role}))["createApiKey"]["secret"]


@pytest.fixture
async def api_key(org: Org) -> str:
    """A manager's key: registering an agent with capabilities grants them."""
    return await new_api_key(org, "MANAGER")


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(tmp_path / "identities")


async def database_text(settings: Settings) -> str:
    """Every row of every table of the server's database: pg_dump's data, or SQLite's dump."""
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite://")

        def dump() -> str:
            with sqlite3.connect(path) as conn:
                return "\n".join(conn.iterdump())

        return await asyncio.to_thread(dump)
    pg_dump = os.path.join(os.environ.get("AIM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"), "pg_dump")
    process = await asyncio.create_subprocess_exec(
        pg_dump, "--data-only", "--no-owner", url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()
