"""The data sheet: report-ready rows that statement sheets, pivots and users' formulas read.

Layout (a contract users build on; docs/excel.md describes it):

- columns A-F, one row per entity, statement line and month, from row 2 under a header row:
  entity | statement (pnl, bs, cf) | code | line | month (a date: the first of the month) |
  amount (as the report shows it: profit, assets and cash positive; P&L and cash-flow lines the
  month's amount, balance-sheet lines the balance at the month's end);
- the defined name `LedgerlineData` covers A1:F<last row>: pivot tables and formulas that use it
  follow the rows when a refresh changes their number;
- columns H-I, rows 1-11: what the rows were made from (scope, structure, months, time of the
  last successful import, the checks) and, in I11, the settings a refresh reuses (JSON).

Rows with a zero amount are left out: SUMIFS over the rows gives zero for them anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sized
from dataclasses import dataclass, field
from datetime import date, datetime

from pipeline.errors import ConfigError
from pipeline.xlsx.cells import (
    MAX_ROWS,
    excel_date,
    excel_datetime,
    number_cell,
    style,
    text_cell,
    text_value,
)
from pipeline.xlsx.package import MAIN_NS, CellFormats, SheetParts, set_element_ref
from pipeline.xlsx.zipcopy import DeflateSink

DATA_SHEET = "Data"
DATA_NAME = "LedgerlineData"
HEADER = ("entity", "statement", "code", "line", "month", "amount")
LAST_COLUMN = "F"
META_MARK = "Ledgerline"
# key -> (row, label); the value sits in column I of that row, the label in column H
META_ROWS = {
    "scope": (2, "Scope"),
    "entities": (3, "Entities"),
    "structure": (4, "Structure"),
    "first_month": (5, "First month"),
    "last_month": (6, "Last month"),
    "currency": (7, "Currency"),
    "last_import": (8, "Last successful import"),
    "refreshed": (9, "Numbers as of"),
    "checks": (10, "Checks"),
    "settings": (11, "Settings (used by refresh)"),
}
META_END = 11
DataRow = tuple[str, str, str, str, int, str]  # entity, statement, code, line, month serial, amount text


@dataclass
class Meta:
    """What a data sheet's rows were made from; written beside them in columns H-I."""

    scope: str
    entities: list[str]
    structure: str
    first_month: date
    last_month: date
    currency: str | None
    last_import: datetime | None
    refreshed: datetime
    checks: str
    settings: dict = field(default_factory=dict)
    timezone: str = "UTC"


@dataclass
class DataStyles:
    """Cell format indexes for the data sheet, taken from the sheet being replaced."""

    header: int = 0
    text: int = 0
    month: int = 0
    amount: int = 0
    meta_key: int = 0
    meta_text: int = 0
    meta_month: int = 0
    meta_time: int = 0


def _is_date_code(code: str) -> bool:
    plain = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", code)
    return bool(re.search(r"[yd]", plain, re.IGNORECASE))


def _is_time_code(code: str) -> bool:
    return _is_date_code(code) and "h" in code.lower()


def _is_amount_code(code: str) -> bool:
    return "0.00" in code and not _is_date_code(code) and "%" not in code


def learn_styles(parts: SheetParts, formats: CellFormats) -> DataStyles:
    """The formats the existing sheet uses (header, a data row, the settings cells); a matching
    format from the workbook's styles where a cell is missing, else General."""
    head = parts.head

    def at(row: int, col: str) -> int | None:
        cell = head.get(row, {}).get(col)
        return None if cell is None else cell.style

    def pick(found: int | None, wanted) -> int:
        return found if found is not None else formats.find(wanted) if wanted else 0

    month = pick(at(2, "E"), _is_date_code)
    time = pick(at(META_ROWS["last_import"][0], "I"), _is_time_code)
    meta_month = at(META_ROWS["first_month"][0], "I")
    return DataStyles(
        header=pick(at(1, "A"), None),
        text=pick(at(2, "A"), None),
        month=month,
        amount=pick(at(2, "F"), _is_amount_code),
        meta_key=pick(at(2, "H"), None),
        meta_text=pick(at(2, "I"), None),
        meta_month=month if meta_month is None else meta_month,
        meta_time=time,
    )


def has_data_header(parts: SheetParts) -> bool:
    """Whether the sheet starts with the data sheet's header row (or is empty)."""
    if not parts.head:
        return True
    first = parts.head.get(1, {})
    values = [str(first.get(col).value).strip().lower() if first.get(col) else "" for col in "ABCDEF"]
    return tuple(values) == HEADER


def read_settings(parts: SheetParts) -> dict | None:
    """The settings a previous export or refresh recorded (None when there are none)."""
    row = parts.head.get(META_ROWS["settings"][0], {})
    cell = row.get("I")
    if cell is None or not isinstance(cell.value, str):
        return None
    try:
        settings = json.loads(cell.value)
    except ValueError:
        return None
    return settings if isinstance(settings, dict) else None


def _meta_cells(meta: Meta, s: DataStyles) -> dict[int, str]:
    values = {
        "scope": ("text", meta.scope),
        "entities": ("text", "; ".join(meta.entities)),
        "structure": ("text", meta.structure),
        "first_month": ("month", excel_date(meta.first_month)),
        "last_month": ("month", excel_date(meta.last_month)),
        "currency": ("text", meta.currency or ""),
        "last_import": ("time", excel_datetime(meta.last_import) if meta.last_import else None),
        "refreshed": ("time", excel_datetime(meta.refreshed)),
        "checks": ("text", meta.checks),
        "settings": ("text", json.dumps(meta.settings, ensure_ascii=False, sort_keys=True)),
    }
    out = {1: text_cell("H1", META_MARK, s.header) + text_cell("I1", "Value", s.header)}
    for key, (row, label) in META_ROWS.items():
        kind, value = values[key]
        if key in ("last_import", "refreshed"):
            label = f"{label} ({meta.timezone})"
        cells = text_cell(f"H{row}", label, s.meta_key)
        if value is None or value == "":
            cells += f'<c r="I{row}"{style(s.meta_text)}/>' if s.meta_text else ""
        elif kind == "text":
            cells += text_cell(f"I{row}", str(value), s.meta_text)
        else:
            cells += number_cell(f"I{row}", value, s.meta_month if kind == "month" else s.meta_time)
        out[row] = cells
    return out


def write_data_sheet(
    sink: DeflateSink, parts: SheetParts, rows: Iterable[DataRow], meta: Meta, styles: DataStyles
) -> int:
    """Write the sheet: the surroundings of the old one, the header, the rows and the settings.

    Returns the number of data rows. Text is written as inline strings: never a formula.
    """
    s = styles
    meta_cells = _meta_cells(meta, s)
    ns = parts.ns_prefix
    prefix = parts.prefix
    if isinstance(rows, Sized):
        prefix = set_element_ref(prefix, "dimension", f"A1:I{max(len(rows) + 1, META_END)}")
    else:  # the size is known only at the end: leave out the (optional) dimension hint
        prefix = re.sub(r"<(?:\w+:)?dimension\b[^>]*/>", "", prefix, count=1)
    sink.write(prefix)
    sink.write(f"<{ns}sheetData>" if not ns else f'<{ns}sheetData xmlns="{MAIN_NS}">')
    header = "".join(text_cell(f"{col}1", name, s.header) for col, name in zip("ABCDEF", HEADER, strict=True))
    sink.write(f'<row r="1">{header}{meta_cells[1]}</row>')
    ts = style(s.text)
    ms = style(s.month)
    amount_style = style(s.amount)
    write = sink.write
    tv = text_value
    r = 1
    batch: list[str] = []
    for entity, statement, code, line, month, amount in rows:
        r += 1
        if r > MAX_ROWS:
            raise ConfigError(
                f"The data sheet would need more than Excel's {MAX_ROWS:,} rows.",
                guidance="Choose fewer entities or months.",
            )
        batch.append(
            f'<row r="{r}"><c r="A{r}"{ts} t="inlineStr">{tv(entity)}</c>'
            f'<c r="B{r}"{ts} t="inlineStr">{tv(statement)}</c>'
            f'<c r="C{r}"{ts} t="inlineStr">{tv(code)}</c>'
            f'<c r="D{r}"{ts} t="inlineStr">{tv(line)}</c>'
            f'<c r="E{r}"{ms}><v>{month}</v></c><c r="F{r}"{amount_style}><v>{amount}</v></c>'
            f"{meta_cells.get(r, '')}</row>"
        )
        if len(batch) >= 2000:
            write("".join(batch))
            batch.clear()
    if batch:
        write("".join(batch))
    count = r - 1
    for row in range(r + 1, META_END + 1):
        write(f'<row r="{row}">{meta_cells[row]}</row>')
    write(f"</{ns}sheetData>")
    write(set_element_ref(parts.suffix, "autoFilter", f"A1:{LAST_COLUMN}{max(count + 1, 2)}"))
    return count


def data_ref(count: int) -> str:
    """The cell range of the header and rows (at least one row, so a pivot over it stays valid)."""
    return f"$A$1:${LAST_COLUMN}${max(count + 1, 2)}"
