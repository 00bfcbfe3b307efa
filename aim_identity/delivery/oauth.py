"""The OAuth endpoints over HTTP: metadata (RFC 8414), token (RFC 6749 with RFC 7523, 8693 and 8707),
introspection (RFC 7662) and revocation (RFC 7009). Each reads a bounded form, calls oauth/, and
answers JSON; every refusal is an RFC 6749 section 5.2 error with its status code, never a 500."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, unquote

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, UnsupportedGrantTypeError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aim_identity.actors import Actor
from aim_identity.auth.keyring import Keyring
from aim_identity.config import Settings
from aim_identity.delivery.endpoint import client_ip
from aim_identity.errors import RateLimited
from aim_identity.models import MCPServer
from aim_identity.oauth import introspection, issuing, metadata
from aim_identity.oauth.errors import printable
from aim_identity.security.blocklist import Blocklist

MAX_FORM_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthEndpoints:
    def __init__(self, settings: Settings, keyring: Callable[[], Keyring], blocklist: Callable[[], Blocklist]) -> None:
        self.settings = settings
        # Both set by the application's lifespan, after this is built.
        self._keyring, self._blocklist = keyring, blocklist

    def routes(self) -> list[Route]:
        document = [Route(path, self.metadata, methods=["GET"]) for path in metadata.well_known_paths(self.settings)]
        return [
            *document,
            Route(metadata.TOKEN_PATH, self._answering(self.token), methods=["POST"]),
            Route(metadata.INTROSPECTION_PATH, self._answering(self.introspect), methods=["POST"]),
            Route(metadata.REVOCATION_PATH, self._answering(self.revoke), methods=["POST"]),
        ]

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(metadata.document(self.settings), headers={"Cache-Control": "public, max-age=300"})

    async def token(self, request: Request, form: dict[str, str]) -> Response:
        actor = Actor(None, "anonymous", ip_address=client_ip(request), user_agent=request.headers.get("user-agent"))
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            issued = await issuing.client_credentials(self.settings, self._keyring(), actor, form)
            return JSONResponse(issued.response(), headers=NO_STORE)
        if grant_type == metadata.TOKEN_EXCHANGE:
            issued = await issuing.token_exchange(self.settings, self._keyring(), actor, form)
            return JSONResponse(issued.response(issued_token_type=metadata.ACCESS_TOKEN_TYPE), headers=NO_STORE)
        if not grant_type:
            raise InvalidRequestError(description="grant_type is required")
        raise UnsupportedGrantTypeError(printable(grant_type[:100]))

    async def introspect(self, request: Request, form: dict[str, str]) -> Response:
        server = await _resource_server(request, form)
        token = _required(form, "token")
        answer = await introspection.introspect(self.settings, self._keyring(), server, token)
        return JSONResponse(answer, headers=NO_STORE)

    async def revoke(self, request: Request, form: dict[str, str]) -> Response:
        server = await _resource_server(request, form)
        await introspection.revoke(server, _required(form, "token"))
        return Response(status_code=200, headers=NO_STORE)

    def _answering(
        self, handler: Callable[[Request, dict[str, str]], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if await self._blocklist().blocked(client_ip(request)):
                body = {"error": "access_denied", "error_description": "Requests from this address are blocked"}
                return JSONResponse(body, status_code=403, headers=NO_STORE)
            try:
                return await handler(request, await _form(request))
            except OAuth2Error as error:
                return _error(error)
            except RateLimited as limited:
                body = {"error": "invalid_request", "error_description": str(limited)}
                retry = str(limited.extensions.get("retryAfter", self.settings.login_lockout_seconds))
                return JSONResponse(body, status_code=429, headers={**NO_STORE, "Retry-After": retry})

        return endpoint


def _error(error: OAuth2Error) -> JSONResponse:
    headers = {**NO_STORE, **dict(error.get_headers())}
    headers.pop("Content-Type", None)
    return JSONResponse(dict(error.get_body()), status_code=error.status_code or 400, headers=headers)


async def _form(request: Request) -> dict[str, str]:
    """The request's form, at most MAX_FORM_BYTES, each parameter once (RFC 6749, section 3.2)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise InvalidRequestError(description=f"the body must be {FORM}")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise _too_large()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise _too_large()
    except ClientDisconnect:
        raise InvalidRequestError(description="the body was cut short") from None
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError(description="the body is not a form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(description=f"{name} is sent more than once")
        form[name] = value
    return form


def _too_large() -> InvalidRequestError:
    return InvalidRequestError(description=f"the body may be at most {MAX_FORM_BYTES} bytes", status_code=413)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequestError(description=f"{name} is required")
    return value


async def _resource_server(request: Request, form: dict[str, str]) -> MCPServer:
    """client_secret_basic (RFC 6749, section 2.3.1: both halves form-encoded), or client_secret_post."""
    header = request.headers.get("authorization")
    if header is None:
        return await introspection.resource_server(form.get("client_id"), form.get("client_secret"))
    scheme, _, credentials = header.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError(scheme)
        client_id, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidClientError(description="send the server's credentials as HTTP Basic", status_code=401) from None
    return await introspection.resource_server(unquote(client_id), unquote(secret))
