"""exportAuditLogs: CSV, JSON and PDF, each fetched from its short-lived URL by a caller of the same
organization allowed to export, and nobody else; the JSON export verifies offline with the JWKS alone
(scripts/verify_audit_export.py), and a changed byte in it does not."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys

import httpx
import pytest
from pypdf import PdfReader

from aim_identity import ids
from aim_identity.models import AuditCheckpoint, AuditLogEntry
from tests.audit.test_verification import trail
from tests.conftest import CHECKPOINT_EVERY
from tests.support import REPO, Api, Org, eventually

EXPORT = (
    """mutation($i: ExportAuditLogsInput!) { exportAuditLogs(input: $i) { format entries downloadUrl expiresAt } }"""
)


async def export(api: Api, format: str, **filter) -> dict:
    return (await api(EXPORT, i={"format": format, "filter": filter or None}))["exportAuditLogs"]


async def download(made: dict, api: Api | None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(made["downloadUrl"], headers=api.headers() if api else {})


async def signed_trail(org: Org) -> list[AuditLogEntry]:
    entries = await trail(org, CHECKPOINT_EVERY + 2)
    organization_id = ids.decode(org.id, "Organization")

    async def signed() -> bool:
        return await AuditCheckpoint.exists(organization_id=organization_id)

    await eventually(signed)
    return entries


async def test_a_json_export_carries_the_hashes_and_checkpoint_and_verifies_offline(org: Org, url, tmp_path):
    await signed_trail(org)
    made = await export(org.admin.api, "JSON")
    response = await download(made, org.admin.api)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]
    document = response.json()
    assert document["organizationId"] == org.id and document["checkpoint"]["sequence"] >= CHECKPOINT_EVERY
    assert len(document["entries"]) == made["entries"]
    assert [e["sequence"] for e in document["entries"]] == list(range(1, made["entries"] + 1))
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(url.removesuffix("/graphql") + "/.well-known/jwks.json")).json()
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    (tmp_path / "export.json").write_text(response.text)
    code, out = await offline(tmp_path / "export.json", tmp_path / "jwks.json")
    assert code == 0 and out.startswith(f"valid: {made['entries']} entries verified; the checkpoint of entry")

    document["entries"][2]["actorId"] = "someone else"
    (tmp_path / "changed.json").write_text(json.dumps(document))
    code, out = await offline(tmp_path / "changed.json", tmp_path / "jwks.json")
    assert code == 1 and "entry 3 was changed" in out
    document = response.json()
    signed = document["checkpoint"]["sequence"]
    document["entries"] = [e for e in document["entries"] if e["sequence"] < signed]  # its end removed
    (tmp_path / "cut.json").write_text(json.dumps(document))
    code, out = await offline(tmp_path / "cut.json", tmp_path / "jwks.json")
    assert code == 1 and f"ends before entry {signed}, which the checkpoint signed" in out
    document["checkpoint"]["sequence"] = signed - 1  # and the checkpoint moved to hide it
    (tmp_path / "moved.json").write_text(json.dumps(document))
    code, out = await offline(tmp_path / "moved.json", tmp_path / "jwks.json")
    assert code == 1 and f"the checkpoint of entry {signed - 1} is not signed" in out


async def offline(export_file, jwks_file) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "scripts" / "verify_audit_export.py"),
        str(export_file),
        str(jwks_file),
        stdout=asyncio.subprocess.PIPE,
        cwd="/",  # nothing of AIM on the path
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_a_csv_export_is_the_filtered_trail_row_by_row(org: Org):
    entries = await trail(org, 6)
    made = await export(org.admin.api, "CSV", action="agent.*")
    assert made["format"] == "CSV"
    response = await download(made, org.admin.api)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    wanted = [e for e in entries if e.action.startswith("agent.")]
    assert made["entries"] == len(rows) == len(wanted) > 0
    assert [(int(r["sequence"]), r["action"], r["hash"]) for r in rows] == [
        (e.sequence, e.action, e.hash) for e in wanted
    ]
    assert json.loads(rows[0]["metadata"]) == wanted[0].metadata


async def test_a_pdf_export_is_a_report_a_pdf_reader_can_read(org: Org):
    await signed_trail(org)
    made = await export(org.admin.api, "PDF")
    response = await download(made, org.admin.api)
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "AIM audit trail" in text and f"Organization: {org.id}" in text
    assert "Filter: none (every entry)" in text
    assert "Chain: valid, " in text
    assert "Latest checkpoint: entry" in text
    assert "agent.create" in text and "page 1" in text


async def test_a_long_pdf_runs_onto_more_pages(org: Org):
    await trail(org, 120)
    reader = PdfReader(io.BytesIO((await download(await export(org.admin.api, "PDF"), org.admin.api)).content))
    assert len(reader.pages) >= 3
    assert "page 3" in reader.pages[2].extract_text()


async def test_only_the_organizations_exporters_may_download(org: Org, other_org: Org):
    await trail(org, 3)
    made = await export(org.admin.api, "CSV")
    member = await org.member("MEMBER")
    manager = await org.member("MANAGER")
    assert await member.api.error(EXPORT, i={"format": "CSV"}) == "FORBIDDEN"
    assert (await download(made, None)).status_code == 401
    assert (await download(made, member.api)).status_code == 404
    assert (await download(made, other_org.admin.api)).status_code == 404
    assert (await download(made, manager.api)).status_code == 200
    forged = {**made, "downloadUrl": made["downloadUrl"][:-6] + "AAAAAA"}
    assert (await download(forged, org.admin.api)).status_code == 401
    audit = await AuditLogEntry.filter(organization_id=ids.decode(org.id, "Organization"), action="audit.export")
    assert [(a.metadata["format"], a.metadata["entries"]) for a in audit] == [("CSV", made["entries"])]


@pytest.mark.parametrize("action", ["*", "agent.*.x"])
async def test_a_bad_filter_exports_nothing(org: Org, action):
    assert await org.admin.api.error(EXPORT, i={"format": "JSON", "filter": {"action": action}}) == "BAD_USER_INPUT"
    assert not await AuditLogEntry.exists(organization_id=ids.decode(org.id, "Organization"), action="audit.export")
