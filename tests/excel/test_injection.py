"""Names from sources that start with = + - @ stay text: in the workbook, after recalculation, in
the CSV feed and in what the desktop path types into Excel."""

from __future__ import annotations

import re
import zipfile

import openpyxl

from pipeline.excel_desktop import as_text, sheet_values
from pipeline.xlsx.guard import starts_like_formula, typed_text, xml_text
from tests.excel.compare import compare_statements
from tests.excel.conftest import RETAIL, RISKY_ENTITY, RISKY_LINES


def test_risky_names_are_written_as_strings_never_as_formulas(recalculated):
    s = recalculated["risky"]
    with zipfile.ZipFile(s.book) as z:
        data = z.read("xl/worksheets/sheet5.xml").decode()
        pnl = z.read("xl/worksheets/sheet2.xml").decode()
    assert "<f>" not in data
    escaped = RISKY_ENTITY.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    cells = re.findall(r'<c r="A\d+"( t="inlineStr")?><is><t>' + re.escape(escaped) + "</t>", data)
    assert cells and all(c == ' t="inlineStr"' for c in cells)
    for name in RISKY_LINES.values():
        assert f"<is><t>{name}</t></is>" in data  # the data sheet's line column
    assert "<is><t>+Revenue</t></is>" in pnl and '<is><t xml:space="preserve">  =1+2 Staff</t></is>' in pnl
    assert not re.search(r"<f>[^<]*HYPERLINK", pnl + data)


def test_risky_names_stay_text_after_recalculation_and_numbers_still_match(recalculated):
    s = recalculated["risky"]
    wb = openpyxl.load_workbook(s.recalculated, data_only=True)
    rows = list(wb["Data"].iter_rows(min_row=2, max_col=4, values_only=True))
    assert RISKY_ENTITY in {r[0] for r in rows}
    assert set(RISKY_LINES.values()) <= {r[3] for r in rows}
    pnl = {row[0]: row[1] for row in wb["P&L"].iter_rows(min_row=5, max_col=2, values_only=True) if row[0]}
    assert pnl["OMZ"] == "+Revenue" and pnl["PER"].strip() == "=1+2 Staff"
    # the entity's block is matched by its exact name, * and ? included (SUMIFS wildcards escaped)
    result = compare_statements(s.recalculated, s.data, group={"organisation": None})
    assert result.mismatches == []
    assert ("P&L", RISKY_ENTITY) in result.blocks and ("P&L", RETAIL) in result.blocks


def test_typed_text_gets_the_apostrophe_excel_uses_for_text():
    for text in ("=1+2", "+31 20 555", "-discount", "@SUM(A1)", "\t=cmd", "\r=cmd"):
        assert starts_like_formula(text)
        assert typed_text(text) == "'" + text
    for text in ("Revenue", "", "1+2", "a=b"):
        assert typed_text(text) == text


def test_desktop_values_are_typed_as_text_and_exact_numbers():
    rows = [
        (RISKY_ENTITY, "pnl", "OMZ", "+Revenue", 45658, "1234.10"),
        ("A", "bs", "CASH", "Cash", 45689, "-0.07"),
    ]
    values = sheet_values(rows)
    assert values[0] == ["entity", "statement", "code", "line", "month", "amount"]
    assert values[1][0] == "'" + RISKY_ENTITY and values[1][3] == "'+Revenue"
    assert values[1][4].isoformat() == "2025-01-01" and values[2][4].isoformat() == "2025-02-01"
    assert values[1][5] == 1234.10 and values[2][5] == -0.07
    assert as_text("00123") == "'00123"  # no number guessing either


def test_cell_text_escaping_keeps_control_characters_and_markup_readable():
    assert xml_text("a<b & c>") == "a&lt;b &amp; c&gt;"
    assert xml_text("bell\x07") == "bell_x0007_"
    assert xml_text("_x0041_") == "_x005F_x0041_"
