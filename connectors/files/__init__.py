"""File connectors (XAF, SAF-T, CSV, Excel) and format detection from a file's first bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

from pipeline.errors import ParseError

HEAD_BYTES = 64 * 1024


def detect_format(path: Path) -> str:
    """'xaf', 'saft', 'xas', 'xlsx' or 'csv', judged by content rather than by the file's extension."""
    from connectors.files.saft import looks_like_saft
    from connectors.files.xaf import looks_like_xaf
    from connectors.files.xas import looks_like_xas

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head.strip():
        raise ParseError(
            "the file is empty", file=path.name, guidance="Export the ledger again and upload it."
        )
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile as exc:
            raise ParseError("the file looks like a zip/xlsx package but is damaged", file=path.name) from exc
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise ParseError("the file is a zip archive, not an Excel workbook (.xlsx)", file=path.name)
    if looks_like_xaf(head):
        return "xaf"
    if looks_like_saft(head):
        return "saft"
    if looks_like_xas(head):
        return "xas"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        raise ParseError(
            "the file is XML but not an XAF auditfile, a SAF-T Financial file or an XAS payroll auditfile",
            file=path.name,
        )
    if head.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")) or b"\x00" in head[:4096]:
        raise ParseError(
            "the file is not a text ledger export (it looks like a binary file such as .xls or .pdf)",
            file=path.name,
            guidance="Save it as .xlsx or .csv and upload it again.",
        )
    return "csv"
