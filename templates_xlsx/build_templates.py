"""Build the shipped workbook templates reproducibly: `python templates_xlsx/build_templates.py`.

Each template has a cover sheet, three statement sheets and the data sheet. Statement sheets hold
prototype rows (see `pipeline.xlsx.statement_sheet`): exporting expands them into one row per
structure line with formulas over the data sheet; their formats, column widths, frozen panes and
print setup are kept. The cover reads the data sheet's settings cells, so a refresh updates it.

The same input gives the same bytes (fixed document dates; xlsxwriter dates zip members 1980-01-01),
so a rebuilt template only shows up in a diff when this script changed. Needs xlsxwriter (a test
dependency); the app itself only reads the built files.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pipeline.xlsx.datasheet import DATA_NAME, DATA_SHEET, HEADER, META_MARK, META_ROWS  # noqa: E402

BUILT = datetime(2025, 1, 1)
AMOUNT = "#,##0.00;[Red]-#,##0.00"
MONTH = "mmm yyyy"
STATEMENTS = (("P&L", "pnl"), ("Balance Sheet", "bs"), ("Cash Flow", "cf"))
TEMPLATES = {
    "statements": (
        "Statements by month",
        "P&L, balance sheet and cash flow, months across: for a group the group total first, "
        "then each entity.",
        "entities",
    ),
    "group-totals": (
        "Group totals by month",
        "P&L, balance sheet and cash flow, months across, for the entities together (no block per entity).",
        "group",
    ),
}


def build(path: Path, title: str, description: str, blocks: str) -> None:
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties(
        {
            "title": title,
            "subject": "Ledgerline",
            "comments": description,
            "author": "Ledgerline",
            "created": BUILT,
        }
    )
    wb.set_calc_mode("auto")
    fmt = {
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "subtitle": wb.add_format({"italic": True, "font_color": "#595959"}),
        "label": wb.add_format({"bold": True}),
        "note": wb.add_format({"font_color": "#595959", "text_wrap": True, "valign": "top"}),
        "header": wb.add_format({"bold": True, "bottom": 1, "bg_color": "#DDEBF7"}),
        "header_month": wb.add_format(
            {"bold": True, "bottom": 1, "bg_color": "#DDEBF7", "num_format": MONTH, "align": "right"}
        ),
        "header_total": wb.add_format({"bold": True, "bottom": 1, "bg_color": "#DDEBF7", "align": "right"}),
        "criterion": wb.add_format({"num_format": ";;;"}),
        "block": wb.add_format({"bold": True, "font_size": 12, "bottom": 1}),
        "code": wb.add_format({"font_color": "#7F7F7F", "font_size": 9}),
        "group": wb.add_format({"bold": True}),
        "group_amount": wb.add_format({"bold": True, "num_format": AMOUNT}),
        "line": wb.add_format({}),
        "amount": wb.add_format({"num_format": AMOUNT}),
        "formula": wb.add_format({"bold": True, "top": 1}),
        "formula_amount": wb.add_format({"bold": True, "top": 1, "num_format": AMOUNT}),
        "formula_code": wb.add_format({"font_color": "#7F7F7F", "font_size": 9, "top": 1}),
        "data_header": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1}),
        "data_month": wb.add_format({"num_format": "yyyy-mm"}),
        "data_amount": wb.add_format({"num_format": "0.00"}),
        "meta_key": wb.add_format({"bold": True}),
        "meta_text": wb.add_format({"text_wrap": False}),
        "meta_month": wb.add_format({"num_format": "yyyy-mm", "align": "left"}),
        "meta_time": wb.add_format({"num_format": "yyyy-mm-dd hh:mm", "align": "left"}),
        "cover_month": wb.add_format({"num_format": MONTH, "align": "left"}),
        "cover_time": wb.add_format({"num_format": "yyyy-mm-dd hh:mm", "align": "left"}),
    }
    data = f"{DATA_SHEET}!"

    def meta(key: str) -> str:
        return f"{data}$I${META_ROWS[key][0]}"

    cover = wb.add_worksheet("Cover")
    cover.set_column("A:A", 28)
    cover.set_column("B:B", 70)
    cover.write_string("A1", title, fmt["title"])
    rows = [
        ("Scope", f'=""&{meta("scope")}', None),
        ("Entities", f'=""&{meta("entities")}', None),
        ("Structure", f'=""&{meta("structure")}', None),
        ("First month", f"={meta('first_month')}", fmt["cover_month"]),
        ("Last month", f"={meta('last_month')}", fmt["cover_month"]),
        ("Currency", f'=""&{meta("currency")}', None),
        ("=last_import", f'=IF({meta("last_import")}="","never",{meta("last_import")})', fmt["cover_time"]),
        ("=refreshed", f"={meta('refreshed')}", fmt["cover_time"]),
        ("Checks", f'=""&{meta("checks")}', None),
    ]
    for i, (label, formula, style) in enumerate(rows, start=3):
        if label.startswith("="):  # the label names the time zone, which the data sheet knows
            cover.write_formula(f"A{i}", f"={data}$H${META_ROWS[label[1:]][0]}", fmt["label"])
        else:
            cover.write_string(f"A{i}", label, fmt["label"])
        cover.write_formula(f"B{i}", formula, style)
    cover.merge_range(
        "A13:B13",
        "The statement sheets compute from the Data sheet. To update the numbers: ledgerline refresh-workbook, "
        "the Refresh button of the Reports page, the Ledgerline macro in Excel, or Data > Refresh All with the "
        "CSV feed. Build your own sheets on the Data sheet (or the name LedgerlineData): a refresh keeps them.",
        fmt["note"],
    )
    cover.set_row(12, 60)
    cover.set_landscape()
    cover.set_paper(9)

    for sheet_name, statement in STATEMENTS:
        ws = wb.add_worksheet(sheet_name)
        ws.set_column("A:A", 12)
        ws.set_column("B:B", 46)
        ws.set_column("C:ZZ", 13)
        ws.freeze_panes(3, 2)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0, 2)
        ws.repeat_columns(0, 1)
        ws.set_header("&L&A&R&D")
        ws.set_footer("&LLedgerline&RPage &P of &N")
        ws.write_string("A1", "#statement")
        ws.write_string("B1", statement)
        ws.write_string("A2", "#blocks")
        ws.write_string("B2", blocks)
        ws.write_string("A3", "#title", fmt["title"])
        ws.write_string("A4", "#subtitle", fmt["subtitle"])
        ws.write_string("A5", "#header", fmt["header"])
        ws.write_string("B5", "Line", fmt["header"])
        ws.write_number("C5", 45658, fmt["header_month"])
        ws.write_string("D5", "Total", fmt["header_total"])
        ws.write_string("A6", "#block", fmt["criterion"])
        ws.write_string("B6", "Entity", fmt["block"])
        for row, marker, code, name, amount in (
            (7, "#group", fmt["code"], fmt["group"], fmt["group_amount"]),
            (8, "#line", fmt["code"], fmt["line"], fmt["amount"]),
            (9, "#formula", fmt["formula_code"], fmt["formula"], fmt["formula_amount"]),
        ):
            ws.write_string(f"A{row}", marker, code)
            ws.write_string(f"B{row}", marker[1:], name)
            ws.write_number(f"C{row}", 0, amount)
            ws.write_number(f"D{row}", 0, amount)
        ws.write_string(
            "A11",
            "Prototype rows: exporting replaces rows 1-9 with the statement (docs/excel.md, 'Templates').",
        )

    ds = wb.add_worksheet(DATA_SHEET)
    for col, width in zip("ABCDEF", (28, 10, 14, 44, 10, 14), strict=True):
        ds.set_column(f"{col}:{col}", width)
    ds.set_column("H:H", 34)
    ds.set_column("I:I", 44)
    ds.freeze_panes(1, 0)
    for i, name in enumerate(HEADER):
        ds.write_string(0, i, name, fmt["data_header"])
    ds.write_string("H1", META_MARK, fmt["data_header"])
    ds.write_string("I1", "Value", fmt["data_header"])
    ds.write_row("A2", ["Example entity", "pnl", "CODE", "Example line"])
    ds.write_number("E2", 45658, fmt["data_month"])
    ds.write_number("F2", 0, fmt["data_amount"])
    for key, (row, label) in META_ROWS.items():
        ds.write_string(f"H{row}", label, fmt["meta_key"])
        if key in ("first_month", "last_month"):
            ds.write_number(f"I{row}", 45658, fmt["meta_month"])
        elif key in ("last_import", "refreshed"):
            ds.write_number(f"I{row}", 45658, fmt["meta_time"])
        else:
            ds.write_string(f"I{row}", "", fmt["meta_text"])
    wb.define_name(DATA_NAME, f"={DATA_SHEET}!$A$1:$F$2")
    wb.close()


def build_all(folder: Path = HERE) -> list[Path]:
    """Every shipped template, written into `folder`."""
    out = []
    for name, (title, description, blocks) in TEMPLATES.items():
        path = folder / f"{name}.xlsx"
        build(path, title, description, blocks)
        out.append(path)
    return out


def main() -> None:
    for path in build_all():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
