"""Setup > Payroll: connect Nmbrs (REST sign-in and SOAP token), upload payroll files, and map every
wage component onto a statement and a GL account. Nothing is saved until Save changes."""

import streamlit as st

from pages import _render as r
from pipeline import payroll

user = r.current_user()
org = r.current_org()
STATEMENT_LABELS = {"pnl": "P&L", "bs": "Balance sheet"}
SIGN_LABELS = {1: "+1 debit", -1: "-1 credit"}

st.title("Payroll")

# Nmbrs redirects here after the REST sign-in, with ?code=...&state=...
params = st.query_params
if "state" in params and ("code" in params or "error" in params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    ok, result = r.attempt(payroll.complete_signin, None, user, f"{st.context.url or ''}?{query}")
    st.query_params.clear()
    if ok:
        (st.success if result["ok"] else st.warning)(
            result["message"] or "Signed in at Nmbrs; both APIs work.", icon=":material/link:"
        )


def here() -> str:
    return (st.context.url or "http://localhost:8501/payroll-admin").split("?", 1)[0]


# ---------------------------------------------------------------- connection

st.subheader("Nmbrs connection")
ok, connections = r.attempt(payroll.payroll_sources, None, user, org)
if ok and not connections:
    st.info(
        "No Nmbrs source yet: add one on the Sources page (Payroll tab). Its status stays "
        "'Requires attention' until both the REST sign-in and the SOAP token work.",
        icon=":material/cable:",
    )
for source in connections or []:
    with st.container(border=True):
        top = st.columns([4, 2], vertical_alignment="center")
        top[0].markdown(f"**{r.md(source['name'])}**")
        with top[1]:
            r.source_badge(source["status"])
        if source["status_message"]:
            (st.error if source["status"] == "failed" else st.caption)(source["status_message"])
        cols = st.columns(2)
        with cols[0]:
            st.markdown("**1. REST API** (sign in at Nmbrs)")
            st.caption("Signed in." if source["rest_signed_in"] else "Not signed in yet.")
            ok, url = r.attempt(payroll.connect_url, None, user, source["id"], redirect_uri=here())
            if ok:
                st.link_button("Sign in at Nmbrs", url, icon=":material/login:")
        with cols[1]:
            st.markdown("**2. SOAP API** (an API token you create in Nmbrs)")
            st.caption(
                "Use the same e-mail address for the token as for the sign-in. The API user needs: "
                + ", ".join(payroll.nmbrs_permissions())
            )
            if source["soap_connected"]:
                st.caption(f"Connected as {r.md(source['soap_username'])}.")
            with st.form(f"soap_{source['id']}", border=False):
                email = st.text_input("E-mail address", value=source["soap_username"] or "")
                token = st.text_input("API token", type="password")
                if st.form_submit_button("Connect SOAP API", type="primary"):
                    ok, result = r.attempt(payroll.connect_soap, None, user, source["id"], email, token)
                    if ok:
                        (st.success if result["ok"] else st.warning)(result["message"] or "Both APIs work.")
        if st.button("Test connection", key=f"test_{source['id']}", icon=":material/network_check:"):
            ok, result = r.attempt(payroll.check_connection, None, user, source["id"])
            if ok:
                (st.success if result["ok"] else st.warning)(result["message"] or "Both APIs work.")

# ---------------------------------------------------------------- payroll files

with st.expander("Upload a payroll auditfile (XAS)"):
    upload = st.file_uploader("Auditfile Salaris (XAS 7)", type=["xas", "xml"])
    name = st.text_input("Payroll entity", placeholder="e.g. Metaal en Techniek payroll")
    if upload is not None and name and st.button("Import", type="primary"):
        with st.spinner("Importing..."):
            ok, run = r.attempt(
                payroll.import_xas_upload,
                None,
                user,
                upload.name,
                upload.getvalue(),
                name,
                organisation_id=org,
            )
        if ok and run.status == "succeeded":
            st.success(f"Imported into {run.entity}: {run.inserted} new, {run.updated} changed lines.")
            for p in run.problems:
                st.warning(p.message)
        elif ok:
            st.error(run.error_message)

# ---------------------------------------------------------------- mapping

st.subheader("Wage-component mapping")
ok, entities = r.attempt(payroll.payroll_entities, None, user, org)
if not ok or not entities:
    st.info("No payroll imported yet.")
    st.stop()
labels = {e["id"]: f"{e['company'] or e['name']} ({e['unmapped']} unmapped)" for e in entities}
entity = st.selectbox("Payroll company", list(labels), format_func=labels.get)
ok, view = r.attempt(payroll.mapping, None, user, entity)
if not ok:
    st.stop()

ok, ledgers = r.attempt(payroll.gl_entities, None, user, org)
ledger_names = {g["id"]: g["name"] for g in ledgers or []}
current = view.entity["gl_entity_id"]
choice = st.selectbox(
    "Booked in ledger (GL entity)",
    [None, *ledger_names],
    index=([None, *ledger_names].index(current) if current in ledger_names else 0),
    format_func=lambda i: "Choose the ledger" if i is None else ledger_names[i],
)
if (
    choice != current
    and st.button("Use this ledger")
    and r.attempt(payroll.set_gl_entity, None, user, entity, choice)[0]
):
    st.rerun()

draft_key, version_key = f"payroll_draft_{entity}", f"payroll_draft_version_{entity}"
saved = view.editor_rows()
draft = st.session_state.setdefault(draft_key, saved)
version = st.session_state.setdefault(version_key, 0)
names = {c["component_code"]: c["component_name"] or "" for c in view.components}
amounts = {c["component_code"]: c["amount"] for c in view.components}
accounts = {a["code"]: f"{a['code']} · {a['name'] or ''}" for a in view.accounts}

if view.incomplete:
    st.warning(
        f"{len(view.incomplete)} components have amounts but no account yet, so their values are not shown: "
        + ", ".join(
            f"{c['component_code']} {r.md(c['component_name'] or '')} ({r.money(c['amount'])})"
            for c in view.incomplete[:10]
        )
        + (" ..." if len(view.incomplete) > 10 else ""),
        icon=":material/rule:",
    )

edited = st.data_editor(
    [
        {
            "Component": f"{d['component_code']} · {names.get(d['component_code'], '')}",
            "Amount": r.money(amounts.get(d["component_code"])),
            "Statement": STATEMENT_LABELS.get(d["statement"] or ""),
            "Account": accounts.get(d["account_code"] or "", d["account_code"]),
            "Sign": SIGN_LABELS.get(d["sign"]) if d["sign"] is not None else None,
            "Hidden": d["hidden"],
        }
        for d in draft
    ],
    column_config={
        "Component": st.column_config.TextColumn(disabled=True, width="medium"),
        "Amount": st.column_config.TextColumn(disabled=True, width="small"),
        "Statement": st.column_config.SelectboxColumn(options=list(STATEMENT_LABELS.values())),
        "Account": st.column_config.SelectboxColumn(options=list(accounts.values()), width="large"),
        "Sign": st.column_config.SelectboxColumn(
            options=list(SIGN_LABELS.values()), help="Empty: +1 on the P&L, -1 on the balance sheet"
        ),
        "Hidden": st.column_config.CheckboxColumn(
            help="Hide a component (e.g. a total): no values, not listed as unmapped"
        ),
    },
    hide_index=True,
    num_rows="fixed",
    key=f"editor_{entity}_{version}",
)
by_label = {v: k for k, v in accounts.items()}
statement_of = {v: k for k, v in STATEMENT_LABELS.items()}
sign_of = {v: k for k, v in SIGN_LABELS.items()}
new_draft = []
for base, row in zip(draft, edited, strict=True):
    new_draft.append(
        {
            "component_code": base["component_code"],
            "statement": statement_of.get(row["Statement"]),
            "account_code": by_label.get(row["Account"], row["Account"] or None),
            "sign": sign_of.get(row["Sign"]),
            "hidden": bool(row["Hidden"]),
        }
    )
for code in {d["component_code"] for d in new_draft if d["hidden"]}:
    if any(not d["hidden"] for d in new_draft if d["component_code"] == code):
        new_draft = payroll.hide_component(new_draft, code)
st.session_state[draft_key] = new_draft

actions = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
row_labels = {
    i: f"Row {i + 1}: {d['component_code']} · {names.get(d['component_code'], '')}"
    for i, d in enumerate(new_draft)
}
target = actions[0].selectbox("Row", list(row_labels), format_func=row_labels.get)
if actions[1].button("Duplicate row", help="When one component goes to both the P&L and the balance sheet"):
    ok, rows = r.attempt(payroll.duplicate_row, new_draft, target)
    if ok:
        st.session_state[draft_key] = rows
        st.session_state[version_key] = version + 1
        st.rerun()
changes = payroll.mapping_changes(saved, new_draft)
if actions[2].button("Discard", disabled=not changes):
    st.session_state[draft_key] = saved
    st.session_state[version_key] = version + 1
    st.rerun()
if actions[3].button("Save changes", type="primary", disabled=not changes):
    ok, after = r.attempt(payroll.save_mapping, None, user, entity, new_draft)
    if ok:
        st.session_state[draft_key] = after.editor_rows()
        st.session_state[version_key] = version + 1
        st.toast("Mapping saved.", icon=":material/check:")
        st.rerun()

if changes:
    st.warning(
        "Unsaved changes (press Save changes): " + "; ".join(r.md(c) for c in changes), icon=":material/edit:"
    )
    # Leaving or reloading the page with unsaved changes asks the browser to confirm first (a
    # constant script of ours, nothing from the data).
    st.html(
        "<script>window.onbeforeunload = (e) => { e.preventDefault(); e.returnValue = ''; return ''; };</script>",
        unsafe_allow_javascript=True,
    )
else:
    st.html("<script>window.onbeforeunload = null;</script>", unsafe_allow_javascript=True)
