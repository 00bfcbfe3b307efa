"""`aimctl serve` in a process of its own, migrated on a database of its own: for tests that need
settings the shared server does not have (production mode, small limits), or that break their server
on purpose."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from aim_identity.config import Settings
from tests.conftest import TEST_SECRET, free_port, fresh_database
from tests.support import BIN


@dataclass
class Served:
    url: str  # the /graphql endpoint
    database_url: str
    log: Path


@asynccontextmanager
async def serving(settings: Settings, work: Path, **variables: object) -> AsyncIterator[Served]:
    """A server on the suite's Redis (unless AIM_REDIS_URL is among the variables) with these settings."""
    database_url = await fresh_database(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")} | {
        "AIM_DATABASE_URL": database_url,
        "AIM_REDIS_URL": settings.redis_url,
        "AIM_SECRET_KEY": TEST_SECRET,
        **{name: str(value) for name, value in variables.items()},
    }
    await run(str(BIN / "aimctl"), "migrate", env=env)
    port, log = free_port(), work / "server.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(BIN / "aimctl"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(base, process, log)
        yield Served(f"{base}/graphql", database_url, log)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        await drop_database(database_url)


async def run(*args: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()


async def wait_until_up(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"the server exited:\n{log.read_text()}")
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


async def drop_database(database_url: str) -> None:
    if not database_url.startswith("postgres"):
        return
    server, name = database_url.rsplit("/", 1)
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()
