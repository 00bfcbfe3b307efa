"""The live server every test talks to: migrated from empty, served by uvicorn in this process on
the test loop, on PostgreSQL + Redis or on SQLite + memory:// (AIM_TEST_DATABASE_URL /
AIM_TEST_REDIS_URL, set by `make test`)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import uvicorn

from aim_identity import row_security
from aim_identity.app import create_app
from aim_identity.config import Settings
from aim_identity.db import migrate
from tests.receivers import Answer, Receiver
from tests.support import Api, Org, register

# The tests read and write the database as its operator would, about every organization; the server
# under test starts each request with none and takes its caller's (aim_identity/row_security.py).
row_security.enter_every_organization()

TEST_SECRET = "test-secret-Zt8qW3mK9xV2pL7nR4cY6hB1jF5sD0gA"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_server() -> str | None:
    url = os.environ.get("AIM_TEST_DATABASE_URL", "sqlite")
    return url if url.startswith("postgres") else None


async def on_postgres_server(statement: str) -> None:
    """One statement on the test PostgreSQL server itself, such as CREATE or DROP DATABASE."""
    conn = await asyncpg.connect(postgres_server())
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def database_url(name: str) -> str:
    return postgres_server().rsplit("/", 1)[0] + "/" + name


async def fresh_database(tmp_dir) -> str:
    """An empty database of its own for this run."""
    if postgres_server() is None:
        return f"sqlite://{tmp_dir}/aim-test.db"
    name = f"aim_test_{uuid.uuid4().hex[:12]}"
    await on_postgres_server(f'CREATE DATABASE "{name}"')
    return database_url(name)


CHECKPOINT_EVERY = 5  # audit entries between signed checkpoints, so that the tests see them


@pytest.fixture(scope="session")
async def settings(tmp_path_factory) -> Settings:
    database_url = await fresh_database(tmp_path_factory.mktemp("db"))
    await migrate(database_url)
    return Settings(
        env="development",
        database_url=database_url,
        redis_url=os.environ.get("AIM_TEST_REDIS_URL", "memory://"),
        secret_key=TEST_SECRET,
        host="127.0.0.1",
        port=free_port(),
        ws_init_timeout=2,
        ws_max_subscriptions=5,
        ws_max_connections_per_principal=3,
        webhook_retry_seconds=0.2,
        audit_checkpoint_entries=CHECKPOINT_EVERY,
        # The suite asks more of some callers in a minute than any caller should; the budget's own tests
        # (tests/schema/core/test_budget.py) run servers of their own with small budgets.
        cost_budget="100000000/minute",
    )


@pytest.fixture(scope="session")
async def server(settings: Settings):
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="websockets-sansio",
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    while not instance.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://{settings.host}:{settings.port}"
    instance.should_exit = True
    await task


@pytest.fixture(scope="session")
def url(server: str) -> str:
    return f"{server}/graphql"


@pytest.fixture
def anonymous(url: str) -> Api:
    return Api(url)


@pytest.fixture
async def org(url: str) -> Org:
    return await register(url)


@pytest.fixture
async def other_org(url: str) -> Org:
    return await register(url)


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    started: list[Receiver] = []

    async def receiver(answer: Answer, host: str = "127.0.0.1") -> Receiver:
        instance = Receiver(answer)
        await instance.start(host)
        started.append(instance)
        return instance

    yield receiver
    for instance in started:
        await instance.close()
