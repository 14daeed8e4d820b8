"""Refresh the workbook open in desktop Excel (Windows or macOS), through xlwings.

Two ways in, both over the same code as `ledgerline refresh-workbook` (the rows come from
`pipeline.workbooks.build_dataset`, the workbook says which entities and months it shows):

- a button in the workbook: a VBA macro `RunPython "import pipeline.excel_desktop as d; d.refresh_caller()"`
  (xlwings add-in installed; docs/excel.md has the steps);
- a command while the workbook is open: `ledgerline refresh-open [--book NAME]`.

Excel holds the file open, so the package-level refresh cannot replace it; here the data sheet's
cells are written through Excel itself, the name `LedgerlineData` is moved over the new rows,
pivot caches reading the data sheet are pointed at them, and Excel refreshes and recalculates.
Every text cell is written with Excel's text apostrophe, so nothing typed in becomes a formula.

xlwings is imported only here and only when it can drive Excel: on Linux (the server) it is
never loaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import datetime

from pipeline import db
from pipeline.errors import ConfigError
from pipeline.workbooks import NotLinkedError, Selection, build_dataset
from pipeline.xlsx.cells import from_excel_date
from pipeline.xlsx.datasheet import DATA_NAME, DATA_SHEET, HEADER, META_END, META_MARK, META_ROWS, Meta

DESKTOP_PLATFORMS = ("win32", "darwin")
CHUNK_ROWS = 20_000


def can_drive_excel() -> bool:
    """Whether xlwings can drive a desktop Excel here: Windows or macOS, with xlwings installed."""
    return sys.platform in DESKTOP_PLATFORMS and importlib.util.find_spec("xlwings") is not None


def _xlwings():
    if not can_drive_excel():
        raise ConfigError(
            "Refreshing a workbook open in Excel needs desktop Excel on Windows or macOS with xlwings installed.",
            guidance="Elsewhere use `ledgerline refresh-workbook BOOK.xlsx` or the Refresh page of the app.",
        )
    import xlwings

    return xlwings


def as_text(value: str) -> str:
    """Text as typed into Excel: the apostrophe makes Excel keep it as text (no formula, no
    number or date guessing); Excel shows and stores the text without it."""
    return "'" + value


def sheet_values(rows) -> list[list]:
    """The data sheet's header and rows as the values xlwings writes (A1:F<n>)."""
    out: list[list] = [list(HEADER)]
    for entity, statement, code, line, month, amount in rows:
        out.append(
            [
                as_text(entity),
                as_text(statement),
                as_text(code),
                as_text(line),
                from_excel_date(month),
                float(amount),
            ]
        )
    return out


def meta_values(meta: Meta) -> list[list]:
    """The settings block (H1:I11) as values."""
    values = {
        "scope": as_text(meta.scope),
        "entities": as_text("; ".join(meta.entities)),
        "structure": as_text(meta.structure),
        "first_month": meta.first_month,
        "last_month": meta.last_month,
        "currency": as_text(meta.currency or ""),
        "last_import": meta.last_import,
        "refreshed": meta.refreshed,
        "checks": as_text(meta.checks),
        "settings": as_text(json.dumps(meta.settings, ensure_ascii=False, sort_keys=True)),
    }
    out: list[list] = [[META_MARK, "Value"]]
    for key, (_, label) in META_ROWS.items():
        if key in ("last_import", "refreshed"):
            label = f"{label} ({meta.timezone})"
        out.append([label, values[key]])
    return out


def _data_sheet(book):
    """The data sheet of an open workbook (by the name LedgerlineData, else a sheet named Data)."""
    for name in book.names:
        if name.name.split("!")[-1].lower() == DATA_NAME.lower():
            return name.refers_to_range.sheet
    for sheet in book.sheets:
        if sheet.name == DATA_SHEET:
            return sheet
    raise NotLinkedError(f"{book.name} is not linked to Ledgerline: it has no data sheet.")


def refresh_book(book, data: str | os.PathLike | None = None, overrides: Selection | None = None) -> int:
    """Refresh an open workbook in place; returns the number of data rows written."""
    sheet = _data_sheet(book)
    settings = None
    raw = sheet.range(f"I{META_ROWS['settings'][0]}").value
    if isinstance(raw, str):
        try:
            settings = json.loads(raw)
        except ValueError:
            settings = None
    selection = Selection.from_settings(settings).overridden(overrides)
    if not selection.named:
        raise ConfigError(f"{book.name} does not say which entities it shows; refresh it once with the CLI.")
    with db.connect(data) as con:
        ds = build_dataset(con, selection, now=datetime.now().astimezone())
    values = sheet_values(ds.rows)
    last_old = sheet.range("A1").expand("down").last_cell.row
    sheet.range(f"A2:F{max(last_old, 2)}").clear_contents()
    for start in range(0, len(values), CHUNK_ROWS):
        sheet.range(f"A{start + 1}").value = values[start : start + CHUNK_ROWS]
    sheet.range(f"H1:I{META_END}").value = meta_values(ds.meta)
    last = max(len(values), 2)
    target = f"='{sheet.name}'!$A$1:$F${last}"
    try:
        book.names[DATA_NAME].refers_to = target
    except KeyError:
        book.names.add(DATA_NAME, target)
    _refresh_pivots(book, sheet.name, last)
    book.app.calculate()
    return len(values) - 1


def _refresh_pivots(book, sheet_name: str, last: int) -> None:
    """Point pivot caches over the data sheet at its new rows, then refresh everything."""
    api = book.api
    if sys.platform == "win32":
        for cache in api.PivotCaches():
            try:
                source = str(cache.SourceData)
            except Exception:  # an OLAP or external cache has no sheet source
                continue
            if source.split("!")[0].strip("'") == sheet_name:
                cache.SourceData = f"'{sheet_name}'!R1C1:R{last}C6"
        api.RefreshAll()
    else:
        api.refresh_all(api)  # appscript on macOS; pivots over the name LedgerlineData follow it


def refresh_caller() -> None:
    """The RunPython target: refresh the workbook whose button called it."""
    xw = _xlwings()
    data = os.environ.get("LEDGERLINE_DATA")
    if not data:
        raise ConfigError(
            "Excel does not know where Ledgerline's data folder is.",
            guidance="Set the environment variable LEDGERLINE_DATA to it and restart Excel (docs/excel.md).",
        )
    book = xw.Book.caller()
    rows = refresh_book(book, data)
    book.app.status_bar = f"Ledgerline: {rows} rows refreshed"


def refresh_open(book_name: str | None = None, data: str | os.PathLike | None = None, overrides=None) -> int:
    """Refresh a workbook open in Excel: the one named, else the active one."""
    xw = _xlwings()
    if not xw.apps:
        raise ConfigError("Excel is not running: open the workbook first.")
    book = xw.books[book_name] if book_name else xw.books.active
    return refresh_book(book, data, overrides)
