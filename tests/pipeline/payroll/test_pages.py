"""The two payroll pages run (AppTest) on the seeded warehouse: overview, reconciliation, mapping."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from pipeline import access, db, payroll
from pipeline.access import LOCAL_USER, User
from tests.pipeline.payroll.conftest import entity_id

PAGES = Path(__file__).resolve().parents[3] / "pages"


def page(name: str, data: Path, monkeypatch, user: User = LOCAL_USER) -> AppTest:
    monkeypatch.setenv("LEDGERLINE_DATA", str(data))
    at = AppTest.from_file(str(PAGES / name), default_timeout=60)
    at.session_state["ledgerline_user"] = user
    at.session_state["ledgerline_org"] = 1
    return at.run()


def test_the_overview_shows_costs_the_unmapped_company_and_the_difference(payroll_data, monkeypatch):
    at = page("payroll.py", payroll_data, monkeypatch)
    assert not at.exception
    total = payroll.overview(payroll_data, LOCAL_USER).total()
    table = at.dataframe[0].value
    assert list(table["Company"]) == ["Demo Retail BV", "Total"]
    assert table["Total"].iloc[-1] == f"{total:,.2f}"
    assert "not mapped yet" in at.warning[0].value and "Demo Logistics BV" in at.warning[0].value
    assert [e.value for e in at.error] == ["1 difference(s) between payroll and the ledger."]
    assert len(at.get("download_button")) == 2


def test_mapping_edits_wait_for_save_changes(payroll_data, monkeypatch):
    at = page("payroll_admin.py", payroll_data, monkeypatch)
    assert not at.exception
    retail = entity_id(payroll_data, "Demo Retail BV")
    next(s for s in at.selectbox if s.label == "Payroll company").set_value(retail).run()
    row_pick = next(s for s in at.selectbox if s.label == "Row")
    row_pick.set_value(1).run()  # component 7
    next(b for b in at.button if b.label == "Duplicate row").click().run()
    assert any("Unsaved changes" in w.value for w in at.warning)
    assert len(payroll.mapping(payroll_data, LOCAL_USER, retail).lines) == 11  # nothing saved yet
    next(b for b in at.button if b.label == "Discard").click().run()
    assert not any("Unsaved changes" in w.value for w in at.warning)


def test_a_reporting_user_is_refused_on_the_page(payroll_data, monkeypatch):
    with db.transaction(payroll_data) as con:
        access.set_role(con, LOCAL_USER, "reporting@example.nl", 1, "reporting")
    at = page("payroll.py", payroll_data, monkeypatch, User("reporting@example.nl"))
    assert [e.value for e in at.error] == [
        "A Reporting may not see payroll. Owners and Accountants can; ask one of them."
    ]
    assert not at.dataframe
