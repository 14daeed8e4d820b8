"""The wage-component mapping: every component listed, edits, hide, duplicate, Save changes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline import db, payroll
from pipeline.access import LOCAL_USER
from pipeline.errors import ConfigError
from tests.pipeline.payroll.conftest import MAPPING, entity_id

CODES = ["1", "7", "20", "310", "400", "410", "420", "500", "600", "900"]


def test_every_component_is_listed_with_its_saved_lines(payroll_data, nmbrs):
    retail = entity_id(payroll_data, "Demo Retail BV")
    view = payroll.mapping(payroll_data, LOCAL_USER, retail)
    assert [c["component_code"] for c in view.components] == CODES
    salary = next(c for c in view.components if c["component_code"] == "1")
    assert salary["component_name"] == "Salaris"
    assert salary["amount"] == sum(a for (_, code), a in all_costs(nmbrs, 201).items() if code == "1")
    assert view.entity["gl_entity"] == "Demo Retail Ledger" and view.incomplete == []
    rows = view.editor_rows()
    assert [
        (r["component_code"], r["statement"], r["account_code"], r["sign"], r["hidden"]) for r in rows
    ] == [
        ("1", "pnl", "4000", 1, False),
        ("7", "pnl", "4010", 1, False),
        ("20", "pnl", "4020", 1, False),
        ("310", "pnl", "4100", 1, False),
        ("310", "bs", "1600", -1, False),  # the default sign of a balance-sheet line: credit
        ("400", "pnl", "4110", 1, False),
        ("410", "pnl", "4110", 1, False),
        ("420", "pnl", "4110", 1, False),
        ("500", "bs", "1610", -1, False),
        ("600", "bs", "1620", -1, False),
        ("900", None, None, 1, True),
    ]
    assert {a["code"] for a in view.accounts} >= {"4000", "1600", "1620"}


def all_costs(sb, company):
    out = {}
    for year in {r.year for r in sb.companies[company].runs}:
        for (period, code), amount in sb.costs(company, year).items():
            out[(year, period, code)] = amount
    return {(f"{y}-{p}", c): a for (y, p, c), a in out.items()}


def test_an_unmapped_company_lists_every_component_with_its_amount(payroll_data, nmbrs):
    logistics = entity_id(payroll_data, "Demo Logistics BV")
    view = payroll.mapping(payroll_data, LOCAL_USER, logistics)
    assert [c["component_code"] for c in view.incomplete] == CODES
    assert view.editor_rows()[0] == {
        "component_code": "1",
        "statement": None,
        "account_code": None,
        "sign": None,
        "hidden": False,
    }
    with pytest.raises(ConfigError, match="Choose the ledger Demo Logistics BV is booked in"):
        payroll.save_mapping(
            payroll_data,
            LOCAL_USER,
            logistics,
            [{"component_code": "1", "statement": "pnl", "account_code": "4000"}],
        )


def test_duplicate_hide_and_save_changes(payroll_data):
    retail = entity_id(payroll_data, "Demo Retail BV")
    view = payroll.mapping(payroll_data, LOCAL_USER, retail)
    saved = view.editor_rows()
    draft = payroll.duplicate_row(saved, 1)  # component 7 on the P&L: a second line on the BS
    assert draft[1:3] == [
        {"component_code": "7", "statement": "pnl", "account_code": "4010", "sign": 1, "hidden": False},
        {"component_code": "7", "statement": "bs", "account_code": None, "sign": None, "hidden": False},
    ]
    draft[2]["account_code"] = "1630"
    draft = payroll.hide_component(draft, "20")
    assert [r for r in draft if r["component_code"] == "20"] == [
        {"component_code": "20", "statement": None, "account_code": None, "sign": None, "hidden": True}
    ]
    assert payroll.mapping_changes(saved, draft) == [
        "20: hidden",
        "7: Balance sheet account 1630 (credit)",
        "20: no longer on account 4020",
    ]
    # Nothing is saved until Save changes.
    assert payroll.mapping(payroll_data, LOCAL_USER, retail).editor_rows() == saved
    after = payroll.save_mapping(payroll_data, LOCAL_USER, retail, draft)
    assert payroll.mapping_changes(after.editor_rows(), draft) == []
    assert [
        (ln["line_no"], ln["statement"], ln["account_code"], ln["sign"])
        for ln in after.lines
        if ln["component_code"] == "7"
    ] == [
        (1, "pnl", "4010", 1),
        (2, "bs", "1630", -1),
    ]
    with db.connect(payroll_data) as con:
        action, actor = con.execute(
            "SELECT action, actor FROM audit_log WHERE object_type = 'entity' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert (action, actor) == ("payroll.save_mapping", "local")
    # Shown again, a hidden component becomes one empty (unmapped) row.
    shown = payroll.hide_component(after.editor_rows(), "20", hidden=False)
    assert next(r for r in shown if r["component_code"] == "20")["hidden"] is False


REFUSED = [
    ({"component_code": "1", "statement": "pnl", "account_code": "9999"}, "has no account 9999"),
    (
        {"component_code": "1", "statement": "pnl", "account_code": "1600"},
        "account 1600 (Te betalen pensioenpremie) is a Balance sheet account, not a P&L one",
    ),
    (
        {"component_code": "1", "statement": "pnl", "account_code": "4000"},
        "1 is mapped to P&L account 4000 twice",
    ),
    (
        {"component_code": "900", "statement": "pnl", "account_code": "4000"},
        "900 is hidden, so it cannot also be mapped",
    ),
    (
        {"component_code": "1", "statement": "pnl", "account_code": None},
        "choose an account for the P&L line",
    ),
    ({"component_code": "77", "statement": "pnl", "account_code": "4000"}, "has no wage component 77"),
    (
        {"component_code": "1", "statement": "pnl", "account_code": "4020", "sign": 2},
        "the sign is +1 (debit) or -1 (credit)",
    ),
]


def test_a_draft_that_does_not_fit_the_ledger_is_refused_whole(payroll_data):
    retail = entity_id(payroll_data, "Demo Retail BV")
    with db.transaction(payroll_data) as con:  # a statement the ledger states for its account
        con.execute("UPDATE accounts SET account_type = 'pnl' WHERE code LIKE '4%'")
        con.execute("UPDATE accounts SET account_type = 'balance' WHERE code LIKE '1%'")
    for change, message in REFUSED:
        with pytest.raises(ConfigError) as info:
            payroll.save_mapping(payroll_data, LOCAL_USER, retail, [*MAPPING, change])
        assert message in info.value.message, change
    lines = payroll.mapping(payroll_data, LOCAL_USER, retail).lines
    assert len(lines) == len(MAPPING)  # every refusal left the saved mapping as it was


def test_values_appear_only_for_mapped_components(payroll_data, nmbrs):
    retail = entity_id(payroll_data, "Demo Retail BV")
    rows = [r for r in MAPPING if r["component_code"] != "7"]
    payroll.save_mapping(payroll_data, LOCAL_USER, retail, rows)
    view = payroll.overview(payroll_data, LOCAL_USER, entity_ids=[retail])
    assert "7" not in {ln["component_code"] for ln in view.lines}
    assert "900" not in {ln["component_code"] for ln in view.lines}  # hidden: neither shown nor listed
    (holiday,) = view.unmapped
    assert (holiday["component_code"], holiday["component_name"]) == ("7", "Reservering vakantiegeld")
    assert holiday["amount"] == sum(a for (_, code), a in all_costs(nmbrs, 201).items() if code == "7")
    assert holiday["amount"] > Decimal("1000")
