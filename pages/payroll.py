"""Finance > Payroll: company costs per month, per company and in total; export; reconciliation."""

from datetime import date

import plotly.graph_objects as go
import streamlit as st

from pages import _render as r
from pipeline import payroll

user = r.current_user()
org = r.current_org()


def month_text(m: date) -> str:
    return m.strftime("%b %Y")


head = st.columns([3, 1, 1], vertical_alignment="bottom")
head[0].title("Payroll")
ok, companies = r.attempt(payroll.payroll_entities, None, user, org)
if not ok:
    st.stop()
if not companies:
    st.info(
        "No payroll yet. Connect Nmbrs on the Sources page (Payroll tab), or upload a payroll auditfile "
        "(XAS) on Setup > Payroll.",
        icon=":material/payments:",
    )
    st.stop()

names = {c["id"]: c["company"] or c["name"] for c in companies}
filters = st.columns([2, 1, 1])
chosen = filters[0].multiselect("Companies", list(names), default=list(names), format_func=names.get)
start = filters[1].text_input("From month", placeholder="YYYY-MM")
end = filters[2].text_input("To month", placeholder="YYYY-MM")
scope = {"from_month": start or None, "to_month": end or None, "entity_ids": chosen}

ok, rows = r.attempt(payroll.export_rows, None, user, org, **scope)
if ok:
    head[1].download_button(
        "CSV",
        payroll.export_csv(rows),
        "payroll.csv",
        "text/csv",
        icon=":material/download:",
        width="stretch",
    )
    head[2].download_button(
        "Excel",
        payroll.export_xlsx(rows),
        "payroll.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        width="stretch",
    )
    st.caption(
        "Exports are a flat data table (company, period, component, account, amount) for pivot tables."
    )

ok, view = r.attempt(payroll.overview, None, user, org, **scope)
if not ok:
    st.stop()

costs_tab, recon_tab = st.tabs(["Company costs", "Reconciliation with the ledger"])

with costs_tab:
    if view.unmapped:
        listed = ", ".join(
            r.md(f"{u['company']} {u['component_code']} {u['component_name']}") + f" ({r.money(u['amount'])})"
            for u in view.unmapped[:8]
        )
        more = f" and {len(view.unmapped) - 8} more" if len(view.unmapped) > 8 else ""
        st.warning(
            f"{len(view.unmapped)} wage components are not mapped yet, so their values are not shown: {listed}{more}. "
            "Map or hide them on Setup > Payroll.",
            icon=":material/rule:",
        )
    if not view.months:
        st.info("No mapped payroll costs in this range.")
    else:
        figure = go.Figure()
        for company in view.companies:
            per_month = view.company_costs(company["entity_id"])
            figure.add_bar(
                name=company["company"],
                x=[month_text(m) for m in view.months],
                y=[float(v) for v in per_month.values()],  # plotly draws floats; the tables show the decimals
            )
        figure.update_layout(
            barmode="stack", height=360, margin={"t": 20, "b": 20}, yaxis_title="Company costs"
        )
        st.plotly_chart(figure, width="stretch")

        labels = [month_text(m) for m in view.months]
        table = [
            {
                "Company": c["company"],
                **dict(zip(labels, map(r.money, view.company_costs(c["entity_id"]).values()), strict=True)),
                "Total": r.money(view.total(c["entity_id"])),
            }
            for c in view.companies
        ]
        table.append(
            {
                "Company": "Total",
                **dict(zip(labels, map(r.money, view.company_costs().values()), strict=True)),
                "Total": r.money(view.total()),
            }
        )
        st.dataframe(table, hide_index=True, column_config=r.money_columns([*labels, "Total"]))

        for company in view.companies:
            with st.expander(f"{company['company']}: company costs per component"):
                for statement, title in (("pnl", "P&L"), ("bs", "Balance sheet (payable)")):
                    parts = view.components(company["entity_id"], statement)
                    if not parts:
                        continue
                    st.markdown(f"**{title}**")
                    st.dataframe(
                        [
                            {
                                "Component": f"{p['component_code']} · {p['component_name']}",
                                "Account": f"{p['account_code']} {p['account_name'] or ''}".strip(),
                                **dict(zip(labels, map(r.money, p["months"].values()), strict=True)),
                                "Total": r.money(p["total"]),
                            }
                            for p in parts
                        ],
                        hide_index=True,
                        column_config=r.money_columns([*labels, "Total"]),
                    )


with recon_tab:
    st.caption(
        "Mapped payroll costs per GL account and month against the ledger's postings on that account. "
        "Balance-sheet accounts compare only payroll's side (the credits of a payable): they also carry the payments."
    )
    tolerance = st.number_input("Flag differences above", min_value=0.0, value=0.0, step=1.0, format="%.2f")
    ok, result = r.attempt(payroll.reconcile, None, user, org, tolerance=f"{tolerance:.2f}", **scope)
    if ok:
        if not result.rows:
            st.info(
                "Nothing to reconcile: link the payroll to its ledger and map its components on Setup > Payroll."
            )
        else:
            found = len(result.differences)
            if found:
                st.error(f"{found} difference(s) between payroll and the ledger.", icon=":material/error:")
            else:
                st.success(
                    "Payroll and the ledger agree on every mapped account and month.",
                    icon=":material/check_circle:",
                )
            only = st.toggle("Only differences", value=bool(found))
            st.dataframe(
                [
                    {
                        "Ledger": x["gl_entity"],
                        "Account": f"{x['account_code']} {x['account_name'] or ''}".strip(),
                        "Month": month_text(x["month"]),
                        "Payroll": r.money(x["payroll_amount"]),
                        "Ledger amount": r.money(x["gl_amount"]),
                        "Difference": r.money(x["difference"]),
                        "": "⚠ difference" if x["flagged"] else "✓",
                    }
                    for x in result.rows
                    if x["flagged"] or not only
                ],
                hide_index=True,
                column_config=r.money_columns(["Payroll", "Ledger amount", "Difference"]),
            )
