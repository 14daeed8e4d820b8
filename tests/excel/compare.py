"""Every statement cell of a recalculated workbook against `reports.statement`, to the cent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import openpyxl

from pipeline import db, reports

SHEETS = {"P&L": "pnl", "Balance Sheet": "bs", "Cash Flow": "cf"}
CENT = Decimal("0.01")


def cents(value) -> Decimal | None:
    """A computed cell as a Decimal to the cent (a formula line with no value is empty)."""
    if value is None or value == "":
        return None
    return Decimal(repr(value)).quantize(CENT)


@dataclass
class Comparison:
    cells: int = 0
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (sheet, block title)
    mismatches: list[str] = field(default_factory=list)


def compare_statements(path, data, *, group: dict, structure: str | None = None) -> Comparison:
    """Compare each block of each statement sheet with the report of its entity (or of `group`,
    the scope keywords of the group block) for the months in the sheet's header."""
    out = Comparison()
    wb = openpyxl.load_workbook(path, data_only=True, read_only=True)
    with db.connect(data) as con:
        for sheet, statement in SHEETS.items():
            rows = list(wb[sheet].iter_rows(values_only=True))
            header = rows[2]
            months = [h.strftime("%Y-%m") for h in header[2:] if isinstance(h, datetime)]
            width = 2 + len(months)
            lines = None
            seen: set[str] = set()
            for row in rows[3:]:
                row = tuple(row) + (None,) * (width + 1 - len(row))
                code, name = row[0], row[1]
                if code is None and name is None:
                    continue
                if lines is None or (code not in lines and all(v is None for v in row[2 : width + 1])):
                    if lines is not None:
                        assert seen == set(lines), f"{sheet}: block without lines {set(lines) - seen}"
                    title = str(name)
                    kw = group if title.startswith("Group: ") else {"entity": title}
                    report = reports.statement(
                        con, statement, from_month=months[0], to_month=months[-1], structure=structure, **kw
                    )
                    assert [p.label for p in report.periods] == months
                    lines = {ln.code: ln for ln in report.lines}
                    seen = set()
                    out.blocks.append((sheet, title))
                    continue
                line = lines[code]
                seen.add(code)
                for month, value in zip(months, row[2:width], strict=True):
                    out.cells += 1
                    if cents(value) != line.amounts[month]:
                        out.mismatches.append(
                            f"{sheet} {out.blocks[-1][1]} {code} {month}: {value} != {line.amounts[month]}"
                        )
                out.cells += 1
                if cents(row[width]) != line.total:
                    out.mismatches.append(
                        f"{sheet} {out.blocks[-1][1]} {code} total: {row[width]} != {line.total}"
                    )
            assert lines is not None and seen == set(lines), f"{sheet}: last block incomplete"
    wb.close()
    return out
