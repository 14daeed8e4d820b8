"""The XAF samples, imported for real, on the RGS template with every suggestion accepted.

The two auditfiles from accounting packages balance: their balance sheet balances in every year
and the P&L result equals the trial balance's. The two XAF 3.2 schema examples hold placeholder
data whose ledger is itself off by 3.14; their reports must say so rather than hide it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

import pipeline.mapping  # noqa: F401 - registers the statement regenerator
from pipeline import db, imports, mapping, reports, suggest
from pipeline.errors import NotFoundError
from pipeline.structure import create_from_template, find_structure
from pipeline.trial_balance import trial_balance

RGS = "Nederlands (RGS)"


def load(data, path):
    run = imports.import_file(data, path, "Sample")
    assert run.status == "succeeded", run.error_message
    with db.connect(data) as con:
        try:
            find_structure(con, RGS)
        except NotFoundError:
            create_from_template(con, "rgs", organisation_id=1)
        accepted = suggest.accept(con, "Sample", RGS, actor="tester")
        pnl = reports.statement(con, "pnl", entity="Sample", structure=RGS, by="year")
        bs = reports.statement(con, "bs", entity="Sample", structure=RGS, by="year")
        left = mapping.unmapped(con, "Sample", RGS)
        tb = trial_balance(con, "Sample")
    tb_result = -sum(
        (a["balance"] - a["opening"] for a in tb.accounts if a["account_type"] == "pnl"), Decimal(0)
    )
    return accepted, pnl, bs, left, tb_result


@pytest.mark.parametrize(
    ("name", "result", "assets", "accepted", "unmapped"),
    [
        ("ExactOnline_V32_2016.xaf", "121301.02", "87763.19", 97, 0),
        ("Banana_auditfile_v3.2_nl_20180101_20181231.xaf", "21096.09", "27528.31", 122, 9),
    ],
)
def test_auditfiles_balance_and_reconcile(samples, data, name, result, assets, accepted, unmapped):
    ids, pnl, bs, left, tb_result = load(data, samples / "xaf" / name)
    assert pnl.result == tb_result == Decimal(result)
    checks = {v.name: v for v in bs.validations}
    assert checks["balance_sheet"].ok, checks["balance_sheet"].message
    assert checks["trial_balance"].ok and checks["mapping_total"].ok
    assert str(bs.lines[0].total) == assets
    assert (len(ids), len(left)) == (accepted, unmapped)
    # what no suggestion could place stays visible, and reconciles, on the Unmapped line
    unmapped_balance = sum((a["movement"] for a in left if a["account_type"] != "pnl"), Decimal(0))
    assert bs.line("BS_UNMAPPED").total == unmapped_balance


@pytest.mark.parametrize(
    ("name", "difference"),
    [
        ("XmlAuditfileFinancieel3.2_test_original.xml", "-6.28"),
        ("XmlAuditfileFinancieel3.2_test_banana-edit.xml", "-3.14"),
    ],
)
def test_placeholder_examples_are_flagged_not_hidden(samples, data, name, difference):
    _, pnl, bs, _, tb_result = load(data, samples / "xaf" / name)
    assert pnl.result == tb_result
    failed = {v.name: v.message for v in bs.validations if not v.ok}
    assert set(failed) >= {"trial_balance", "balance_sheet", "unbalanced_entries"}
    assert f"(difference {difference})" in failed["balance_sheet"]
    assert failed["unbalanced_entries"] == "Sample 1967: 1 entry does not balance"
