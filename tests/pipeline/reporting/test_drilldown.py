"""Drill-down: report line -> accounts -> ledger lines with their source reference and import run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pipeline import db, reports
from pipeline.errors import ConfigError, NotFoundError


def test_pnl_line_to_accounts_to_ledger_lines(small):
    with db.connect(small) as con:
        line = reports.drilldown(
            con, entity="Acme", line="STAFF", structure="Small", from_month="2024-01", to_month="2024-02"
        )
        lines = reports.drilldown(
            con,
            entity="Acme",
            line="STAFF",
            structure="Small",
            from_month="2024-01",
            to_month="2024-02",
            account="4000",
        )
    assert [(a["code"], a["name"], a["amount"]) for a in line.accounts] == [
        ("4000", "Wages", Decimal("-900.00")),
        ("4100", "Social charges", Decimal("-200.00")),
    ]
    assert line.total == Decimal("-1100.00")
    # only the wages without project P1 land on STAFF; the P1 line went to STAFF_PROJ
    assert [(r["date"], r["entry"], r["amount"], r["project"]) for r in lines.ledger_lines] == [
        (date(2024, 1, 25), "E3", Decimal("900.00"), None)
    ]
    row = lines.ledger_lines[0]
    assert row["source_ref"] == "file line 6" and row["file_name"] == "Acme.csv" and row["run_id"] == 1


def test_balance_sheet_line_shows_balances_and_opening_lines(small):
    with db.connect(small) as con:
        d = reports.drilldown(
            con, entity="Acme", line="CURRENT", structure="Small", to_month="2024-02", from_month="2024-01"
        )
        cash = reports.drilldown(
            con,
            entity="Acme",
            line="CASH_L",
            structure="Small",
            from_month="2024-01",
            to_month="2024-01",
            account="1000",
        )
    assert {a["code"]: a["balance"] for a in d.accounts} == {
        "1000": Decimal("4150.00"),
        "1300": Decimal("2000.00"),
    }
    assert d.total == Decimal("6150.00")
    assert [(r["kind"], r["amount"]) for r in cash.ledger_lines] == [
        ("opening", Decimal("10000.00")),
        ("movement", Decimal("-6000.00")),
        ("movement", Decimal("-1500.00")),
    ]


def test_cash_flow_line_drills_to_balance_sheet_accounts(small):
    with db.connect(small) as con:
        d = reports.drilldown(
            con, entity="Acme", line="CF_WC", structure="Small", from_month="2024-01", to_month="2024-01"
        )
    assert {a["code"]: a["amount"] for a in d.accounts} == {
        "1300": Decimal("-5000.00"),
        "1600": Decimal("2000.00"),
    }
    assert d.total == Decimal("-3000.00")


def test_formula_lines_and_foreign_accounts_are_explained(small):
    with db.connect(small) as con:
        with pytest.raises(ConfigError, match="formula line; drill into the lines it is computed from"):
            reports.drilldown(con, entity="Acme", line="GM", structure="Small")
        with pytest.raises(NotFoundError, match="Account 8000 has no amount on line STAFF"):
            reports.drilldown(con, entity="Acme", line="STAFF", structure="Small", account="8000")
