"""An MCP server that trusts AIM, built as an MCP server author would with the official `mcp` SDK: its
own token verifier and auth settings, configured with AIM's issuer URL and the credentials AIM issued it
(the README shows the same lines).

    AIM_RS_CLIENT_ID=... AIM_RS_CLIENT_SECRET=... python -m tests.oauth.protected_server --port P --issuer URL

It serves `get_weather` and `send_email` at /mcp, each needing the scope `mcp:<tool>` (a grant ending in
`*` covers it), and the RFC 9728 metadata that names AIM as its authorization server.
"""

from __future__ import annotations

import argparse
import os

import httpx2
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

HOST = "127.0.0.1"


class AIMTokens:
    """Asks AIM about each token (RFC 7662): AIM says `active: false` the moment the agent is suspended."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self.issuer, self.credentials = issuer, (client_id, client_secret)
        self.introspection: str | None = None

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx2.AsyncClient(timeout=5) as http:
            if self.introspection is None:
                found = (await http.get(f"{self.issuer}/.well-known/oauth-authorization-server")).json()
                assert found["issuer"] == self.issuer
                self.introspection = found["introspection_endpoint"]
            info = (await http.post(self.introspection, data={"token": token}, auth=self.credentials)).json()
        if not info.get("active"):
            return None
        return AccessToken(
            token=token,
            client_id=info["client_id"],
            scopes=info["scope"].split(),
            expires_at=info["exp"],
            resource=info["aud"],
            subject=info["sub"],
            claims=info,
        )


def allowed(tool: str) -> None:
    """Each tool needs `mcp:<tool>`; AIM's grants match as a prefix when they end in `*`."""
    token = get_access_token()
    scopes = token.scopes if token else []
    needed = f"mcp:{tool}"
    if not any(s == needed or (s.endswith("*") and needed.startswith(s[:-1])) for s in scopes):
        raise ToolError(f"the token's scope does not cover {needed}")


def build(port: int, issuer: str, client_id: str, client_secret: str) -> MCPServer:
    url = f"http://{HOST}:{port}/mcp"
    server = MCPServer(
        "weather",
        token_verifier=AIMTokens(issuer, client_id, client_secret),
        auth=AuthSettings(issuer_url=issuer, resource_server_url=url, validate_token_resource=True),
    )

    @server.tool()
    def get_weather(city: str) -> str:
        allowed("get_weather")
        return f"Sunny in {city}"

    @server.tool()
    def send_email(to: str) -> str:
        allowed("send_email")
        return f"Sent to {to}"

    return server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.oauth.protected_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True)
    args = parser.parse_args()
    server = build(args.port, args.issuer, os.environ["AIM_RS_CLIENT_ID"], os.environ["AIM_RS_CLIENT_SECRET"])
    uvicorn.run(server.streamable_http_app(host=HOST), host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
