"""The floor: plain Starlette routes doing the bare work of what they stand beside, with asyncpg.

    GET  /agents     reads the same 20 agents and returns them as JSON in the shape the GraphQL query
                     returns (beside (b) `agents(first: 20)`)
    POST /authorize  takes the very body (e) sends to `authorizeAction`, reads the agent's public key,
                     status and grants with one SELECT per request (not kept in memory: a rotated key
                     or a suspended agent must count at once, as in AIM), verifies the Ed25519
                     signature of PROTOCOL.md's bytes with PyNaCl, checks the timestamp (+-60 s) and the
                     grant, and records the decision with one INSERT into a table of its own whose
                     unique (agent_id, nonce) refuses a replay; it answers in `authorizeAction`'s shape
    POST /verification
                     takes the very bodies (c) sends to `requestVerificationChallenge` and `verifyAgent`
                     and does their essential work: a challenge is one INSERT (of PROTOCOL.md's
                     message, for an agent of the organization); an answer is one transaction that
                     locks the challenge with the agent's key and status, checks it is unused and
                     unexpired, verifies the Ed25519 signature with PyNaCl, marks it used, inserts the
                     verification event and updates the agent; then it signs one EdDSA JWT, as AIM
                     issues the agent a token; it answers in the mutations' shapes
    POST /oauth/token
                     takes the very form (g) sends to AIM's token endpoint, verifies its client
                     assertion (one Ed25519 JWT, with PyJWT, against the agent's key read once and
                     kept) and signs one EdDSA JWT; no database work, as the issue defines it

Served exactly as `aimctl serve` serves AIM: one uvicorn worker, `uvicorn.run(app, host, port,
log_level="info")`, so the loop and HTTP implementation (uvicorn's `auto`: uvloop and httptools when
installed) and the access log match.

    AIM_BENCH_DATABASE_URL=postgres://... AIM_BENCH_ORG_ID=<uuid> python -m bench.floor --port P
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.load import action_message

POOL_MIN = 1  # as Tortoise's asyncpg client; the maximum is the bench's --pool, given to both servers
QUERY = """SELECT id, name, status, trust_score FROM agents
           WHERE organization_id = $1 ORDER BY created_at, id LIMIT 20"""
SIGNER = """SELECT a.public_key, a.status, ARRAY(SELECT g.name FROM capability_grants g WHERE g.agent_id = a.id)
            AS grants FROM agents a WHERE a.id = $1 AND a.organization_id = $2 AND a.deleted_at IS NULL"""
# The floor's own table in the bench database (AIM never reads it): one row per decision.
DECISIONS = """CREATE TABLE IF NOT EXISTS bench_floor_decisions (
    id uuid PRIMARY KEY, agent_id uuid NOT NULL, nonce text NOT NULL, capability text NOT NULL,
    allowed boolean NOT NULL, reason text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agent_id, nonce))"""
RECORD = """INSERT INTO bench_floor_decisions (id, agent_id, nonce, capability, allowed, reason)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, nonce) DO NOTHING RETURNING id"""
CLOCK_SKEW_S = 60  # as AIM_ACTION_CLOCK_SKEW's default
# The floor's own tables for challenge-response, beside AIM's `agents`, whose rows an answer updates.
CHALLENGES = """CREATE TABLE IF NOT EXISTS bench_floor_challenges (
    id uuid PRIMARY KEY, agent_id uuid NOT NULL, nonce text NOT NULL, expires_at timestamptz NOT NULL,
    used_at timestamptz)"""
VERIFICATIONS = """CREATE TABLE IF NOT EXISTS bench_floor_verifications (
    id uuid PRIMARY KEY, agent_id uuid NOT NULL, challenge_id uuid NOT NULL, verified boolean NOT NULL,
    reason text, at timestamptz NOT NULL DEFAULT now())"""
ISSUE_CHALLENGE = """INSERT INTO bench_floor_challenges (id, agent_id, nonce, expires_at)
    SELECT $1, a.id, $2, $3 FROM agents a WHERE a.id = $4 AND a.organization_id = $5 AND a.deleted_at IS NULL
    RETURNING id"""
ANSWERED = """SELECT c.agent_id, c.nonce, c.expires_at, c.used_at, a.public_key, a.status
    FROM bench_floor_challenges c JOIN agents a ON a.id = c.agent_id WHERE c.id = $1 FOR UPDATE OF c"""
SPEND_CHALLENGE = "UPDATE bench_floor_challenges SET used_at = now() WHERE id = $1"
RECORD_VERIFICATION = """INSERT INTO bench_floor_verifications (id, agent_id, challenge_id, verified, reason)
    VALUES ($1, $2, $3, $4, $5)"""
MARK_VERIFIED = "UPDATE agents SET last_verified_at = now() WHERE id = $1 RETURNING trust_score"
CHALLENGE_TTL_S = 300  # as PROTOCOL.md


def global_id(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def challenge_message(agent_gid: str, challenge_gid: str, nonce: str, expires_at: datetime) -> bytes:
    """PROTOCOL.md's challenge bytes."""
    expires = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "\n".join(["aim/agent-challenge/v1", agent_gid, challenge_gid, nonce, expires]).encode()


async def keep_session(connection: asyncpg.Connection) -> None:
    """AIM skips asyncpg's reset round trip when a pooled connection comes back (aim_identity.db);
    the floor does the same, so the two compare the same database work."""


def create_app(dsn: str, organization_id: uuid.UUID, pool_size: int, issuer: str) -> Starlette:
    pool: asyncpg.Pool | None = None
    signing_key = Ed25519PrivateKey.generate()
    agent_keys: dict[str, Ed25519PublicKey] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=POOL_MIN, max_size=pool_size, reset=keep_session)
        for table in (DECISIONS, CHALLENGES, VERIFICATIONS):
            await pool.execute(table)
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

    async def authorize(request: Request) -> JSONResponse:
        i = (await request.json())["variables"]["i"]
        agent_gid, capability, nonce = i["agentId"], i["capability"], i["nonce"]
        agent_id = uuid.UUID(base64.b64decode(agent_gid).decode().removeprefix("Agent:"))
        timestamp = datetime.fromisoformat(i["timestamp"])
        signer = await pool.fetchrow(SIGNER, agent_id, organization_id)
        if signer is None:
            return JSONResponse({"data": None, "errors": [{"message": "No such agent"}]})
        signed = action_message(
            agent_gid,
            capability,
            i.get("resource"),
            timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            nonce,
            i.get("context"),
        )
        try:
            VerifyKey(base64.b64decode(signer["public_key"])).verify(signed, base64.b64decode(i["signature"]))
        except BadSignatureError:
            return decision(None, False, "the signature does not verify with the agent's key")
        if abs((datetime.now(UTC) - timestamp).total_seconds()) > CLOCK_SKEW_S:
            allowed, reason = False, f"the timestamp is more than {CLOCK_SKEW_S} s from the server's clock"
        elif signer["status"] in ("SUSPENDED", "REVOKED"):
            allowed, reason = False, f"the agent is {signer['status'].lower()}"
        elif any(g == capability or (g.endswith("*") and capability.startswith(g[:-1])) for g in signer["grants"]):
            allowed, reason = True, f"granted: {capability}"
        else:
            allowed, reason = False, f"{capability} is outside the agent's grants"
        recorded = await pool.fetchval(RECORD, uuid.uuid4(), agent_id, nonce, capability, allowed, reason)
        if recorded is None:
            return decision(None, False, "the nonce was already used")
        return decision(recorded, allowed, reason)

    def decision(pk: uuid.UUID | None, allowed: bool, reason: str) -> JSONResponse:
        gid = global_id("ActionDecision", pk) if pk else None
        return JSONResponse({"data": {"authorizeAction": {"id": gid, "allowed": allowed, "reason": reason}}})

    async def verification(request: Request) -> JSONResponse:
        i = (await request.json())["variables"]["i"]
        if "agentId" in i:
            return await challenge(i["agentId"])
        return await answer(
            uuid.UUID(base64.b64decode(i["challengeId"]).decode().removeprefix("VerificationChallenge:")),
            i["signature"],
        )

    async def challenge(agent_gid: str) -> JSONResponse:
        agent_id = uuid.UUID(base64.b64decode(agent_gid).decode().removeprefix("Agent:"))
        pk, nonce = uuid.uuid4(), secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(seconds=CHALLENGE_TTL_S)
        if await pool.fetchval(ISSUE_CHALLENGE, pk, nonce, expires_at, agent_id, organization_id) is None:
            return JSONResponse({"data": None, "errors": [{"message": "No such agent"}]})
        gid = global_id("VerificationChallenge", pk)
        message = challenge_message(agent_gid, gid, nonce, expires_at)
        return JSONResponse(
            {"data": {"requestVerificationChallenge": {"id": gid, "message": base64.b64encode(message).decode()}}}
        )

    async def answer(challenge_id: uuid.UUID, signature: str) -> JSONResponse:
        async with pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(ANSWERED, challenge_id)
            if row is None:
                return JSONResponse({"data": None, "errors": [{"message": "No such challenge"}]})
            agent_gid = global_id("Agent", row["agent_id"])
            signed = challenge_message(
                agent_gid, global_id("VerificationChallenge", challenge_id), row["nonce"], row["expires_at"]
            )
            reason = None
            if row["used_at"] is not None:
                reason = "CHALLENGE_ALREADY_USED"
            elif row["expires_at"] <= datetime.now(UTC):
                reason = "CHALLENGE_EXPIRED"
            elif row["status"] in ("SUSPENDED", "REVOKED"):
                reason = "AGENT_NOT_ACTIVE"
            else:
                try:
                    VerifyKey(base64.b64decode(row["public_key"])).verify(signed, base64.b64decode(signature))
                except BadSignatureError:
                    reason = "INVALID_SIGNATURE"
            await connection.execute(SPEND_CHALLENGE, challenge_id)
            await connection.execute(
                RECORD_VERIFICATION,
                uuid.uuid4(),
                row["agent_id"],
                challenge_id,
                reason is None,
                reason,
            )
            score = await connection.fetchval(MARK_VERIFIED, row["agent_id"])
        token = expires = None
        if reason is None:
            now = int(time.time())
            token = jwt.encode(
                {
                    "iss": issuer,
                    "aud": issuer,
                    "sub": agent_gid,
                    "iat": now,
                    "exp": now + 900,
                    "jti": str(uuid.uuid4()),
                },
                signing_key,
                algorithm="EdDSA",
            )
            expires = datetime.fromtimestamp(now + 900, UTC).isoformat()
        outcome = {"verified": reason is None, "failureReason": reason, "agentToken": token,
                   "agentTokenExpiresAt": expires, "trustScore": {"score": score}}  # fmt: skip
        return JSONResponse({"data": {"verifyAgent": outcome}})

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        assertion = form["client_assertion"]
        subject = jwt.decode(assertion, options={"verify_signature": False})["sub"]
        if subject not in agent_keys:
            agent_id = uuid.UUID(base64.b64decode(subject).decode().removeprefix("Agent:"))
            raw = base64.b64decode(await pool.fetchval("SELECT public_key FROM agents WHERE id = $1", agent_id))
            agent_keys[subject] = Ed25519PublicKey.from_public_bytes(raw)
        claims = jwt.decode(
            assertion, agent_keys[subject], algorithms=["EdDSA"], audience=issuer, options={"require": ["exp", "jti"]}
        )
        now = int(time.time())
        access = jwt.encode(
            {"iss": issuer, "aud": form["resource"], "sub": claims["sub"], "iat": now, "exp": now + 300,
             "jti": str(uuid.uuid4()), "scope": "db:read"},
            signing_key,
            algorithm="EdDSA",
            headers={"typ": "at+jwt"},
        )  # fmt: skip
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300, "scope": "db:read"})

    async def healthz(request: Request) -> JSONResponse:
        await pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/agents", agents),
        Route("/authorize", authorize, methods=["POST"]),
        Route("/verification", verification, methods=["POST"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/healthz", healthz),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=int, default=20, help="most database connections (default 20, as AIM)")
    parser.add_argument("--issuer", required=True, help="the audience its client assertions are signed for (AIM's)")
    args = parser.parse_args()
    database, org = os.environ["AIM_BENCH_DATABASE_URL"], uuid.UUID(os.environ["AIM_BENCH_ORG_ID"])
    app = create_app(database, org, args.pool, args.issuer)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")  # as aimctl serve does


if __name__ == "__main__":
    main()
