"""Reports page: statements, trial balance and KPIs over the real warehouse, drill-down,
validations, CSV downloads, and the entity limits of a role."""

from __future__ import annotations

from pipeline import db, reports, trial_balance

from .conftest import grant, open_page, texts

ENTITY = "Demo Retail BV"


def entity_id(data, name: str = ENTITY) -> int:
    with db.connect(data) as con:
        return con.execute("SELECT id FROM entities WHERE name = ?", [name]).fetchone()[0]


def open_reports(data, *, user: str | None = None, entity: str | None = ENTITY):
    at = open_page("reports", user=user)
    if entity is not None:
        at.selectbox(key="report_scope").set_value(entity_id(data, entity)).run()
    assert not at.exception
    return at


def html(at) -> str:
    return " ".join(h.value for h in at.html)


def test_the_pnl_shows_the_same_figures_as_the_report_service(warehouse):
    at = open_reports(warehouse)
    # Default range: the last twelve months with data.
    assert at.selectbox(key="report_from_" + str(entity_id(warehouse))).value == "2024-07"
    with db.connect(warehouse) as con:
        expected = reports.statement(con, "pnl", entity=ENTITY, from_month="2024-07", to_month="2025-06")
    assert {m.label: m.value for m in at.metric}["Net result for the period"] == f"{expected.result:,.2f}"
    table = html(at)
    for line in expected.lines:
        assert f"{line.total:,.2f}" in table
    assert "2025-06" in table and "Netto-omzet" in table
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    assert "Trial balance" in texts(at) and "Nothing unmapped" in texts(at)


def test_balance_sheet_cash_flow_trial_balance_and_kpis(warehouse):
    at = open_reports(warehouse)
    for view in ("bs", "cf"):
        at.segmented_control(key="report_view").set_value(view).run()
        assert not at.exception
        with db.connect(warehouse) as con:
            expected = reports.statement(con, view, entity=ENTITY, from_month="2024-07", to_month="2025-06")
        shown = html(at)
        for line in expected.lines:
            assert line.name.replace("&", "&amp;") in shown and f"{line.total:,.2f}" in shown
    at.segmented_control(key="report_view").set_value("tb").run()
    with db.connect(warehouse) as con:
        tb = trial_balance.trial_balance(con, ENTITY, "2024-07", "2025-06")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Debit"] == f"{tb.debit_total:,.2f}" == shown["Credit"]
    assert shown["Accounts"] == f"{len(tb.accounts):,}"
    at.segmented_control(key="report_view").set_value("kpi").run()
    assert not at.exception
    with db.connect(warehouse) as con:
        kpi = reports.kpis(con, entity=ENTITY, from_month="2024-07", to_month="2025-06")
    assert {m.label: m.value for m in at.metric}["Net result"] == f"{kpi.values['net_result']['total']:,.2f}"
    assert len(at.get("plotly_chart")) == 3


def test_drill_down_from_a_line_to_accounts_to_ledger_lines(warehouse):
    at = open_reports(warehouse)
    at.selectbox(key="drill_line_pnl").set_value("PL_UNMAPPED").run()
    with db.connect(warehouse) as con:
        found = reports.drilldown(
            con, entity=ENTITY, line="PL_UNMAPPED", from_month="2024-07", to_month="2025-06"
        )
    accounts = at.dataframe[-1].value
    assert list(accounts["Account"]) == [a["code"] for a in found.accounts]
    account = found.accounts[0]["code"]
    at.selectbox(key="drill_account_pnl_PL_UNMAPPED").set_value(account).run()
    with db.connect(warehouse) as con:
        detail = reports.drilldown(
            con, entity=ENTITY, line="PL_UNMAPPED", from_month="2024-07", to_month="2025-06", account=account
        )
    lines = at.dataframe[-1].value
    assert len(lines) == len(detail.ledger_lines) > 0
    assert f"{len(detail.ledger_lines):,} ledger lines of {account}" in texts(at)


def test_the_group_report_flags_the_entity_in_another_currency(warehouse):
    at = open_page("reports")
    at.selectbox(key="report_scope").set_value(0).run()
    assert not at.exception
    page = texts(at)
    assert "One currency" in page and "Demo Inc (USD) not included" in page


def test_an_entity_limited_user_sees_only_their_entity_even_in_the_group(warehouse):
    grant(warehouse, "rita@example.com", "reporting", entities=["Demo Services BV"])
    at = open_page("reports", user="rita@example.com")
    options = at.selectbox(key="report_scope").options
    assert options == ["All entities (group)", "Demo Services BV"]
    at.selectbox(key="report_scope").set_value(0).run()
    with db.connect(warehouse) as con:
        own = reports.statement(
            con, "pnl", entity="Demo Services BV", from_month="2024-07", to_month="2025-06"
        )
    assert {m.label: m.value for m in at.metric}["Net result for the period"] == f"{own.result:,.2f}"


def test_a_viewer_reads_reports_but_cannot_download(warehouse):
    grant(warehouse, "vera@example.com", "viewer")
    at = open_reports(warehouse, user="vera@example.com")
    assert "Net result for the period" in [m.label for m in at.metric]
    assert at.get("download_button") == []


def test_the_excel_download_is_a_statement_workbook_of_the_chosen_scope(warehouse):
    import io

    import openpyxl

    at = open_page("reports")
    prepare = [b for b in at.button if b.label == "Prepare workbook"]
    assert len(prepare) == 1
    prepare[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    downloads = [d for d in at.get("download_button") if d.proto.label == "Download Excel"]
    assert len(downloads) == 1
    # The button's bytes sit in Streamlit's media store; the same service call gives them here.
    from pipeline import app_services as svc
    from pipeline.access import LOCAL_USER

    with db.connect(warehouse) as con:
        org, retail = con.execute(
            "SELECT organisation_id, id FROM entities WHERE name = 'Demo Retail BV'"
        ).fetchone()
    dl = svc.export_workbook(LOCAL_USER, organisation_id=org, entity_id=retail)
    book = openpyxl.load_workbook(io.BytesIO(dl.content))
    assert {"P&L", "Balance Sheet", "Cash Flow"} <= set(book.sheetnames)
    assert dl.file_name.endswith(".xlsx")
