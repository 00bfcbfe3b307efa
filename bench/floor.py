"""The floor: a plain Starlette route that reads the same 20 agents with asyncpg and returns them as
JSON in the shape the GraphQL query returns. Served exactly as `aimctl serve` serves AIM: one
uvicorn worker, `uvicorn.run(app, host, port, log_level="info")`, so the loop and HTTP
implementation (uvicorn's `auto`: uvloop and httptools when installed) and the access log match.

    AIM_BENCH_DATABASE_URL=postgres://... AIM_BENCH_ORG_ID=<uuid> python -m bench.floor --port P
"""

from __future__ import annotations

import argparse
import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

POOL_MIN = 1  # as Tortoise's asyncpg client; the maximum is the bench's --pool, given to both servers
QUERY = """SELECT id, name, status, trust_score FROM agents
           WHERE organization_id = $1 ORDER BY created_at, id LIMIT 20"""


def global_id(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def keep_session(connection: asyncpg.Connection) -> None:
    """AIM skips asyncpg's reset round trip when a pooled connection comes back (aim_identity.db);
    the floor does the same, so the two compare the same database work."""


def create_app(dsn: str, organization_id: uuid.UUID, pool_size: int) -> Starlette:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=POOL_MIN, max_size=pool_size, reset=keep_session)
        try:
            yield
        finally:
            await pool.close()

    async def agents(request: Request) -> JSONResponse:
        rows = await pool.fetch(QUERY, organization_id)
        edges = [
            {
                "node": {
                    "id": global_id("Agent", r["id"]),
                    "name": r["name"],
                    "status": r["status"],
                    "trustScore": {"score": r["trust_score"]},
                }
            }
            for r in rows
        ]
        return JSONResponse({"data": {"agents": {"edges": edges}}})

    async def healthz(request: Request) -> JSONResponse:
        await pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/agents", agents), Route("/healthz", healthz)], lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=int, default=20, help="most database connections (default 20, as AIM)")
    args = parser.parse_args()
    app = create_app(os.environ["AIM_BENCH_DATABASE_URL"], uuid.UUID(os.environ["AIM_BENCH_ORG_ID"]), args.pool)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")  # as aimctl serve does


if __name__ == "__main__":
    main()
