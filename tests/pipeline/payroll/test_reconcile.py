"""Reconciliation: mapped payroll costs per GL account and month against the ledger's postings."""

from __future__ import annotations

from decimal import Decimal

from pipeline import db, payroll
from pipeline.access import LOCAL_USER
from tests.pipeline.payroll.conftest import SEEDED_DIFFERENCE, SEEDED_MONTH, month_costs


def test_the_seeded_difference_is_found_and_nothing_else(payroll_data, nmbrs):
    result = payroll.reconcile(payroll_data, LOCAL_USER)
    months = len(month_costs(nmbrs, 201))
    accounts = {r["account_code"] for r in result.rows}
    assert accounts == {"4000", "4010", "4020", "4100", "4110", "1600", "1610", "1620"}
    assert len(result.rows) == len(accounts) * months
    (flagged,) = result.differences
    salary = month_costs(nmbrs, 201)[SEEDED_MONTH]["1"]
    assert (flagged["account_code"], flagged["account_name"], flagged["month"]) == (
        "4000",
        "Salarissen",
        SEEDED_MONTH,
    )
    assert (flagged["payroll_amount"], flagged["gl_amount"], flagged["difference"]) == (
        salary,
        salary + SEEDED_DIFFERENCE,
        SEEDED_DIFFERENCE,
    )
    # Social charges: three components on one account, against its net movement.
    social = next(r for r in result.rows if r["account_code"] == "4110" and r["month"] == SEEDED_MONTH)
    c = month_costs(nmbrs, 201)[SEEDED_MONTH]
    assert social["basis"] == "net" and social["payroll_amount"] == c["400"] + c["410"] + c["420"]
    # Net wages payable also carries the payments; only its credits are compared.
    net = next(r for r in result.rows if r["account_code"] == "1620" and r["month"] == SEEDED_MONTH)
    assert (net["basis"], net["payroll_amount"], net["gl_amount"], net["flagged"]) == (
        "credit",
        -c["600"],
        -c["600"],
        False,
    )


def test_a_tolerance_absorbs_small_differences(payroll_data):
    assert payroll.reconcile(payroll_data, LOCAL_USER, tolerance="100.00").differences == []
    assert len(payroll.reconcile(payroll_data, LOCAL_USER, tolerance=Decimal("99.99")).differences) == 1


def test_a_month_missing_from_the_ledger_is_flagged_in_full(payroll_data, nmbrs):
    with db.transaction(payroll_data) as con:
        con.execute("DELETE FROM rpt_trial_balance WHERE account_code = '1610' AND month = ?", [SEEDED_MONTH])
    result = payroll.reconcile(payroll_data, LOCAL_USER, from_month=SEEDED_MONTH, to_month=SEEDED_MONTH)
    flagged = {(r["account_code"], r["difference"]) for r in result.differences}
    tax = month_costs(nmbrs, 201)[SEEDED_MONTH]["500"]
    assert flagged == {("4000", SEEDED_DIFFERENCE), ("1610", tax)}
