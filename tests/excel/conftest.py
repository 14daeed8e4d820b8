"""Fixtures for the Excel tests: the demo organisation with its accounts mapped, built once, and
the workbooks the tests recalculate in LibreOffice, built and converted in one soffice run."""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import db, suggest
from pipeline.demo import load_demo
from pipeline.structure import find_structure, save_structure
from pipeline.workbooks import Selection, export_workbook, refresh_workbook
from tests.excel.lo import recalculate
from tests.excel.userbook import add_pivot, build_user_workbook

DEMO_AS_OF = "2025-06-30"
NOW = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
RETAIL, SERVICES, INC = "Demo Retail BV", "Demo Services BV", "Demo Inc"
# names a source or a user could give that a spreadsheet would run as formulas when typed
RISKY_ENTITY = '=HYPERLINK("http://example.invalid","x")*? Holding'
RISKY_LINES = {"OMZ": "+Revenue", "KPR": "-Cost of sales", "AFS": "@Depreciation", "PER": "=1+2 Staff"}


@pytest.fixture(scope="session")
def excel_demo(tmp_path_factory) -> Path:
    """The demo organisation (three entities, 2024-01 .. 2025-06), every account mapped by the
    best suggestion, imported once per session. Tests that change it work on a copy (`demo`)."""
    data = tmp_path_factory.mktemp("excel-demo") / "data"
    results = load_demo(data, as_of=DEMO_AS_OF)
    assert [r.status for r in results] == ["succeeded"] * 3
    with db.connect(data) as con:
        for entity in (RETAIL, SERVICES, INC):
            found = suggest.suggest(con, entity, None)
            suggest.accept(con, entity, None, {a.code: a.best.line for a in found if a.best})
    return data


@pytest.fixture
def demo(excel_demo, tmp_path) -> Path:
    """A fresh copy of the mapped demo warehouse for one test."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(db.warehouse_path(excel_demo), db.warehouse_path(data))
    return data


def make_risky(data: Path) -> None:
    """Give an entity and some structure lines names that start with = + - @."""
    with db.transaction(data) as con:
        con.execute("UPDATE entities SET name = ? WHERE name = ?", [RISKY_ENTITY, SERVICES])
        struct = find_structure(con, "Nederlands (RGS)")
        for line in struct.lines:
            if line.code in RISKY_LINES:
                line.name = RISKY_LINES[line.code]
        save_structure(con, struct, actor="tester")


def plant(path: Path, out: Path, sheet_part: str, cell: str, value: str) -> None:
    """A copy of the workbook with a wrong cached value planted in one formula cell."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == sheet_part:
                text = body.decode()
                text, n = re.subn(
                    rf'(<c r="{cell}"[^>]*>)(<f>[^<]*</f>)(<v>[^<]*</v>)?', rf"\1\2<v>{value}</v>", text
                )
                assert n == 1
                body = text.encode()
            dst.writestr(info, body)


@dataclass
class Scenario:
    book: Path  # as Ledgerline wrote it
    recalculated: Path  # after LibreOffice's full recalculation
    data: Path
    before: Path | None = None  # for refreshes: the workbook as the user left it


@pytest.fixture(scope="session")
def recalculated(excel_demo, tmp_path_factory) -> dict[str, Scenario]:
    """Every workbook the LibreOffice tests read, recalculated in one soffice run:

    entity   Demo Retail BV, 2024-07 .. 2025-06, shipped `statements` template
    group    every entity (Demo Inc, in USD, is left out), 2025-01 .. 2025-06
    totals   two entities named, `group-totals` template, 2025-04 .. 2025-06
    planted  `entity` with wrong cached values planted in a statement cell and on the cover
    user     a user's workbook (own sheet, chart, pivot ...) refreshed to Services, 2024-12 .. 2025-02
    risky    a group whose entity and line names start with = + - @
    resaved  `entity` as LibreOffice saved it, refreshed to Services, 2024-04 .. 2025-03
             (recalculated in a second soffice run)
    """
    work = tmp_path_factory.mktemp("excel-books")
    data = excel_demo
    books: dict[str, Scenario] = {}

    def export(name: str, selection: Selection, template: str | None = None, data: Path = data) -> Path:
        path = work / f"{name}.xlsx"
        export_workbook(data, path, selection, template=template, now=NOW)
        books[name] = Scenario(path, path, data)
        return path

    entity = export("entity", Selection([RETAIL], from_month="2024-07", to_month="2025-06"))
    export("group", Selection(all=True, from_month="2025-01", to_month="2025-06"))
    export("totals", Selection([RETAIL, SERVICES], from_month="2025-04", to_month="2025-06"), "group-totals")
    planted = work / "planted.xlsx"
    plant(entity, work / "planted-1.xlsx", "xl/worksheets/sheet2.xml", "C6", "999999")
    plant(work / "planted-1.xlsx", planted, "xl/worksheets/sheet1.xml", "B5", "999999")
    books["planted"] = Scenario(planted, planted, data)

    user = work / "user.xlsx"
    build_user_workbook(user)
    refresh_workbook(
        data, user, overrides=Selection([RETAIL], from_month="2025-01", to_month="2025-03"), now=NOW
    )
    add_pivot(user)
    before = work / "user-before.xlsx"
    shutil.copy(user, before)
    refresh_workbook(
        data, user, overrides=Selection([SERVICES], from_month="2024-12", to_month="2025-02"), now=NOW
    )
    books["user"] = Scenario(user, user, data, before)

    risky_data = work / "risky-data"
    risky_data.mkdir()
    shutil.copy(db.warehouse_path(data), db.warehouse_path(risky_data))
    make_risky(risky_data)
    export("risky", Selection(all=True, from_month="2025-05", to_month="2025-06"), data=risky_data)

    converted = recalculate([s.book for s in books.values()], work)
    for scenario in books.values():
        scenario.recalculated = converted[scenario.book]

    # the entity workbook as a spreadsheet application saved it (shared strings, its own XML),
    # pointed at another entity and moved to end in 2025-03 (it keeps its twelve months)
    resaved = work / "resaved.xlsx"
    shutil.copy(books["entity"].recalculated, resaved)
    refresh_workbook(data, resaved, overrides=Selection([SERVICES], to_month="2025-03"), now=NOW)
    again = recalculate([resaved], work, "recalculated-again")
    books["resaved"] = Scenario(resaved, again[resaved], data, books["entity"].recalculated)
    return books
