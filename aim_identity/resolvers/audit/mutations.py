from __future__ import annotations

from aim_identity import ids
from aim_identity.audit import exports, log
from aim_identity.schema.audit.inputs import ExportAccessReviewInput, ExportAuditLogsInput, ExportSubjectDataInput
from aim_identity.schema.audit.types import AuditExport, ExportFormat
from aim_identity.schema.core.context import Info


async def export_audit_logs(info: Info, input: ExportAuditLogsInput) -> AuditExport:
    ctx = info.context
    selected = input.filter.selected() if input.filter else log.Filter()
    return _shaped(await exports.request(ctx.actor, ctx.settings, ctx.keyring, input.format.value, selected))


async def export_access_review(info: Info, input: ExportAccessReviewInput) -> AuditExport:
    ctx = info.context
    return _shaped(await exports.request_access_review(ctx.actor, ctx.settings, ctx.keyring, input.format.value))


async def export_subject_data(info: Info, input: ExportSubjectDataInput) -> AuditExport:
    ctx = info.context
    user_id = ids.decode(input.user_id, "User")
    return _shaped(await exports.request_subject(ctx.actor, ctx.settings, ctx.keyring, user_id))


def _shaped(issued: exports.Issued) -> AuditExport:
    return AuditExport(
        format=ExportFormat(issued.format),
        entries=issued.entries,
        download_url=issued.url,
        expires_at=issued.expires_at,
    )
