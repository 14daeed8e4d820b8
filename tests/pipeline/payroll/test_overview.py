"""The payroll overview (company costs per month, per company and in total) and its export."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook

from pipeline import db, payroll
from pipeline.access import LOCAL_USER
from tests.pipeline.payroll.conftest import TODAY, entity_id, month_costs

COST_CODES = ("1", "7", "20", "310", "400", "410", "420")  # mapped to the P&L


def test_company_costs_per_month_are_the_mapped_pnl_components(payroll_data, nmbrs):
    view = payroll.overview(payroll_data, LOCAL_USER)
    expected = {m: sum(c[k] for k in COST_CODES) for m, c in month_costs(nmbrs, 201).items()}
    retail = entity_id(payroll_data, "Demo Retail BV")
    assert view.company_costs(retail) == expected
    assert view.months == sorted(expected)  # 203 is not mapped, so it adds no month of its own
    assert view.total() == view.total(retail) == sum(expected.values())
    # Expanded into components: one row per component and account, an amount per month.
    rows = {(r["component_code"], r["account_code"]): r for r in view.components(retail)}
    assert sorted(rows) == sorted(
        [
            ("1", "4000"),
            ("7", "4010"),
            ("20", "4020"),
            ("310", "4100"),
            ("400", "4110"),
            ("410", "4110"),
            ("420", "4110"),
        ]
    )
    first = min(expected)
    assert rows[("1", "4000")]["months"][first] == month_costs(nmbrs, 201)[first]["1"]
    # The balance sheet side: payables shown positive.
    payables = {(r["component_code"], r["account_code"]): r["total"] for r in view.components(retail, "bs")}
    assert payables[("600", "1620")] == sum(c["600"] for c in month_costs(nmbrs, 201).values())
    # The companies not mapped yet are listed with their amounts instead.
    assert {u["company"] for u in view.unmapped} == {"Demo Logistics BV"}
    assert len(view.unmapped) == 10


def test_a_four_weekly_company_books_each_period_in_the_month_it_ends(payroll_data, nmbrs):
    logistics = entity_id(payroll_data, "Demo Logistics BV")
    gl = entity_id(payroll_data, "Demo Retail Ledger")
    payroll.set_gl_entity(payroll_data, LOCAL_USER, logistics, gl)
    payroll.save_mapping(
        payroll_data,
        LOCAL_USER,
        logistics,
        [
            {"component_code": "1", "statement": "pnl", "account_code": "4000"},
            {"component_code": "900", "hidden": True},
        ],
    )
    view = payroll.overview(payroll_data, LOCAL_USER, entity_ids=[logistics])
    costs = view.company_costs(logistics)
    december = date(TODAY.year - 1, 12, 1)
    last_year = nmbrs.costs(203, TODAY.year - 1)
    assert costs[december] == last_year[(12, "1")] + last_year[(13, "1")]  # periods 12 and 13 end in December
    assert costs[date(TODAY.year - 1, 1, 1)] == last_year[(1, "1")]
    assert len(view.unmapped) == 8  # the components neither mapped nor hidden


def test_the_range_limits_the_months(payroll_data):
    view = payroll.overview(
        payroll_data, LOCAL_USER, from_month=f"{TODAY.year}-02", to_month=f"{TODAY.year}-04"
    )
    assert view.months == [date(TODAY.year, m, 1) for m in (2, 3, 4)]


def test_the_flat_export_has_one_row_per_company_period_component_and_account(payroll_data, nmbrs):
    rows = payroll.export_rows(payroll_data, LOCAL_USER)
    periods = len(month_costs(nmbrs, 201))
    assert len(rows) == periods * 10  # ten mapping lines (the hidden total is not exported)
    text = payroll.export_csv(rows).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == list(payroll.EXPORT_COLUMNS)
    assert len(table) == len(rows)
    pension = [r for r in table if r["component_code"] == "310" and r["month"] == table[0]["month"]]
    assert [(r["statement"], r["account_code"], r["amount"] == pension[0]["amount"]) for r in pension] == [
        ("pnl", "4100", True),
        ("bs", "1600", True),
    ]
    assert Decimal(pension[1]["gl_amount"]) == -Decimal(pension[1]["amount"])
    total = sum(Decimal(r["amount"]) for r in table if r["statement"] == "pnl")
    assert total == payroll.overview(payroll_data, LOCAL_USER).total()
    book = load_workbook(io.BytesIO(payroll.export_xlsx(rows)))
    sheet = book["Payroll"]
    assert [c.value for c in sheet[1]] == list(payroll.EXPORT_COLUMNS)
    assert sheet.max_row == len(rows) + 1
    amount = sheet.cell(row=2, column=payroll.EXPORT_COLUMNS.index("amount") + 1)
    assert amount.data_type == "n" and Decimal(str(amount.value)) == rows[0]["amount"]
    assert sheet.auto_filter.ref == f"A1:O{len(rows) + 1}"


def test_text_from_the_source_never_becomes_a_formula(payroll_data):
    with db.transaction(payroll_data) as con:
        con.execute("""UPDATE payroll_companies SET name = '=HYPERLINK("http://x","y")'""")
    rows = payroll.export_rows(payroll_data, LOCAL_USER)
    assert rows[0]["company"].startswith("=HYPERLINK")
    text = payroll.export_csv(rows[:1]).decode("utf-8-sig")
    assert next(csv.DictReader(io.StringIO(text)))["company"] == '\'=HYPERLINK("http://x","y")'
    sheet = load_workbook(io.BytesIO(payroll.export_xlsx(rows[:1])))["Payroll"]
    assert (sheet["A2"].data_type, sheet["A2"].value) == ("s", '=HYPERLINK("http://x","y")')
