"""GET /exports/<ticket>: the file an export ticket names, streamed (audit/exports.py), to a caller
who presents a credential of the ticket's organization with a role allowed to export. Anyone else
gets the same 404 as for a ticket that never was."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aim_identity.audit import exports
from aim_identity.auth.keyring import Keyring
from aim_identity.auth.principal import authenticate
from aim_identity.config import Settings
from aim_identity.delivery.endpoint import client_ip
from aim_identity.errors import AimError
from aim_identity.models import Role
from aim_identity.security.blocklist import Blocklist

# Who may fetch each kind of export: the trail, as exportAuditLogs; the reports, as their mutations.
EXPORTERS = {exports.TRAIL: Role.MANAGER, exports.ACCESS_REVIEW: Role.ADMIN, exports.SUBJECT: Role.ADMIN}


class ExportDownloads:
    def __init__(self, settings: Settings, keyring: Callable[[], Keyring], blocklist: Callable[[], Blocklist]) -> None:
        self.settings = settings
        # Both set by the application's lifespan, after this is built.
        self._keyring, self._blocklist = keyring, blocklist

    def routes(self) -> list[Route]:
        return [Route("/exports/{ticket}", self.download, methods=["GET"])]

    async def download(self, request: Request) -> Response:
        keyring = self._keyring()
        if await self._blocklist().blocked(client_ip(request)):
            return JSONResponse(
                {"error": "Requests from this address are blocked", "code": "FORBIDDEN"}, status_code=403
            )
        try:
            principal = await authenticate(request.headers, client_ip(request), keyring, self.settings)
            ticket = exports.ticket(keyring, self.settings, request.path_params["ticket"])
        except AimError as error:
            return JSONResponse({"error": str(error), "code": error.extensions["code"]}, status_code=401)
        if principal is None:
            return JSONResponse({"error": "Sign in to download an export", "code": "UNAUTHENTICATED"}, status_code=401)
        if (
            principal.organization_id != ticket.organization_id
            or principal.role is None
            or not principal.role >= EXPORTERS[ticket.report]
        ):
            return JSONResponse({"error": "No such export", "code": "NOT_FOUND"}, status_code=404)
        content_type, extension = exports.media(ticket.format)
        headers = {
            "Content-Disposition": f'attachment; filename="aim-{ticket.report.replace("_", "-")}.{extension}"',
            "Cache-Control": "no-store",
        }
        return StreamingResponse(exports.stream(ticket, keyring), media_type=content_type, headers=headers)
