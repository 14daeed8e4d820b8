"""Hand-computed statements of the small ledger in conftest.py (amounts worked out on paper).

The ledger: opening bank 10,000 against share capital; January buys equipment (6,000), sells on
credit (5,000), pays wages (900 + 600 on project P1) and buys goods on credit (2,000); February
collects 3,000, books 100 depreciation, pays a supplier 1,200, puts 50 on a suspense account
(excluded), 30 on an unmapped account, 200 social charges and 70 office costs; January 2025
sells 500 for cash (no opening balances for 2025).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline import db, reports
from tests.pipeline.reporting.conftest import write_ledger

D = Decimal


def amounts(st, code):
    line = st.line(code)
    return {k: (None if v is None else str(v)) for k, v in line.amounts.items()}, str(line.total)


def test_profit_and_loss_by_month(small):
    with db.connect(small) as con:
        st = reports.statement(
            con, "pnl", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02"
        )
    assert [p.label for p in st.periods] == ["2024-01", "2024-02"]
    assert amounts(st, "REV") == ({"2024-01": "5000.00", "2024-02": "0.00"}, "5000.00")
    assert amounts(st, "COGS") == ({"2024-01": "-2000.00", "2024-02": "0.00"}, "-2000.00")
    assert amounts(st, "GM") == ({"2024-01": "3000.00", "2024-02": "0.00"}, "3000.00")
    # range rule 4000-4499 takes wages and social charges; the P1 wages go to their own line
    assert amounts(st, "STAFF") == ({"2024-01": "-900.00", "2024-02": "-200.00"}, "-1100.00")
    assert amounts(st, "STAFF_PROJ") == ({"2024-01": "-600.00", "2024-02": "0.00"}, "-600.00")
    assert amounts(st, "OPEX") == ({"2024-01": "-1500.00", "2024-02": "-270.00"}, "-1770.00")
    assert amounts(st, "EBITDA") == ({"2024-01": "1500.00", "2024-02": "-270.00"}, "1230.00")
    assert amounts(st, "DEPR") == ({"2024-01": "0.00", "2024-02": "-100.00"}, "-100.00")
    assert amounts(st, "PL_UNMAPPED") == ({"2024-01": "0.00", "2024-02": "-30.00"}, "-30.00")
    assert amounts(st, "NET") == ({"2024-01": "1500.00", "2024-02": "-400.00"}, "1100.00")
    assert st.result == D("1100.00")
    assert [line.kind for line in st.lines][:4] == ["mapped", "mapped", "formula", "group"]
    checks = {v.name: v for v in st.validations}
    assert checks["unmapped"].ok is False
    assert "30.00 on the Unmapped line" in checks["unmapped"].message
    assert checks["trial_balance"].ok and checks["net_result"].ok and checks["unbalanced_entries"].ok


def test_balance_sheet_at_each_month_end(small):
    with db.connect(small) as con:
        st = reports.statement(
            con, "bs", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02"
        )
    assert amounts(st, "CASH_L") == ({"2024-01": "2500.00", "2024-02": "4150.00"}, "4150.00")
    assert amounts(st, "ACCDEP") == ({"2024-01": "0.00", "2024-02": "-100.00"}, "-100.00")
    assert amounts(st, "BS_EXCLUDED") == ({"2024-01": "0.00", "2024-02": "50.00"}, "50.00")
    assert amounts(st, "ASSETS") == ({"2024-01": "13500.00", "2024-02": "12100.00"}, "12100.00")
    assert amounts(st, "EQ") == ({"2024-01": "10000.00", "2024-02": "10000.00"}, "10000.00")
    assert amounts(st, "RES") == ({"2024-01": "1500.00", "2024-02": "1100.00"}, "1100.00")
    assert amounts(st, "PAY") == ({"2024-01": "2000.00", "2024-02": "1000.00"}, "1000.00")
    assert amounts(st, "LIAB") == ({"2024-01": "13500.00", "2024-02": "12100.00"}, "12100.00")
    checks = {v.name: v for v in st.validations}
    assert checks["balance_sheet"].ok, checks["balance_sheet"].message


def test_prior_year_result_carries_into_equity_without_opening_balances(small):
    with db.connect(small) as con:
        st = reports.statement(
            con, "bs", entity="Acme", structure="Small", from_month="2025-01", to_month="2025-01"
        )
    assert str(st.line("RET").total) == "1100.00"  # 2024's result, never closed into equity
    assert str(st.line("RES").total) == "500.00"
    assert str(st.line("CASH_L").total) == "4650.00"
    assert str(st.line("ASSETS").total) == str(st.line("LIAB").total) == "12600.00"
    assert all(v.ok for v in st.validations if v.name == "balance_sheet")


def test_opening_balances_of_the_next_year_already_hold_the_result(small):
    # the source closes 2024: its 2025 opening balances put 2024's result (1,100) into share capital
    closing = [
        ("0100", "6000.00"),
        ("0110", "-100.00"),
        ("1300", "2000.00"),
        ("1000", "4150.00"),
        ("1999", "50.00"),
        ("1600", "-1000.00"),
        ("0500", "-11100.00"),
    ]
    write_ledger(
        small, "Acme", accounts=[], entries={}, openings=[(2025, "2025-01-01", a, v) for a, v in closing]
    )
    with db.connect(small) as con:
        bs = reports.statement(
            con, "bs", entity="Acme", structure="Small", from_month="2025-01", to_month="2025-01"
        )
        cf = reports.statement(
            con, "cf", entity="Acme", structure="Small", from_month="2025-01", to_month="2025-01"
        )
    assert [str(bs.line(c).total) for c in ("EQ", "RET", "RES", "CASH_L", "ASSETS", "LIAB")] == [
        "11100.00",
        "0.00",
        "500.00",
        "4650.00",
        "12600.00",
        "12600.00",
    ]
    assert [str(cf.line(c).total) for c in ("CASH_START", "CF_RES", "CASH_END")] == [
        "4150.00",
        "500.00",
        "4650.00",
    ]
    assert all(v.ok for v in [*bs.validations, *cf.validations] if v.name != "unmapped")


def test_cash_flow_ties_to_cash(small):
    with db.connect(small) as con:
        st = reports.statement(
            con, "cf", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02"
        )
    assert amounts(st, "CF_RES") == ({"2024-01": "1500.00", "2024-02": "-400.00"}, "1100.00")
    assert amounts(st, "CF_DEPR") == ({"2024-01": "0.00", "2024-02": "100.00"}, "100.00")
    assert amounts(st, "CF_WC") == ({"2024-01": "-3000.00", "2024-02": "2000.00"}, "-1000.00")
    assert amounts(st, "CF_OPS") == ({"2024-01": "-1500.00", "2024-02": "1700.00"}, "200.00")
    assert amounts(st, "CF_INV") == ({"2024-01": "-6000.00", "2024-02": "0.00"}, "-6000.00")
    assert amounts(st, "CF_EXC") == ({"2024-01": "0.00", "2024-02": "-50.00"}, "-50.00")
    assert amounts(st, "CF_NET") == ({"2024-01": "-7500.00", "2024-02": "1650.00"}, "-5850.00")
    assert amounts(st, "CASH_START") == ({"2024-01": "10000.00", "2024-02": "2500.00"}, "10000.00")
    assert amounts(st, "CASH_END") == ({"2024-01": "2500.00", "2024-02": "4150.00"}, "4150.00")
    assert {v.name: v.ok for v in st.validations}["cash_flow"] is True


def test_quarter_year_ytd_and_previous_year(small):
    with db.connect(small) as con:
        by_year = reports.statement(con, "pnl", entity="Acme", structure="Small", by="year")
        ytd = reports.statement(
            con, "pnl", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02", ytd=True
        )
        cmp = reports.statement(
            con,
            "pnl",
            entity="Acme",
            structure="Small",
            from_month="2025-01",
            to_month="2025-01",
            by="quarter",
            compare=True,
        )
    assert [p.label for p in by_year.periods] == ["2024", "2025"]
    assert amounts(by_year, "REV") == ({"2024": "5000.00", "2025": "500.00"}, "5500.00")
    assert amounts(ytd, "NET") == ({"2024-01": "1500.00", "2024-02": "1100.00"}, "1100.00")
    line = cmp.line("REV")
    assert [p.label for p in cmp.periods] == ["2025-Q1"]
    assert str(line.amounts["2025-Q1"]) == "500.00"
    assert str(line.previous["2025-Q1"]) == "5000.00"  # January 2024
    assert cmp.as_json()["lines"][0]["previous_total"] == "5000.00"


def test_kpis(small):
    with db.connect(small) as con:
        k = reports.kpis(
            con, entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02", by="month"
        )
    total = {
        name: (None if v["total"] is None else str(v["total"]))
        for name, v in ((n, {"total": per["total"]}) for n, per in k.values.items())
    }
    assert total["revenue"] == "5000.00"
    assert total["gross_margin"] == "3000.00"
    assert total["gross_margin_pct"] == "60.00"
    assert total["ebitda"] == "1230.00"
    assert total["net_result"] == "1100.00"
    assert total["current_assets"] == "6150.00"
    assert total["current_liabilities"] == "1000.00"
    assert total["current_ratio"] == "6.15"
    assert total["working_capital"] == "5150.00"
    assert total["dso"] == "24.00"  # 2,000 receivable / 5,000 revenue x 60 days
    assert total["dpo"] == "30.00"  # 1,000 payable / 2,000 cost of sales x 60 days
    assert k.values["gross_margin_pct"]["2024-02"] is None  # no revenue in February


def test_statement_json_contract(small):
    with db.connect(small) as con:
        doc = reports.statement(
            con, "pnl", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02"
        ).as_json()
    assert set(doc) >= {"statement", "entity", "structure", "periods", "lines", "result", "validations"}
    assert doc["statement"] == "pnl" and doc["entity"] == "Acme" and doc["structure"] == "Small"
    assert doc["result"] == "1100.00"
    rev = doc["lines"][0]
    assert rev == {
        "code": "REV",
        "name": "Revenue",
        "kind": "mapped",
        "level": 0,
        "amounts": {"2024-01": "5000.00", "2024-02": "0.00"},
        "total": "5000.00",
    }
    assert all(set(v) == {"name", "ok", "message"} for v in doc["validations"])


def test_group_sums_entities_and_flags_foreign_currency(small):
    write_ledger(
        small,
        "Acme Two",
        entries={"E1": ("2024-01-10", [("1300", "100.00"), ("8000", "-100.00")])},
        openings=[],
    )
    write_ledger(
        small,
        "Acme US",
        currency="USD",
        entries={"E1": ("2024-01-10", [("1300", "700.00"), ("8000", "-700.00")])},
        openings=[],
    )
    with db.connect(small) as con:
        st = reports.statement(
            con, "pnl", organisation="Test org", structure="Small", from_month="2024-01", to_month="2024-01"
        )
    assert st.entities == ["Acme", "Acme Two"]
    assert str(st.line("REV").total) == "5100.00"  # 5,000 + 100; the USD entity is left out
    currency = {v.name: v for v in st.validations}["currency"]
    assert currency.ok is False
    assert "Acme US (USD) not included" in currency.message


def test_entries_off_by_amounts_that_cancel_out_are_each_listed(data):
    # The ledger as a whole balances (+25.00 and -25.00), yet two entries do not: both are
    # reported, with the entity's balanced entries left alone.
    write_ledger(
        data,
        "Offsetting",
        entries={
            "E1": ("2024-03-01", [("1000", "100.00"), ("8000", "-75.00")]),
            "E2": ("2024-03-02", [("1000", "50.00"), ("8000", "-75.00")]),
            "E3": ("2024-04-01", [("1000", "10.00"), ("8000", "-10.00")]),
        },
        openings=[],
    )
    with db.connect(data) as con:
        listed = con.execute(
            "SELECT entry, amount, lines FROM rpt_unbalanced_entries ORDER BY entry"
        ).fetchall()
        st = reports.statement(con, "bs", entity="Offsetting", from_month="2024-03", to_month="2024-04")
    assert [(e, str(a), n) for e, a, n in listed] == [("E1", "25.00", 2), ("E2", "-25.00", 2)]
    failed = {v.name: v.message for v in st.validations if not v.ok}
    assert failed["unbalanced_entries"] == "Offsetting 2024-03: 2 entries do not balance"
    assert "trial_balance" not in failed


def test_unbalanced_entry_fails_the_validations(data):
    write_ledger(
        data, "Broken", entries={"E1": ("2024-03-01", [("1000", "100.00"), ("8000", "-90.00")])}, openings=[]
    )
    with db.connect(data) as con:
        st = reports.statement(con, "bs", entity="Broken", from_month="2024-03", to_month="2024-03")
        checks = reports.validations(con, entity="Broken")
    failed = {v.name: v.message for v in st.validations if not v.ok}
    assert failed["trial_balance"] == "Broken 2024-03: debits and credits differ by 10.00"
    assert failed["unbalanced_entries"] == "Broken 2024-03: 1 entry does not balance"
    assert "difference 10.00" in failed["balance_sheet"]
    assert {(c.name, c.ok) for c in checks} >= {
        ("trial_balance", False),
        ("cash_flow", False),
        ("mapping_total", True),
    }


@pytest.mark.parametrize("bad", [{"from_month": "2024-13"}, {"from_month": "2024-03", "to_month": "2024-01"}])
def test_bad_range_is_refused_with_a_clear_message(small, bad):
    from pipeline.errors import ConfigError

    with db.connect(small) as con, pytest.raises(ConfigError) as err:
        reports.statement(con, "pnl", entity="Acme", structure="Small", **bad)
    assert "2024" in err.value.user_message()
