from __future__ import annotations

from aim_identity.audit import exports, log
from aim_identity.schema.audit.inputs import ExportAuditLogsInput
from aim_identity.schema.audit.types import AuditExport, ExportFormat
from aim_identity.schema.core.context import Info


async def export_audit_logs(info: Info, input: ExportAuditLogsInput) -> AuditExport:
    ctx = info.context
    selected = input.filter.selected() if input.filter else log.Filter()
    issued = await exports.request(ctx.actor, ctx.settings, ctx.keyring, input.format.value, selected)
    return AuditExport(
        format=ExportFormat(issued.format),
        entries=issued.entries,
        download_url=issued.url,
        expires_at=issued.expires_at,
    )
