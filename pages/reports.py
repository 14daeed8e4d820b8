"""Reports: P&L, balance sheet, cash flow, trial balance and KPIs, with charts and drill-down."""

import plotly.graph_objects as go
import streamlit as st

from pages import _render as r
from pipeline import app_services as svc

user = r.current_user()
org = r.current_org()
may_export = r.cached("permissions", user, org)["export"]

VIEWS = {
    "pnl": "P&L",
    "bs": "Balance sheet",
    "cf": "Cash flow",
    "tb": "Trial balance",
    "kpi": "KPIs & charts",
}
CHECK_NAMES = {
    "trial_balance": "Trial balance",
    "mapping_total": "Mapping total",
    "net_result": "Net result",
    "balance_sheet": "Balance sheet balances",
    "cash_flow": "Cash flow ties",
    "unmapped": "Nothing unmapped",
    "unbalanced_entries": "Entries balance",
    "currency": "One currency",
    "fiscal_year": "Fiscal years",
    "freshness": "Up to date",
    "data": "Data",
}
KPI_NAMES = {
    "revenue": "Revenue",
    "gross_margin": "Gross margin",
    "gross_margin_pct": "Gross margin %",
    "ebitda": "EBITDA",
    "net_result": "Net result",
    "current_ratio": "Current ratio",
    "working_capital": "Working capital",
    "dso": "DSO (days)",
    "dpo": "DPO (days)",
}

st.title("Reports")
ents = r.cached("my_entities", user, org)
if not ents:
    st.info("No entities yet: import a ledger first.")
    st.stop()

GROUP = 0
scopes = {GROUP: "All entities (group)", **{e["id"]: e["name"] for e in ents}}
row = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
default_scope = list(scopes).index(ents[0]["id"]) if len(ents) else 0
scope = row[0].selectbox(
    "Entity", list(scopes), index=default_scope, format_func=scopes.get, key="report_scope"
)
entity_id = None if scope == GROUP else scope
months = r.cached("report_months", user, org, entity_id)
if not months:
    st.info("No ledger data for this selection yet.")
    st.stop()
start_default = months[max(0, len(months) - 12)]
from_month = row[1].selectbox(
    "From", months, index=months.index(start_default), format_func=r.months_label, key=f"report_from_{scope}"
)
to_month = row[2].selectbox(
    "To", months, index=len(months) - 1, format_func=r.months_label, key=f"report_to_{scope}"
)
by = (
    row[3].segmented_control(
        "Columns", ["month", "quarter", "year"], default="month", format_func=str.capitalize, key="report_by"
    )
    or "month"
)
if to_month < from_month:
    st.error("The period ends before it starts: choose a later To month.")
    st.stop()
view = (
    st.segmented_control("Report", list(VIEWS), format_func=VIEWS.get, default="pnl", key="report_view")
    or "pnl"
)
kwargs = {"organisation_id": org, "entity_id": entity_id, "from_month": from_month, "to_month": to_month}


def validations(checks) -> None:
    failed = [v for v in checks if not v.ok]
    with st.container(horizontal=True):
        for v in checks:
            label = CHECK_NAMES.get(v.name, v.name)
            if v.ok:
                st.badge(label, color="green", icon=":material/check:")
            else:
                st.badge(label, color="red", icon=":material/close:")
    if failed:
        with st.expander(f"{len(failed)} check(s) need attention", icon=":material/warning:"):
            for v in failed:
                st.markdown(f"**{CHECK_NAMES.get(v.name, v.name)}**: {v.message}")


def download(name: str, text: str) -> None:
    if may_export:
        st.download_button("Download CSV", text, file_name=name, mime="text/csv", icon=":material/download:")


def excel_box() -> None:
    """Download the statements as an Excel workbook, or refresh a linked workbook the user has."""
    if not may_export:
        return
    with st.expander("Excel workbook", icon=":material/table_view:"):
        templates = {t["name"]: t for t in svc.workbook_templates(user)}
        choice = st.selectbox("Template", list(templates), key="xlsx_template")
        if st.button("Prepare workbook", key="xlsx_prepare"):
            ok, dl = r.attempt(svc.export_workbook, user, template=choice, **kwargs)
            if ok:
                st.download_button(
                    "Download Excel",
                    dl.content,
                    file_name=dl.file_name,
                    mime=dl.mime,
                    icon=":material/download:",
                )
        upload = st.file_uploader("Refresh a linked workbook", type=["xlsx", "xlsm"], key="xlsx_refresh")
        if upload is not None:
            ok, dl = r.attempt(svc.refresh_workbook, user, upload.getvalue(), upload.name)
            if ok:
                for warning in dl.result.warnings:
                    st.warning(warning)
                st.download_button(
                    "Download refreshed workbook",
                    dl.content,
                    file_name=dl.file_name,
                    mime=dl.mime,
                    icon=":material/download:",
                )


def drill(report) -> None:
    """Line -> accounts -> ledger lines, for one entity of the selection."""
    lines = [ln for ln in report.lines if ln.kind != "formula" and ln.total is not None]
    if not lines:
        return
    st.subheader("Drill down")
    c = st.columns([3, 2, 3])
    labels = {ln.code: f"{ln.name} ({ln.code}) · {r.money(ln.total)}" for ln in lines}
    line = c[0].selectbox(
        "Line",
        list(labels),
        index=None,
        placeholder="Choose a line to see its accounts",
        format_func=labels.get,
        key=f"drill_line_{view}",
    )
    if line is None:
        return
    if entity_id is None:
        names = {e["id"]: e["name"] for e in ents if e["name"] in report.entities}
        who = c[1].selectbox("Entity", list(names), format_func=names.get, key="drill_entity")
    else:
        who = entity_id
    ok, found = r.attempt(r.cached, "drilldown", user, who, line, from_month=from_month, to_month=to_month)
    if not ok:
        return
    if not found.accounts:
        st.caption("No account has an amount on this line in the period.")
        return
    accounts = {a["code"]: a for a in found.accounts}
    st.dataframe(
        [
            {
                "Account": a["code"],
                "Name": a["name"],
                "Movement": r.money(a["movement"]),
                "Balance": r.money(a["balance"]),
                "On this line": r.money(a["amount"]),
            }
            for a in found.accounts
        ],
        hide_index=True,
        width="stretch",
    )
    acc = c[2].selectbox(
        "Ledger lines of account",
        ["", *accounts],
        format_func=lambda a: f"{a} {accounts[a]['name'] or ''}" if a else "Choose an account",
        key=f"drill_account_{view}_{line}",
    )
    if acc:
        ok, detail = r.attempt(
            r.cached, "drilldown", user, who, line, from_month=from_month, to_month=to_month, account=acc
        )
        if ok:
            rows = [
                {
                    "Date": x["date"],
                    "Journal": x["journal"],
                    "Entry": x["entry"],
                    "Description": x["description"],
                    "Amount": r.money(x["amount"]),
                    "Cost centre": x["cost_centre"],
                    "Project": x["project"],
                    "Import run": x["run_id"],
                    "File": x["file_name"],
                    "Source": x["source_ref"],
                }
                for x in detail.ledger_lines
            ]
            st.caption(f"{len(rows):,} ledger lines of {acc} on {found.line_name}")
            st.dataframe(rows, hide_index=True, width="stretch")


def result_chart(report) -> None:
    roles = r.cached("role_lines", user, org, entity_id)
    labels = [p.label for p in report.periods]
    if len(labels) < 2:
        return
    by_code = {ln.code: ln for ln in report.lines}
    result = next((by_code[c] for c in roles["net_result"] if c in by_code), None)
    revenue = [by_code[c] for c in roles["revenue"] if c in by_code]
    fig = go.Figure()
    if revenue:
        fig.add_bar(
            x=labels,
            y=[sum((ln.amounts.get(k) or 0) for ln in revenue) for k in labels],
            name="Revenue",
            marker_color="#8fb8de",
        )
    if result is not None:
        values = [result.amounts.get(k) or 0 for k in labels]
        fig.add_scatter(
            x=labels, y=values, name="Net result", mode="lines+markers", line={"color": "#1a7f37", "width": 3}
        )
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.15},
        yaxis={"tickformat": ",.0f"},
    )
    st.plotly_chart(fig, width="stretch", config={"displayModeBar": False})


if view in ("pnl", "bs", "cf"):
    ok, report = r.attempt(r.cached, "statement", user, view, by=by, **kwargs)
    if not ok:
        st.stop()
    head = st.columns([4, 1], vertical_alignment="bottom")
    head[0].markdown(
        f"**{report.title}** · {report.entity} · structure {report.structure}"
        + (f" · {report.currency}" if report.currency else "")
    )
    validations(report.validations)
    labels = [p.label for p in report.periods]
    total = "Total" if view != "bs" else f"At {labels[-1]}" if labels else "Total"
    st.html(r.statement_html(report.lines, labels, total_label=total))
    if report.result is not None:
        st.metric("Net result for the period", r.money(report.result))
    if view == "pnl" and by != "year":
        result_chart(report)
    with head[1]:
        download(
            f"{view}_{from_month}_{to_month}.csv", svc.statement_csv(user, org, report) if may_export else ""
        )
    drill(report)
elif view == "tb":
    ok, tb = r.attempt(r.cached, "trial_balance", user, **kwargs)
    if not ok:
        st.stop()
    m = st.columns(3)
    m[0].metric("Accounts", f"{len(tb['accounts']):,}")
    m[1].metric("Debit", r.money(tb["debit_total"]))
    m[2].metric("Credit", r.money(tb["credit_total"]))
    if tb["debit_total"] == tb["credit_total"]:
        st.badge("Debits equal credits", color="green", icon=":material/check:")
    else:
        st.badge(
            f"Debits and credits differ by {r.money(tb['debit_total'] - tb['credit_total'])}", color="red"
        )
    st.dataframe(
        r.table_rows(tb["accounts"], ("opening", "debit", "credit", "balance")),
        hide_index=True,
        width="stretch",
        column_config={
            "code": "Account",
            "name": "Name",
            "type": "Class",
            "opening": "Opening",
            "debit": "Debit",
            "credit": "Credit",
            "balance": "Balance",
        },
    )
    if may_export:
        download(
            f"trial_balance_{from_month}_{to_month}.csv",
            svc.rows_csv(
                user, org, ["code", "name", "type", "opening", "debit", "credit", "balance"], tb["accounts"]
            ),
        )
else:
    ok, report = r.attempt(r.cached, "kpis", user, by=by, **kwargs)
    if not ok:
        st.stop()
    totals = {k: report.values[k].get("total") for k in KPI_NAMES}
    cards = st.columns(4)
    for i, key in enumerate(("revenue", "gross_margin_pct", "ebitda", "net_result")):
        value = totals[key]
        text = "n/a" if value is None else (f"{value:,.1f} %" if key.endswith("pct") else r.money(value))
        cards[i].metric(KPI_NAMES[key], text, border=True)
    cards = st.columns(4)
    for i, key in enumerate(("current_ratio", "working_capital", "dso", "dpo")):
        value = totals[key]
        text = "n/a" if value is None else (r.money(value) if key == "working_capital" else f"{value:,.2f}")
        cards[i].metric(KPI_NAMES[key], text, border=True)
    validations(report.validations)
    series = r.cached("chart_series", user, **kwargs)
    charts = st.columns(3)
    with charts[0]:
        fig = go.Figure(
            go.Bar(
                x=series["months"],
                y=series["result"],
                marker_color=["#1a7f37" if (v or 0) >= 0 else "#cf222e" for v in series["result"]],
            )
        )
        fig.update_layout(
            title="Result per month",
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            yaxis={"tickformat": ",.0f"},
        )
        st.plotly_chart(fig, width="stretch", config={"displayModeBar": False})
    with charts[1]:
        fig = go.Figure()
        fig.add_scatter(
            x=series["months"], y=series["revenue"], name="Revenue", line={"color": "#0969da", "width": 3}
        )
        fig.add_scatter(
            x=series["months"],
            y=[-(v or 0) for v in series["costs"]],
            name="Costs",
            line={"color": "#bc4c00", "width": 3},
        )
        fig.update_layout(
            title="Revenue and costs",
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            legend={"orientation": "h"},
            yaxis={"tickformat": ",.0f"},
        )
        st.plotly_chart(fig, width="stretch", config={"displayModeBar": False})
    with charts[2]:
        fig = go.Figure(
            go.Scatter(
                x=series["months"], y=series["cash"], fill="tozeroy", line={"color": "#8250df", "width": 3}
            )
        )
        fig.update_layout(
            title="Cash at month end",
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            yaxis={"tickformat": ",.0f"},
        )
        st.plotly_chart(fig, width="stretch", config={"displayModeBar": False})
    labels = [p.label for p in report.periods]
    st.dataframe(
        [
            {
                "KPI": KPI_NAMES[k],
                **{
                    lab: ("" if report.values[k].get(lab) is None else f"{report.values[k][lab]:,.2f}")
                    for lab in [*labels, "total"]
                },
            }
            for k in KPI_NAMES
        ],
        hide_index=True,
        width="stretch",
    )

excel_box()
