"""What the tests share: a gql client that speaks to the live server, and people and agents to act with."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import random
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from nacl.signing import SigningKey

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_ips = itertools.count(1)


def fresh_ip() -> str:
    """Each client appears from its own address, so the per-IP brute-force guard of one test never
    locks out another (the server trusts X-Forwarded-For from loopback)."""
    n = next(_ips) + random.randrange(1_000_000)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


class GraphQLError(Exception):
    def __init__(self, errors: list[dict]) -> None:
        super().__init__(errors[0].get("message"))
        self.errors = errors
        self.code = (errors[0].get("extensions") or {}).get("code")


@dataclass
class Api:
    """A caller of the live API: anonymous, a user's token, an agent token, or an API key."""

    url: str
    token: str | None = None
    api_key: str | None = None
    ip: str = field(default_factory=fresh_ip)

    def headers(self) -> dict[str, str]:
        headers = {"X-Forwarded-For": self.ip}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        return headers

    async def __call__(self, query: str, **variables: Any) -> dict:
        transport = AIOHTTPTransport(url=self.url, headers=self.headers(), ssl=False)
        async with Client(transport=transport) as session:
            try:
                return await session.execute(gql(query), variable_values=variables or None)
            except TransportQueryError as exc:
                raise GraphQLError(exc.errors or [{"message": str(exc)}]) from None

    async def error(self, query: str, **variables: Any) -> str:
        """The `extensions.code` of a call that must fail."""
        try:
            data = await self(query, **variables)
        except GraphQLError as exc:
            return exc.code
        raise AssertionError(f"expected an error, got {data}")

    def as_token(self, token: str) -> Api:
        return Api(self.url, token=token)


@dataclass
class Person:
    api: Api
    user_id: str
    email: str
    refresh_token: str


@dataclass
class Org:
    url: str
    admin: Person
    name: str
    id: str

    async def member(self, role: str) -> Person:
        email = f"{role.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        await self.admin.api(
            """mutation($i: InviteUserInput!) { inviteUser(input: $i) { user { id } } }""",
            i={"email": email, "name": role.title(), "role": role, "password": PASSWORD},
        )
        return await login(self.url, email)


REGISTER = """mutation($i: RegisterInput!) {
  register(input: $i) { accessToken refreshToken user { id email organization { id name } } } }"""
LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken user { id email } } }"""


async def register(url: str, name: str | None = None) -> Org:
    name = name or f"Org {uuid.uuid4().hex[:8]}"
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    data = (
        await Api(url)(REGISTER, i={"email": email, "password": PASSWORD, "name": "Admin", "organizationName": name})
    )["register"]
    admin = Person(Api(url, token=data["accessToken"]), data["user"]["id"], email, data["refreshToken"])
    return Org(url, admin, name, data["user"]["organization"]["id"])


async def login(url: str, email: str, password: str = PASSWORD) -> Person:
    data = (await Api(url)(LOGIN, i={"email": email, "password": password}))["login"]
    return Person(Api(url, token=data["accessToken"]), data["user"]["id"], email, data["refreshToken"])


@dataclass
class AgentKeys:
    """An agent as the SDK holds it: its id and its private key, which never leaves this process."""

    id: str
    signing_key: SigningKey

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self.signing_key.verify_key)).decode()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.signing_key.sign(message).signature).decode()


CREATE_AGENT = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { privateKey agent { id name status } } }"""
CHALLENGE = """mutation($i: RequestChallengeInput!) {
  requestVerificationChallenge(input: $i) { id nonce message expiresAt } }"""
VERIFY = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) {
  verified failureReason agentToken agentTokenExpiresAt
  agent { id status }
  trustScore { score confidence factors { name value weight contribution explanation } }
  event { id result failureReason trustScoreBefore trustScoreAfter } } }"""


async def create_agent(api: Api, name: str | None = None, capabilities: list[str] | None = None) -> AgentKeys:
    key = SigningKey.generate()
    keys = AgentKeys("", key)
    data = await api(
        CREATE_AGENT,
        i={
            "name": name or f"agent-{uuid.uuid4().hex[:8]}",
            "publicKey": keys.public_key,
            "capabilities": capabilities or [],
        },
    )
    keys.id = data["createAgent"]["agent"]["id"]
    return keys


# What any caller may read of an answer, a failed anonymous one included (it sees only the agent's id
# and status); VERIFY reads the whole answer, which a caller may once the answer has proved who it is.
VERIFY_OUTCOME = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) {
  verified failureReason agentToken agentTokenExpiresAt agent { id status } event { id result failureReason } } }"""


async def verify(anonymous: Api, agent: AgentKeys, signer: SigningKey | None = None) -> dict:
    """One whole challenge-response round, signed by the agent's key, read whole; or signed by another
    key (`signer`), expecting a failure, read as far as an anonymous caller may."""
    challenge = (await anonymous(CHALLENGE, i={"agentId": agent.id}))["requestVerificationChallenge"]
    message = base64.b64decode(challenge["message"])
    signature = base64.b64encode((signer or agent.signing_key).sign(message).signature).decode()
    document = VERIFY if signer is None else VERIFY_OUTCOME
    return (await anonymous(document, i={"challengeId": challenge["id"], "signature": signature}))["verifyAgent"]


def signed_request(
    agent: AgentKeys,
    capability: str,
    resource: str | None = None,
    context: dict | None = None,
    at: datetime | None = None,
    nonce: str | None = None,
    signer: SigningKey | None = None,
) -> dict:
    """An authorizeAction input signed as PROTOCOL.md says (by the agent's key unless `signer`)."""
    at = (at or datetime.now(UTC)).replace(microsecond=0)
    timestamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    nonce = nonce or base64.b64encode(secrets.token_bytes(16)).decode()
    digest = hashlib.sha256(rfc8785.dumps(context or {})).hexdigest()
    message = "\n".join(["aim/action/v1", agent.id, capability, resource or "", timestamp, nonce, digest]).encode()
    signature = base64.b64encode((signer or agent.signing_key).sign(message).signature).decode()
    request = {
        "agentId": agent.id,
        "capability": capability,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": signature,
    }
    if resource is not None:
        request["resource"] = resource
    if context is not None:
        request["context"] = context
    return request


async def aimctl(*args: str, database_url: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIM_")}
    if database_url:
        env["AIM_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        str(BIN / "aimctl"), *args, env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, f"aimctl {' '.join(args)} failed:\n{out.decode()}\n{err.decode()}"
    return out.decode()


POLICY = """mutation($i: UpdateSecurityPolicyInput!) { updateSecurityPolicy(input: $i) { action } }"""


async def alert_only(org: Org, threat_type: str = "CREDENTIAL_MISUSE") -> None:
    """The organization's policy for `threat_type` alerts without suspending: for tests of what happens
    after a threat, not of the response to it."""
    await org.admin.api(POLICY, i={"threatType": threat_type, "minSeverity": "LOW", "action": "ALERT", "enabled": True})


async def eventually(check, seconds: float = 15) -> None:
    """Until `check()` is true: for what a background worker does soon after a request."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def judged(org: Org, seconds: float = 15) -> None:
    """Until the detector has judged every event the organization has committed so far (the server's
    own, in this process), and the events its judgements wrote."""
    from aim_identity import ids
    from aim_identity.models import DetectionCursor, OutboxEvent

    organization_id = ids.decode(org.id, "Organization")

    async def caught_up() -> bool:
        # The cursor first: an event committed after it was read shows as one still to judge.
        cursor = await DetectionCursor.get(organization_id=organization_id)
        last = await OutboxEvent.filter(organization_id=organization_id).order_by("-id").first()
        return last is None or cursor.cursor >= last.id

    await eventually(caught_up, seconds)
