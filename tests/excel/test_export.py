"""Exported statement workbooks, recalculated by LibreOffice, show what `ledgerline report` shows."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from decimal import Decimal

import openpyxl
import pytest

from pipeline import db, reports
from pipeline.workbooks import Selection, build_dataset
from tests.excel.compare import compare_statements
from tests.excel.conftest import INC, RETAIL, SERVICES

RGS = "Nederlands (RGS)"


def test_entity_workbook_matches_the_report_to_the_cent(recalculated):
    s = recalculated["entity"]
    result = compare_statements(s.recalculated, s.data, group={})
    assert result.mismatches == []
    # one block per statement, every line of the structure, 12 months and the total column
    assert result.blocks == [("P&L", RETAIL), ("Balance Sheet", RETAIL), ("Cash Flow", RETAIL)]
    with db.connect(s.data) as con:
        lines = sum(len(reports.statement(con, st, entity=RETAIL).lines) for st in ("pnl", "bs", "cf"))
    assert result.cells == lines * 13


def test_group_workbook_shows_the_group_then_each_entity(recalculated):
    s = recalculated["group"]
    result = compare_statements(s.recalculated, s.data, group={"organisation": None})
    assert result.mismatches == []
    titles = [title for sheet, title in result.blocks if sheet == "P&L"]
    # Demo Inc reports in USD: left out of the group, as the report leaves it out
    assert titles == ["Group: All entities (Demo Holding)", RETAIL, SERVICES]
    assert INC not in {t for _, t in result.blocks}
    with db.connect(s.data) as con:
        lines = sum(len(reports.statement(con, st, entity=RETAIL).lines) for st in ("pnl", "bs", "cf"))
    assert result.cells == lines * 3 * 7  # three blocks, six months and the total


def test_group_totals_template_has_one_block_per_statement(recalculated):
    s = recalculated["totals"]
    result = compare_statements(s.recalculated, s.data, group={"entities": [RETAIL, SERVICES]})
    assert result.mismatches == []
    assert [title for _, title in result.blocks] == [f"Group: {RETAIL}, {SERVICES}"] * 3


def test_recalculation_is_forced(recalculated):
    """Wrong values planted as cached results come back right: LibreOffice computed every cell."""
    s = recalculated["planted"]
    result = compare_statements(s.recalculated, s.data, group={})
    assert result.mismatches == []
    cover = openpyxl.load_workbook(s.recalculated, data_only=True)["Cover"]
    assert cover["B5"].value == RGS


def test_cover_names_scope_period_structure_and_last_import(recalculated):
    s = recalculated["entity"]
    cover = openpyxl.load_workbook(s.recalculated, data_only=True)["Cover"]
    values = {cover.cell(row, 1).value: cover.cell(row, 2).value for row in range(3, 12)}
    with db.connect(s.data) as con:
        finished = con.execute(
            "SELECT max(finished_at) FROM import_runs r JOIN entities e ON e.id = r.entity_id "
            "WHERE e.name = ? AND r.status = 'succeeded'",
            [RETAIL],
        ).fetchone()[0]
    local = finished.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Brussels")).replace(tzinfo=None)
    assert values["Scope"] == RETAIL
    assert values["Structure"] == RGS
    assert values["First month"] == datetime(2024, 7, 1)
    assert values["Last month"] == datetime(2025, 6, 1)
    assert values["Currency"] == "EUR"
    last_import = values["Last successful import (Europe/Brussels)"]
    assert abs((last_import - local).total_seconds()) <= 1
    assert values["Numbers as of (Europe/Brussels)"] == datetime(2025, 7, 1, 11, 30)
    assert values["Checks"] == "all passed"


def test_amounts_are_written_with_exactly_two_decimals(recalculated):
    """The data sheet stores each amount as its exact decimal text: no float drift."""
    book = recalculated["entity"].book
    with zipfile.ZipFile(book) as z:
        sheet = z.read("xl/worksheets/sheet5.xml").decode()
    amounts = re.findall(r'<c r="F\d+"[^>]*><v>([^<]*)</v>', sheet)
    assert len(amounts) > 400
    assert all(re.fullmatch(r"-?\d+\.\d\d", a) for a in amounts)
    # and they are the report's numbers: each leaf line's month amount, zeros left out
    with db.connect(recalculated["entity"].data) as con:
        ds = build_dataset(con, Selection([RETAIL], from_month="2024-07", to_month="2025-06"))
        report = reports.statement(con, "pnl", entity=RETAIL, from_month="2024-07", to_month="2025-06")
    written = [Decimal(a) for a in amounts]
    assert written == [Decimal(r[5]) for r in ds.rows]
    omz = [Decimal(r[5]) for r in ds.rows if r[2] == "OMZ"]
    assert omz == list(report.line("OMZ").amounts.values())


def test_statement_sheets_keep_the_templates_layout(recalculated):
    """Frozen panes, print titles, landscape pages and column widths come from the template."""
    book = recalculated["entity"].book
    with zipfile.ZipFile(book) as z:
        pnl = z.read("xl/worksheets/sheet2.xml").decode()
        workbook = z.read("xl/workbook.xml").decode()
    assert 'topLeftCell="C4"' in pnl and 'state="frozen"' in pnl
    assert 'orientation="landscape"' in pnl and 'fitToHeight="0"' in pnl
    assert "<cols>" in pnl
    assert "_xlnm.Print_Titles" in workbook and 'fullCalcOnLoad="1"' in workbook
    assert re.search(r'<definedName name="LedgerlineData">Data!\$A\$1:\$F\$\d+</definedName>', workbook)


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (Selection(), "Name the entities"),
        (Selection(["Nobody BV"]), "No entity named 'Nobody BV'"),
        (Selection([RETAIL], from_month="2025-06", to_month="2025-01"), "ends (2025-01) before it starts"),
        (Selection([RETAIL], structure="Nope"), "No structure named 'Nope'"),
    ],
)
def test_a_bad_selection_gets_a_clear_message(excel_demo, tmp_path, selection, message):
    from pipeline.errors import LedgerlineError
    from pipeline.workbooks import export_workbook

    out = tmp_path / "out.xlsx"
    with pytest.raises(LedgerlineError, match=re.escape(message)):
        export_workbook(excel_demo, out, selection)
    assert not out.exists()
