"""Sources: the connectors, adding a source, its status, its entities, Start import, disconnecting."""

import streamlit as st

from pages import _render as r
from pipeline import app_services as svc

user = r.current_user()
org = r.current_org()
perms = r.cached("permissions", user, org)
may_edit = perms["sources.edit"]

CAPABILITIES = (
    ("transactions", "Ledger lines"),
    ("accounts", "Chart of accounts"),
    ("dimensions", "Cost centres and projects"),
    ("opening_balances", "Opening balances"),
    ("incremental", "Only changes since the last import"),
    ("deletions", "Detects deleted lines"),
    ("multi_entity", "Several companies per connection"),
    ("payroll", "Payroll"),
)

st.title("Sources")
st.caption(
    "Connect your accounting software or upload its exports. Imports run on the organisation's schedule; "
    "Start import fetches fresh data now (a daily maximum of manual imports applies)."
)

# The vendor redirects here after signing in, with ?code=...&state=...
params = st.query_params
if "state" in params and ("code" in params or "error" in params):
    ok, result = r.attempt(
        svc.complete_oauth,
        user,
        state=params.get("state"),
        code=params.get("code"),
        error=params.get("error"),
    )
    st.query_params.clear()
    if ok:
        st.success(
            f"Signed in: {result['name']} is connected. Choose its entities below.", icon=":material/link:"
        )


def redirect_url() -> str:
    url = st.context.url or ""
    return url.split("?", 1)[0] or "http://localhost:8501/sources"


def capability_list(caps: dict) -> None:
    lines = [
        f":green[:material/check:] {text}" if caps.get(key) else f":gray[:material/close: {text}]"
        for key, text in CAPABILITIES
    ]
    st.markdown("  \n".join(lines))
    for note in caps.get("notes") or ():
        st.caption(note)


def settings_form(connector: dict, key: str, *, reconnect: bool = False) -> dict | None:
    """The connector's setup fields; returns the values when submitted."""
    with st.form(key, border=False):
        name = None if reconnect else st.text_input("Name", value=connector["label"], key=f"{key}_name")
        values = {}
        for field in connector["fields"]:
            if (
                reconnect
                and not field.get("secret")
                and connector["oauth"] is False
                and field["key"] != "token_name"
            ):
                continue
            label = field["label"]
            if field.get("choices"):
                choices = list(field["choices"])
                default = field.get("default")
                values[field["key"]] = st.selectbox(
                    label,
                    choices,
                    index=choices.index(default) if default in choices else 0,
                    key=f"{key}_{field['key']}",
                )
            elif field["key"] == "redirect_uri":
                values[field["key"]] = st.text_input(label, value=redirect_url(), key=f"{key}_{field['key']}")
            else:
                values[field["key"]] = st.text_input(
                    label,
                    type="password" if field.get("secret") else "default",
                    placeholder=field.get("example", ""),
                    key=f"{key}_{field['key']}",
                )
        if not reconnect:
            with st.expander("Advanced"):
                values["base_url"] = st.text_input(
                    "API address (only for a sandbox or a proxy)",
                    key=f"{key}_base_url",
                    placeholder="https://...",
                )
        label = (
            "Reconnect"
            if reconnect
            else ("Add and sign in" if connector["oauth"] else "Add and test connection")
        )
        if st.form_submit_button(label, type="primary"):
            if name is not None:
                values["__name__"] = name
            return {k: v for k, v in values.items() if v not in (None, "")}
    return None


def choose_entities(source: dict) -> None:
    """Load what the credentials can see, then pick the entities to import."""
    cache_key = f"available_{source['id']}"
    if st.button(
        "Load the companies this connection can see", key=f"load_{source['id']}", icon=":material/refresh:"
    ):
        ok, found = r.attempt(svc.available_entities, user, source["id"])
        if ok:
            st.session_state[cache_key] = found
    found = st.session_state.get(cache_key)
    if found is None:
        return
    if not found:
        st.warning("The connection sees no company. Check the user's permissions in the accounting software.")
        return
    labels = {
        e["external_id"]: f"{e['name'] or e['external_id']} ({e['external_id']}, {e['currency'] or '?'})"
        for e in found
    }
    chosen = st.multiselect(
        "Entities to import",
        list(labels),
        default=[e["external_id"] for e in found if e["selected"]],
        format_func=labels.get,
        key=f"pick_{source['id']}",
    )
    if st.button("Save selection", key=f"save_pick_{source['id']}", type="primary"):
        ok, _ = r.attempt(svc.select_entities, user, source["id"], chosen)
        if ok:
            st.session_state.pop(cache_key, None)
            st.success(f"{len(chosen)} entities will be imported.")
            st.rerun()


@st.dialog("Source import history", width="large")
def source_history(source: dict) -> None:
    runs = svc.source_runs(user, source["id"])
    if not runs:
        st.info("No imports yet.")
        return
    st.dataframe(
        [
            {
                "Run": run["id"],
                "Entity": run["entity"],
                "Status": r.STATUS.get(run["status"], r.STATUS[None])[0],
                "Trigger": r.TRIGGERS.get(run["trigger"], run["trigger"]),
                "Finished": r.local_time(run["finished_at"]),
                "Inserted": run["inserted"],
                "Updated": run["updated"],
                "Deleted": run["deleted"],
                "API calls": run["api_calls"],
                "Error": run["error_message"] or "",
            }
            for run in runs
        ],
        hide_index=True,
    )


def source_card(source: dict, catalog: dict) -> None:
    connector = catalog.get(source["connector"], {})
    with st.container(border=True, key=f"source_card_{source['id']}"):
        head = st.columns([4, 2], vertical_alignment="center")
        beta = " :orange-badge[Beta]" if connector.get("beta") else ""
        head[0].markdown(f"#### {source['name']}{beta}")
        head[0].caption(
            f"{source['label']} · {source['organisation']} · {source['entities_selected']} entities selected"
        )
        with head[1]:
            r.source_badge(source["status"])
        last = source.get("last_run")
        if last:
            st.caption(
                f"Last import {r.relative(last['finished_at'])}: {r.STATUS.get(last['status'], r.STATUS[None])[0]}"
            )
        if source["status"] == "failed":
            st.error(source["status_message"] or "The connection failed.", icon=":material/link_off:")
        elif source["status"] == "attention":
            st.warning(source["status_message"] or "The setup is not finished.", icon=":material/warning:")
        elif source["status"] == "disconnected":
            st.info(
                "Disconnected: its data stays, read-only; nothing is imported any more.",
                icon=":material/link_off:",
            )
        days = source.get("refresh_token_days_left")
        if days is not None and source["status"] != "disconnected":
            if days < 14:
                st.warning(
                    f"The sign-in at {source['label']} expires in {max(days, 0):.0f} days: sign in again "
                    "(Reconnect) before then, or imports stop.",
                    icon=":material/key:",
                )
            else:
                st.caption(f"Sign-in valid for another {days:.0f} days.")
        actions = st.columns(4)
        if (
            source["status"] == "available"
            and perms["sync"]
            and actions[0].button(
                "Start import", key=f"start_{source['id']}", icon=":material/play_arrow:", type="primary"
            )
        ):
            ok, results = r.attempt(svc.start_import, user, source["id"])
            if ok:
                for item in results:
                    if item["ok"]:
                        st.toast(f"{item['entity']}: queued", icon=":material/schedule:")
                    else:
                        st.warning(f"{item['entity']}: {item['message']}")
        if actions[3].button("History", key=f"shist_{source['id']}", icon=":material/history:"):
            source_history(source)
        if not may_edit:
            return
        if source["status"] == "disconnected":
            if perms["sources.delete_data"]:
                with st.expander("Delete its data"):
                    st.write(
                        "Deletes every ledger line this source imported. The entities and their history stay, empty."
                    )
                    typed = st.text_input("Type the source's name to confirm", key=f"confirm_{source['id']}")
                    if st.button(
                        "Delete data",
                        key=f"del_{source['id']}",
                        type="primary",
                        disabled=typed != source["name"],
                    ):
                        ok, counts = r.attempt(svc.delete_source_data, user, source["id"], typed)
                        if ok:
                            st.success(f"Deleted {counts.get('transactions', 0):,} ledger lines.")
            with st.expander("Reconnect"):
                reconnect(source, connector)
            return
        if source["status"] in ("failed", "attention"):
            label = "Reconnect" if source["status"] == "failed" else "Resume setup"
            with st.expander(label, expanded=source["status"] == "attention"):
                if (
                    source["status"] == "attention"
                    and source["has_credentials"]
                    and not source["oauth"]
                    and st.button("Test the connection", key=f"test_{source['id']}")
                ):
                    ok, check = r.attempt(svc.check_connection, user, source["id"])
                    if ok:
                        (st.success if check["ok"] else st.error)(check["message"] or "The connection works.")
                reconnect(source, connector)
                if source["status"] == "attention":
                    choose_entities(source)
        else:
            with st.expander("Entities"):
                choose_entities(source)
            with st.expander("Reconnect (new credentials or sign in again)"):
                reconnect(source, connector)
        with st.popover("Disconnect", icon=":material/link_off:"):
            st.write(
                "Disconnecting stops all imports and removes the stored credentials. "
                "The imported data stays, read-only; deleting it is a separate step."
            )
            if st.button("Disconnect", key=f"disc_{source['id']}", type="primary"):
                ok, _ = r.attempt(svc.disconnect, user, source["id"])
                if ok:
                    st.rerun()


def reconnect(source: dict, connector: dict) -> None:
    if source["oauth"]:
        if st.button(f"Sign in at {source['label']}", key=f"signin_{source['id']}", icon=":material/login:"):
            ok, url = r.attempt(svc.connect_url, user, source["id"], redirect_url())
            if ok:
                st.link_button(f"Continue to {source['label']}", url, type="primary")
        return
    if not connector.get("fields"):
        return
    values = settings_form(connector, f"reconnect_{source['id']}", reconnect=True)
    if values:
        ok, updated = r.attempt(svc.update_credentials, user, source["id"], values)
        if ok:
            r.source_badge(updated["status"])
            if updated["status"] == "failed":
                st.error(updated["status_message"])
            else:
                st.success("Reconnected.")
                st.rerun()


catalog_rows = r.cached("connector_catalog", user)
catalog = {c["name"]: c for c in catalog_rows}
tab_names = ["Connected", "Add source", "Available connectors"]
if perms["payroll.view"]:
    tab_names.append("Payroll")
tabs = st.tabs(tab_names)
connected, add_tab, available = tabs[:3]

if perms["payroll.view"]:
    with tabs[3]:
        st.markdown(
            "Payroll comes from **Nmbrs** (its REST API for the sign-in and its SOAP API for the payroll "
            "data: sign in to both with the **same e-mail address**) or from an **XAS payroll auditfile**."
        )
        ok, payroll_sources = r.attempt(svc.payroll_sources, user, org)
        for src in payroll_sources if ok else []:
            with st.container(border=True):
                cols = st.columns([4, 2], vertical_alignment="center")
                cols[0].markdown(f"**{r.md(src['name'])}**")
                cols[0].caption(
                    "SOAP connected as " + r.md(src["soap_username"])
                    if src.get("soap_connected")
                    else "SOAP API not connected yet: the connection is not Active until both APIs work."
                )
                with cols[1]:
                    r.source_badge(src["status"])
        if ok and not payroll_sources:
            st.info("No payroll source connected yet.")
        st.page_link(
            "pages/payroll_admin.py",
            label="Connect Nmbrs, import an XAS file and map wage components",
            icon=":material/badge:",
        )

with connected:
    listed = r.cached("list_sources", user, org)
    if not listed:
        st.info("No accounting software connected yet. Use Add source, or upload a ledger file.")
    for source in listed:
        source_card(source, catalog)
    others = r.cached("other_sources", user, org)
    if others:
        st.subheader("Files and generated data")
        for other in others:
            with st.container(border=True):
                cols = st.columns([4, 2], vertical_alignment="center")
                cols[0].markdown(f"**{other['name']}**")
                cols[0].caption(
                    f"{other['label']} · {other['entities']} entities · last import {r.relative(other['last_success_at'])}"
                )
                with cols[1], st.container(horizontal=True, horizontal_alignment="right"):
                    if other["file_based"]:
                        if perms["upload"] and st.button(
                            "Upload a file", key=f"up_{other['id']}", icon=":material/upload_file:"
                        ):
                            st.switch_page("pages/upload.py")
                    else:
                        r.source_badge(other["status"])
                        if perms["sync"] and st.button(
                            "Start import",
                            key=f"start_{other['id']}",
                            icon=":material/play_arrow:",
                            type="primary",
                        ):
                            ok, results = r.attempt(svc.start_import, user, other["id"])
                            if ok:
                                for item in results:
                                    if item["ok"]:
                                        st.toast(f"{item['entity']}: queued", icon=":material/schedule:")
                                    else:
                                        st.warning(f"{item['entity']}: {item['message']}")

with add_tab:
    if not may_edit:
        st.info("Only Owners and Accountants add sources.")
    else:
        api = [c for c in catalog_rows if c["kind"] == "api"]
        names = [c["name"] for c in api]
        picked = st.selectbox(
            "Accounting software",
            names,
            format_func=lambda n: catalog[n]["label"] + (" (beta)" if catalog[n]["beta"] else ""),
            key="add_connector",
        )
        connector = catalog[picked]
        if connector["beta"]:
            st.warning(
                "Beta: this connector is still being refined; some data may be missing.",
                icon=":material/science:",
            )
        st.caption(
            "Sign in at the vendor after adding; you come back here to choose the companies."
            if connector["oauth"]
            else "Fill in the token from the vendor's admin screen; the connection is tested at once."
        )
        values = settings_form(connector, f"add_{picked}")
        if values:
            name = values.pop("__name__", connector["label"])
            if connector["oauth"]:
                ok, added = r.attempt(svc.add_source, user, picked, name, values, org)
                if ok:
                    ok, url = r.attempt(
                        svc.connect_url, user, added["id"], values.get("redirect_uri") or redirect_url()
                    )
                    if ok:
                        st.success(f"{name} added. Sign in to finish connecting.")
                        st.link_button(
                            f"Sign in at {connector['label']}", url, type="primary", icon=":material/login:"
                        )
            else:
                ok, result = r.attempt(svc.connect_token_source, user, picked, name, values, org)
                if ok:
                    check = result["check"]
                    if check["ok"]:
                        st.success(
                            f"Connected: {len(check['entities'])} companies visible. Choose which to import on the Connected tab."
                        )
                    else:
                        st.warning(
                            check["message"] or "The setup is not finished; resume it on the Connected tab."
                        )

with available:
    cols = st.columns(3)
    for i, c in enumerate(catalog_rows):
        with cols[i % 3], st.container(border=True):
            beta = " :orange-badge[Beta]" if c["beta"] else ""
            kind = (
                "Connection (sign-in)"
                if c["oauth"]
                else "Connection (token)"
                if c["kind"] == "api"
                else "File upload"
            )
            st.markdown(f"**{c['label']}**{beta}")
            st.caption(kind)
            capability_list(c["capabilities"])
            if c["kind"] == "file":
                if perms["upload"] and st.button(
                    "Upload a file", key=f"cat_up_{c['name']}", icon=":material/upload_file:"
                ):
                    st.switch_page("pages/upload.py")
            elif may_edit:
                st.button(
                    "Add this source",
                    key=f"cat_add_{c['name']}",
                    icon=":material/add_link:",
                    on_click=st.session_state.update,
                    kwargs={"add_connector": c["name"]},
                    help="Chooses it on the Add source tab.",
                )
