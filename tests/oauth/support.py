"""What the OAuth tests share: client assertions signed as an agent SDK signs them, and the token
endpoint spoken to as RFC 6749 says (a form, over HTTP)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

from tests.support import AgentKeys, Api, fresh_ip

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
REGISTER_SERVER = """mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id url } } }"""
CREDENTIALS = """mutation($i: MCPServerInput!) { createMCPServerCredentials(input: $i) {
  clientId clientSecret mcpServer { id } } }"""


def assertion(
    agent: AgentKeys, audience: str, *, key: SigningKey | None = None, headers: dict | None = None, **claims: Any
) -> str:
    """A private_key_jwt client assertion for the agent, valid for a minute unless `claims` say otherwise."""
    now = int(time.time())
    body = {"iss": agent.id, "sub": agent.id, "aud": audience, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    body |= claims
    signer = Ed25519PrivateKey.from_private_bytes(bytes(key or agent.signing_key))
    return jwt.encode({k: v for k, v in body.items() if v is not None}, signer, algorithm="EdDSA", headers=headers)


class OAuth:
    """AIM's OAuth endpoints, from one client address."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ip = fresh_ip()

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def token_endpoint(self) -> str:
        return f"{self.base}/oauth/token"

    async def post(self, path: str, data: dict | None = None, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient() as http:
            headers = {"X-Forwarded-For": self.ip, **kwargs.pop("headers", {})}
            return await http.post(f"{self.base}{path}", data=data, headers=headers, **kwargs)

    async def token(
        self, agent: AgentKeys, resource: str | None, scope: str | None = None, **form: str
    ) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": form.pop("client_assertion", None) or assertion(agent, self.issuer),
            "resource": resource,
            "scope": scope,
            **form,
        }
        return await self.post("/oauth/token", {k: v for k, v in data.items() if v is not None})


async def registered_server(api: Api, url: str) -> dict:
    return (await api(REGISTER_SERVER, i={"name": f"server-{uuid.uuid4().hex[:8]}", "url": url}))["registerMCPServer"][
        "mcpServer"
    ]


async def credentials(api: Api, server_id: str) -> tuple[str, str]:
    issued = (await api(CREDENTIALS, i={"id": server_id}))["createMCPServerCredentials"]
    return issued["clientId"], issued["clientSecret"]
