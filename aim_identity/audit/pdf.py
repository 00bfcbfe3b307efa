"""The PDF report of an audit export, drawn with ReportLab a page of the table at a time (so that the
entries need not all be in memory), into whatever file the export streams from."""

from __future__ import annotations

from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas

from aim_identity.audit import verification


class Report:
    """The PDF: a title, the filter, the chain's status and the latest checkpoint, then a paginated
    table of the entries."""

    SIZE = landscape(A4)
    MARGIN = 36
    LINE = 11
    WIDTHS = (50, 105, 55, 150, 120, 150, 140)  # sequence, time, actor type, actor, action, target, hash

    def __init__(self, out: Any, header: dict[str, Any], chain: verification.Verification) -> None:
        self.canvas = Canvas(out, pagesize=self.SIZE, pageCompression=1)
        self.canvas.setTitle("AIM audit trail")
        self.page = 0
        self.y = 0.0
        self.rows_written = 0
        self._front(header, chain)

    def _front(self, header: dict[str, Any], chain: verification.Verification) -> None:
        c, top = self.canvas, self.SIZE[1] - self.MARGIN
        c.setFont("Helvetica-Bold", 16)
        c.drawString(self.MARGIN, top - 10, "AIM audit trail")
        c.setFont("Helvetica", 9)
        described = header["filter"] or {}
        lines = [
            f"Organization: {header['organizationId']}",
            f"Exported at: {header['exportedAt']}",
            "Filter: " + (", ".join(f"{k} = {v}" for k, v in described.items()) or "none (every entry)"),
            "Chain: "
            + (
                f"valid, {chain.checked_entries} entries verified"
                if chain.valid
                else f"BROKEN at entry {chain.first_invalid_sequence}: {chain.reason}"
            ),
        ]
        checkpoint = header["checkpoint"]
        lines.append(
            "Latest checkpoint: none yet"
            if checkpoint is None
            else f"Latest checkpoint: entry {checkpoint['sequence']}, hash {checkpoint['hash']}, "
            f"key {checkpoint['keyId']}, signed {checkpoint['createdAt']}"
        )
        y = top - 30
        for line in lines:
            c.drawString(self.MARGIN, y, line)
            y -= 13
        self._table_head(y - 10)

    def _table_head(self, y: float) -> None:
        c = self.canvas
        c.setFont("Helvetica-Bold", 8)
        x = self.MARGIN
        for title, width in zip(
            ("Seq", "Occurred at", "Actor type", "Actor", "Action", "Target", "Hash"), self.WIDTHS, strict=True
        ):
            c.drawString(x, y, title)
            x += width
        c.setFont("Helvetica", 7)
        self.y = y - self.LINE

    def rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if self.y < self.MARGIN + self.LINE:
                self._footer()
                self.canvas.showPage()
                self._table_head(self.SIZE[1] - self.MARGIN)
            x = self.MARGIN
            cells = (
                str(row["sequence"]),
                row["occurredAt"],
                row["actorType"],
                row["actorId"] or "",
                row["action"],
                row["targetId"] or "",
                row["hash"][:24] + "…",
            )
            for cell, width in zip(cells, self.WIDTHS, strict=True):
                self.canvas.drawString(x, self.y, _fitted(cell, width))
                x += width
            self.y -= self.LINE
            self.rows_written += 1

    def _footer(self) -> None:
        self.page += 1
        self.canvas.setFont("Helvetica", 7)
        self.canvas.drawRightString(self.SIZE[0] - self.MARGIN, self.MARGIN / 2, f"page {self.page}")
        self.canvas.setFont("Helvetica", 7)

    def finish(self) -> None:
        if not self.rows_written:
            self.canvas.drawString(self.MARGIN, self.y, "No entries match the filter.")
        self._footer()
        self.canvas.save()


def _fitted(text: str, width: float) -> str:
    # Helvetica 7 pt averages about 3.6 pt a character.
    most = int(width / 3.6) - 1
    return text if len(text) <= most else text[: most - 1] + "…"
