"""Ledgerline web app: the router only (page config, sign-in gate, navigation)."""

import streamlit as st

from pages import _render as r
from pipeline import app_services as svc
from pipeline.access import LOCAL_USER, ROLE_LABELS

st.set_page_config(page_title="Ledgerline", page_icon=":material/account_balance:", layout="wide")
r.style()
r.refresh_version()


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: the local single-owner mode
        return False


auth = auth_configured()
st.session_state[r.AUTH_KEY] = auth
if auth:
    if not st.user.is_logged_in:
        st.title("Ledgerline")
        st.write("Financial reporting from your ledgers. Sign in to continue.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
        st.stop()
    if st.user.get("email_verified") is False:
        st.error("Your identity provider has not verified your e-mail address, so it cannot be used here.")
        st.stop()
    login = st.user.get("email") or st.user.get("sub")
    if st.session_state.get("ledgerline_login") != login:
        st.session_state[r.USER_KEY] = svc.sign_in(login, st.user.get("name"))
        st.session_state["ledgerline_login"] = login
else:
    st.session_state[r.USER_KEY] = LOCAL_USER
user = st.session_state[r.USER_KEY]

orgs = r.cached("my_organisations", user) or r.cached("first_organisation", user)
with st.sidebar:
    if len(orgs) > 1:
        names = {o["id"]: o["name"] for o in orgs}
        chosen = st.selectbox("Organisation", list(names), format_func=names.get, key="ledgerline_org_pick")
    else:
        chosen = orgs[0]["id"] if orgs else None
    st.session_state[r.ORG_KEY] = chosen
    role = next((o["role"] for o in orgs if o["id"] == chosen), None)
    st.caption(f":material/person: **{user.label}** · {ROLE_LABELS.get(role, 'no role')}")
    if auth:
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, type="tertiary")
    else:
        st.caption(":material/laptop: Local single-owner mode: no sign-in is configured.")

if not orgs:
    st.title("No access yet")
    st.info(f"{user.label} has no role in any organisation. Ask an Owner to add you in Settings.")
    st.stop()

allowed = r.cached("permissions", user, chosen)
unmapped = r.cached("unmapped_badge", user) if allowed["mapping.edit"] else 0
data = [
    st.Page(
        "pages/entities.py", title="Entities", icon=":material/domain:", url_path="entities", default=True
    ),
    st.Page("pages/sources.py", title="Sources", icon=":material/cable:", url_path="sources"),
]
if allowed["upload"]:
    data.append(st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:", url_path="upload"))
setup = []
if allowed["structure.edit"] or allowed["mapping.edit"]:
    setup = [
        st.Page(
            "pages/structure.py", title="Structure", icon=":material/account_tree:", url_path="structure"
        ),
        st.Page(
            "pages/mapping.py",
            title=f"Mapping · {unmapped:,} unmapped" if unmapped else "Mapping",
            icon=":material/rule:",
            url_path="mapping",
        ),
    ]
finance = [st.Page("pages/reports.py", title="Reports", icon=":material/monitoring:", url_path="reports")]
if allowed["payroll.view"]:
    finance.append(
        st.Page("pages/payroll.py", title="Payroll", icon=":material/payments:", url_path="payroll")
    )
    setup.append(
        st.Page(
            "pages/payroll_admin.py", title="Payroll setup", icon=":material/badge:", url_path="payroll-admin"
        )
    )
sections = {
    "Data": data,
    "Setup": setup,
    "Finance": finance,
    "Admin": [
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:", url_path="settings")
    ],
}
st.navigation({k: v for k, v in sections.items() if v}).run()
