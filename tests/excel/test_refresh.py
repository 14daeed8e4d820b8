"""Refreshing a linked workbook replaces the data sheet and keeps everything the user built."""

from __future__ import annotations

import re
import struct
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from pipeline import db, reports
from pipeline.workbooks import NotLinkedError, Selection, export_workbook, refresh_workbook
from pipeline.xlsx.links import drop_from_calc_chain
from tests.excel.compare import compare_statements
from tests.excel.conftest import NOW, RETAIL, SERVICES
from tests.excel.userbook import USER_CELLS, add_macros, build_user_workbook

# what a refresh may change; every other member must keep its compressed bytes
OWNED = {"xl/worksheets/sheet3.xml", "xl/workbook.xml", "xl/pivotCache/pivotCacheDefinition1.xml"}


def raw_members(path: Path) -> dict[str, tuple[int, int, bytes]]:
    """Each zip member's compression method, CRC and compressed bytes, as stored."""
    out = {}
    with path.open("rb") as f, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            f.seek(info.header_offset)
            name_len, extra_len = struct.unpack("<HH", f.read(30)[26:30])
            f.seek(info.header_offset + 30 + name_len + extra_len)
            out[info.filename] = (info.compress_type, info.CRC, f.read(info.compress_size))
    return out


def test_every_part_but_the_data_sheet_stays_byte_for_byte(recalculated):
    s = recalculated["user"]
    before, after = raw_members(s.before), raw_members(s.book)
    assert list(before) == list(after)  # same members, same order
    changed = {name for name in before if before[name] != after[name]}
    assert changed == OWNED
    kept = set(before) - OWNED
    # the user's sheet (with its sparkline), chart, drawing with image and text box, pivot table
    for part in (
        "xl/worksheets/sheet1.xml",
        "xl/charts/chart1.xml",
        "xl/drawings/drawing1.xml",
        "xl/media/image1.png",
        "xl/pivotTables/pivotTable1.xml",
        "xl/pivotCache/pivotCacheRecords1.xml",
        "xl/styles.xml",
        "xl/sharedStrings.xml",
    ):
        assert part in kept
    with zipfile.ZipFile(s.book) as z:
        assert b"x14:sparklineGroup" in z.read("xl/worksheets/sheet1.xml")
        assert z.testzip() is None


def test_workbook_part_changes_only_the_name_and_the_recalculation_flag(recalculated):
    s = recalculated["user"]
    with zipfile.ZipFile(s.before) as z:
        before = z.read("xl/workbook.xml").decode()
    with zipfile.ZipFile(s.book) as z:
        after = z.read("xl/workbook.xml").decode()
        rows = z.read("xl/worksheets/sheet3.xml").decode().count("<row ") - 1
    name = re.compile(r'<definedName name="LedgerlineData">([^<]*)</definedName>')
    assert name.search(after).group(1) == f"Data!$A$1:$F${rows + 1}"
    assert name.sub("", before) == name.sub("", after)
    assert '<definedName name="MyRevenue">Mine!$B$2</definedName>' in after
    assert 'fullCalcOnLoad="1"' in after


def test_pivot_cache_points_at_the_new_rows_and_refreshes_on_open(recalculated):
    s = recalculated["user"]
    with zipfile.ZipFile(s.before) as z:
        before = z.read("xl/pivotCache/pivotCacheDefinition1.xml").decode()
    with zipfile.ZipFile(s.book) as z:
        after = z.read("xl/pivotCache/pivotCacheDefinition1.xml").decode()
    rows = len(list(openpyxl.load_workbook(s.book, read_only=True)["Data"].iter_rows(min_row=2, max_col=1)))
    assert 'refreshOnLoad="1"' in after and "refreshOnLoad" not in before
    assert f'<worksheetSource ref="A1:F{rows + 1}" sheet="Data"/>' in after
    # nothing else of the definition moved
    strip = re.compile(r' refreshOnLoad="1"|ref="A1:F\d+"')
    assert strip.sub("", before) == strip.sub("", after)


def test_users_formulas_and_pivot_follow_the_new_numbers(recalculated):
    """After the refresh to Demo Services BV, 2024-12 .. 2025-02, recalculated by LibreOffice."""
    s = recalculated["user"]
    wb = openpyxl.load_workbook(s.recalculated, data_only=True)
    mine = wb["Mine"]
    with db.connect(s.data) as con:
        pnl = reports.statement(con, "pnl", entity=SERVICES, from_month="2024-12", to_month="2025-02")
        cf = reports.statement(con, "cf", entity=SERVICES, from_month="2024-12", to_month="2025-02")
    expected = {code: (pnl if code in ("OMZ", "KPR") else cf).line(code).amounts for _, code, _ in USER_CELLS}
    for cell, code, month in USER_CELLS:
        assert Decimal(repr(mine[cell].value)).quantize(Decimal("0.01")) == expected[code][month], cell
    data_rows = [r for r in wb["Data"].iter_rows(min_row=2, max_col=6, values_only=True) if r[0]]
    assert {r[0] for r in data_rows} == {SERVICES}
    assert mine["B8"].value == len(data_rows)  # =ROWS(LedgerlineData)-1: the name follows the rows
    assert "MyRevenue" in wb.defined_names
    # the pivot table, rebuilt by LibreOffice from the cache's new source: the new rows' sum
    shown = [r for r in wb["Pivot"].iter_rows(min_row=4, max_col=2, values_only=True) if r[0]]
    pivot = dict(shown[:-1])
    total = sum(Decimal(repr(r[5])) for r in data_rows)
    assert Decimal(repr(shown[-1][1])).quantize(Decimal("0.01")) == total  # the grand total row
    assert set(pivot) == {r[2] for r in data_rows}
    omz = sum(Decimal(repr(r[5])) for r in data_rows if r[2] == "OMZ")
    assert Decimal(repr(pivot["OMZ"])).quantize(Decimal("0.01")) == omz
    assert mine["C2"].value == "yes"


def test_a_workbook_saved_by_a_spreadsheet_app_refreshes_to_another_entity(recalculated):
    """Shared strings, another XML dialect: still only the data sheet and workbook.xml change, and
    the recalculated statements are Services' for the moved window, to the cent."""
    s = recalculated["resaved"]
    before, after = raw_members(s.before), raw_members(s.book)
    assert {n for n in before if before[n] != after[n]} == {"xl/worksheets/sheet5.xml", "xl/workbook.xml"}
    assert list(before) == list(after)
    result = compare_statements(s.recalculated, s.data, group={})
    assert result.mismatches == []
    assert [title for _, title in result.blocks] == [SERVICES] * 3
    header = next(
        openpyxl.load_workbook(s.recalculated, read_only=True, data_only=True)["P&L"].iter_rows(
            min_row=3, max_row=3, values_only=True
        )
    )
    assert (header[2].strftime("%Y-%m"), header[13].strftime("%Y-%m")) == ("2024-04", "2025-03")


def test_refresh_remembers_what_the_workbook_shows(demo, tmp_path):
    """A second refresh without options shows the same entities and months, with today's numbers."""
    book = tmp_path / "board.xlsx"
    export_workbook(demo, book, Selection([RETAIL], from_month="2025-01", to_month="2025-03"), now=NOW)
    first = refresh_workbook(demo, book, now=NOW)
    assert (first.entities, first.months) == ([RETAIL], ("2025-01", "2025-03"))
    again = tmp_path / "again.xlsx"
    refresh_workbook(demo, book, again, now=NOW)
    assert again.read_bytes() == book.read_bytes()  # nothing changed: the same bytes
    # moving one end keeps the window's length (the statement sheets have three month columns)
    moved = refresh_workbook(demo, book, overrides=Selection(to_month="2025-06"), now=NOW)
    assert moved.months == ("2025-04", "2025-06") and moved.entities == [RETAIL]
    assert moved.warnings == []
    wider = refresh_workbook(
        demo, book, overrides=Selection(from_month="2025-01", to_month="2025-06"), now=NOW
    )
    assert wider.months == ("2025-01", "2025-06")
    assert any("statement sheets show 3 months and the data now 6" in w for w in wider.warnings)


def test_structure_change_is_reported(demo, tmp_path):
    from pipeline.structure import Line, find_structure, save_structure

    book = tmp_path / "board.xlsx"
    export_workbook(demo, book, Selection([RETAIL], from_month="2025-01", to_month="2025-02"), now=NOW)
    with db.transaction(demo) as con:
        struct = find_structure(con, "Nederlands (RGS)")
        struct.lines = [*struct.lines, Line("pnl", "XTRA", "Extra line", "mapped", None, -1)]
        save_structure(con, struct, actor="tester")
    result = refresh_workbook(demo, book, now=NOW)
    assert any("changed since this workbook was made" in w for w in result.warnings)


def test_a_workbook_without_a_data_sheet_is_refused_and_left_alone(demo, tmp_path):
    import xlsxwriter

    book = tmp_path / "budget.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    wb.add_worksheet("Budget").write_formula("A1", "=1+1")
    wb.close()
    before = book.read_bytes()
    with pytest.raises(
        NotLinkedError, match=r"budget\.xlsx is not linked to Ledgerline: it has no data sheet"
    ):
        refresh_workbook(demo, book, overrides=Selection([RETAIL]))
    assert book.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget.xlsx", "data"]


def test_a_sheet_named_data_that_is_not_ours_is_refused(demo, tmp_path):
    import xlsxwriter

    book = tmp_path / "sales.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    wb.add_worksheet("Data").write_row("A1", ["date", "customer", "amount"])
    wb.close()
    before = book.read_bytes()
    with pytest.raises(NotLinkedError, match="its sheet 'Data' is not a Ledgerline data sheet"):
        refresh_workbook(demo, book, overrides=Selection([RETAIL]))
    assert book.read_bytes() == before


def test_macro_workbook_keeps_its_vba_project(demo, tmp_path):
    book = tmp_path / "plain.xlsx"
    build_user_workbook(book)
    refresh_workbook(
        demo, book, overrides=Selection([RETAIL], from_month="2025-01", to_month="2025-01"), now=NOW
    )
    xlsm = tmp_path / "macros.xlsm"
    vba = add_macros(book, xlsm)
    before = raw_members(xlsm)
    result = refresh_workbook(demo, xlsm, overrides=Selection([SERVICES]), now=NOW)
    after = raw_members(xlsm)
    assert result.entities == [SERVICES]
    assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]
    with zipfile.ZipFile(xlsm) as z:
        assert z.read("xl/vbaProject.bin") == vba
    assert {n for n in before if before[n] != after[n]} == {"xl/worksheets/sheet3.xml", "xl/workbook.xml"}


def test_a_failed_refresh_leaves_the_workbook_as_it_was(demo, tmp_path):
    book = tmp_path / "board.xlsx"
    export_workbook(demo, book, Selection([RETAIL], from_month="2025-01", to_month="2025-02"), now=NOW)
    before = book.read_bytes()
    from pipeline.errors import NotFoundError

    with pytest.raises(NotFoundError):
        refresh_workbook(demo, book, overrides=Selection(["Gone BV"]), now=NOW)
    assert book.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.xlsx", "data"]


def test_calculation_chain_loses_only_the_data_sheets_cells():
    chain = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<c r="B2" i="1"/><c r="B3"/><c r="G2" i="3"/><c r="G3"/><c r="B7" i="1"/></calcChain>'
    )
    kept = drop_from_calc_chain(chain, 3)
    assert kept is not None and b'r="G2"' not in kept and b'r="G3"' not in kept
    assert kept.count(b"<c ") == 3
    assert drop_from_calc_chain(chain, 2) is None
    only = b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><c r="A1" i="3"/></calcChain>'
    assert drop_from_calc_chain(only, 3) == b""


def test_refresh_in_the_app_flow_returns_the_workbook(demo, tmp_path):
    """Upload, refresh, download: bytes in, bytes out, the upload itself untouched."""
    from pipeline.access import LOCAL_USER
    from pipeline.workbooks import refresh_for_user

    book = tmp_path / "board.xlsx"
    export_workbook(demo, book, Selection([RETAIL], from_month="2025-01", to_month="2025-02"), now=NOW)
    content = book.read_bytes()
    download = refresh_for_user(LOCAL_USER, content, "board.xlsx", data=demo, overrides=Selection([SERVICES]))
    assert download.file_name == "board.xlsx" and download.result.entities == [SERVICES]
    out = tmp_path / "downloaded.xlsx"
    out.write_bytes(download.content)
    rows = list(
        openpyxl.load_workbook(out, read_only=True)["Data"].iter_rows(min_row=2, max_col=1, values_only=True)
    )
    assert {r[0] for r in rows if r[0]} == {SERVICES}
    assert book.read_bytes() == content


def test_workbook_part_of_another_generator_gets_the_name_and_flag_in_schema_order():
    """A prefixed namespace, no defined names, no calculation settings (as some tools write it)."""
    from lxml import etree

    from pipeline.xlsx.links import link_workbook

    xml = (
        b'<?xml version="1.0"?><x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><x:sheets>'
        b'<x:sheet name="My data" sheetId="1" r:id="rId1"/></x:sheets><x:pivotCaches/></x:workbook>'
    )
    out = link_workbook(xml, "My data", "$A$1:$F$5").decode()
    assert (
        out.index("</x:sheets>")
        < out.index("<x:definedNames>")
        < out.index("<x:calcPr")
        < out.index("<x:pivotCaches/>")
    )
    assert "<x:definedName name=\"LedgerlineData\">'My data'!$A$1:$F$5</x:definedName>" in out
    assert '<x:calcPr fullCalcOnLoad="1"/>' in out
    etree.fromstring(out.encode())
    again = link_workbook(out.encode(), "My data", "$A$1:$F$9").decode()
    assert again.count("LedgerlineData") == 1 and "$F$9" in again and again.count("fullCalcOnLoad") == 1
