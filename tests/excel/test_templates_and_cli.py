"""Templates (shipped, rebuilt reproducibly, added by users) and the Excel commands of the CLI."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile

import openpyxl
import pytest
import xlsxwriter

from pipeline.cli import main
from pipeline.workbooks import (
    SHIPPED_TEMPLATES,
    NotLinkedError,
    Selection,
    add_template,
    export_workbook,
    list_templates,
)
from tests.conftest import ROOT
from tests.excel.conftest import RETAIL, SERVICES


def test_shipped_templates_rebuild_to_the_same_bytes(tmp_path):
    spec = importlib.util.spec_from_file_location("build_templates", SHIPPED_TEMPLATES / "build_templates.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    built = builder.build_all(tmp_path)
    assert [p.name for p in built] == ["statements.xlsx", "group-totals.xlsx"]
    for path in built:
        assert path.read_bytes() == (SHIPPED_TEMPLATES / path.name).read_bytes(), path.name


def test_the_app_lists_shipped_and_added_templates(demo, tmp_path):
    shipped = {t.name: t for t in list_templates(demo)}
    assert set(shipped) == {"statements", "group-totals"}
    assert shipped["statements"].statements == ["pnl", "bs", "cf"] and shipped["statements"].shipped
    # a user's own workbook over the data sheet: any workbook with a sheet named Data
    mine = tmp_path / "kpi.xlsx"
    wb = xlsxwriter.Workbook(str(mine))
    wb.add_worksheet("KPIs").write_formula("B2", '=SUMIFS(Data!$F:$F,Data!$C:$C,"OMZ")')
    wb.add_worksheet("Data")
    wb.close()
    info = add_template(demo, "My KPIs", mine.read_bytes(), filename="kpi.xlsx")
    assert (info.kind, info.shipped) == ("linked", False)
    assert "My KPIs" in {t.name for t in list_templates(demo)}
    out = tmp_path / "out.xlsx"
    result = export_workbook(
        demo, out, Selection([RETAIL], from_month="2025-01", to_month="2025-01"), template="My KPIs"
    )
    assert result.statement_sheets == [] and result.rows > 30
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["KPIs", "Data"]
    assert book["KPIs"]["B2"].value == '=SUMIFS(Data!$F:$F,Data!$C:$C,"OMZ")'
    assert book["Data"]["I11"].value.startswith('{"all": false')


def test_a_template_without_data_sheet_is_refused(demo, tmp_path):
    plain = tmp_path / "plain.xlsx"
    wb = xlsxwriter.Workbook(str(plain))
    wb.add_worksheet("Sheet1")
    wb.close()
    with pytest.raises(NotLinkedError):
        add_template(demo, "plain", plain.read_bytes(), filename="plain.xlsx")
    assert [t.name for t in list_templates(demo)] == ["group-totals", "statements"]


def run(capsys, data, *args: str) -> tuple[int, str, str]:
    """`ledgerline --data DATA ARGS` in this process (the CLI's own entry point), with its output."""
    code = main(["--data", str(data), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exports_and_refreshes(demo, tmp_path, capsys):
    book = tmp_path / "board.xlsx"
    code, out, err = run(
        capsys,
        demo,
        "export-xlsx",
        str(book),
        "--entity",
        RETAIL,
        "--entity",
        SERVICES,
        "--from",
        "2025-05",
        "--to",
        "2025-06",
    )
    assert code == 0, err
    assert f"for {RETAIL}, {SERVICES}, 2025-05 to 2025-06" in out
    assert "statement sheets P&L, Balance Sheet, Cash Flow" in out
    code, out, err = run(capsys, demo, "refresh-workbook", str(book), "--entity", SERVICES, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["entities"], report["from"], report["to"]) == ([SERVICES], "2025-05", "2025-06")
    with zipfile.ZipFile(book) as z:
        assert z.testzip() is None
    # not a workbook: exit 1, a message, nothing written
    text = tmp_path / "notes.xlsx"
    text.write_text("hello")
    code, out, err = run(capsys, demo, "refresh-workbook", str(text))
    assert code == 1 and "is not an Excel workbook" in err
    assert text.read_text() == "hello"
    with pytest.raises(SystemExit) as usage:
        main(["--data", str(demo), "export-xlsx", str(tmp_path / "x.xlsx")])
    assert usage.value.code == 2  # --entity or --all is required


def test_cli_feed_tokens(demo, capsys):
    code, out, err = run(capsys, demo, "feed-token", "create", "--user", "local", "--label", "laptop")
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert token.startswith("llf_")
    listed = json.loads(run(capsys, demo, "feed-token", "list", "--json")[1])
    assert [(t["login"], t["label"], t["active"]) for t in listed] == [("local", "laptop", True)]
    assert token not in json.dumps(listed)
    assert run(capsys, demo, "feed-token", "revoke", str(listed[0]["id"]))[0] == 0
    assert json.loads(run(capsys, demo, "feed-token", "list", "--json")[1])[0]["active"] is False
    code, out, err = run(capsys, demo, "feed-token", "create", "--user", "nobody@example.com")
    assert code == 1 and "No active user" in err


def test_desktop_refresh_is_refused_where_excel_cannot_be_driven(demo):
    """On Linux the xlwings path says what to use instead, and xlwings is never imported."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipeline.cli as c; code = c.main(['--data', sys.argv[1], 'refresh-open']); "
            "print(code, 'xlwings' in sys.modules)",
            str(demo),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert probe.stdout.split() == ["1", "False"], probe.stderr
    assert "needs desktop Excel on Windows or macOS" in probe.stderr
    assert "ledgerline refresh-workbook" in probe.stderr
