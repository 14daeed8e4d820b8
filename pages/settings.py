"""Settings: the organisation's time zone and import schedule, manual-import rules, users and roles."""

from zoneinfo import available_timezones

import streamlit as st

from pages import _render as r
from pipeline import app_services as svc
from pipeline.access import ROLE_LABELS, ROLES
from pipeline.schedules import parse_interval

user = r.current_user()
org = r.current_org()
perms = r.cached("permissions", user, org)
may_edit = perms["settings.edit"]
orgs = {o["id"]: o for o in r.cached("my_organisations", user)}

st.title("Settings")
st.caption(f"Organisation **{orgs[org]['name']}** · your role: **{ROLE_LABELS.get(orgs[org]['role'], '-')}**")
st.info(svc.auth_mode_text(st.session_state.get(r.AUTH_KEY, False)), icon=":material/shield_person:")

settings = r.cached("organisation_settings", user, org)
schedule_tab, users_tab, feed_tab, log_tab = st.tabs(
    ["Imports", "Users and roles", "Excel feed", "Change log"]
)

with schedule_tab:
    sched = settings["scheduler"]
    (st.success if sched["alive"] else st.warning)(sched["message"], icon=":material/schedule:")
    st.markdown(f"Imports run **{settings['schedule']}**.")
    if settings["next_slots"]:
        st.caption("Next: " + ", ".join(s[:16].replace("T", " ") for s in settings["next_slots"]))
    with st.form("schedule_form", border=True):
        zones = sorted(available_timezones())
        tz = st.selectbox(
            "Time zone",
            zones,
            index=zones.index(settings["timezone"]) if settings["timezone"] in zones else 0,
            disabled=not may_edit,
        )
        mode = st.radio(
            "Schedule",
            ["At fixed times", "Every interval"],
            index=1 if settings["interval_minutes"] else 0,
            horizontal=True,
            disabled=not may_edit,
        )
        c = st.columns(2)
        times = c[0].text_input(
            "Times of day (HH:MM, comma separated)",
            value=", ".join(settings["times"] or ["00:00", "05:00"]),
            disabled=not may_edit,
        )
        interval = c[1].text_input(
            "Interval (e.g. 3h, 90m)",
            value=f"{settings['interval_minutes']}m" if settings["interval_minutes"] else "3h",
            disabled=not may_edit,
        )
        c = st.columns(2)
        cooldown = c[0].number_input(
            "Cooldown after an import before Sync now (minutes)",
            min_value=0,
            max_value=24 * 60,
            value=int(settings["cooldown_minutes"]),
            disabled=not may_edit,
        )
        cap = c[1].number_input(
            "Manual imports per day",
            min_value=0,
            max_value=1000,
            value=int(settings["daily_manual_cap"]),
            disabled=not may_edit,
        )
        if st.form_submit_button("Save", type="primary", disabled=not may_edit):
            saved = True
            if tz != settings["timezone"]:
                saved, _ = r.attempt(svc.set_timezone, user, org, tz)
            if saved:
                rules = {"cooldown_minutes": int(cooldown), "daily_manual_cap": int(cap)}
                if mode == "At fixed times":
                    rules["times"] = times
                else:
                    ok, minutes = r.attempt(parse_interval, interval)
                    if not ok:
                        st.stop()
                    rules["interval_minutes"] = minutes
                saved, _ = r.attempt(svc.set_import_rules, user, org, **rules)
            if saved:
                st.toast("Settings saved.", icon=":material/check:")
                st.rerun()
    paused = not settings["active"]
    if may_edit:
        label = "Resume imports" if paused else "Pause all imports"
        if paused:
            st.warning("The organisation is paused: nothing is imported.", icon=":material/pause_circle:")
        if st.button(label, key="pause_toggle"):
            ok, _ = r.attempt(svc.set_paused, user, org, not paused)
            if ok:
                st.rerun()

with users_tab:
    if not perms["users.manage"]:
        st.info("Only Owners manage users and roles.")
    else:
        st.markdown(
            "**Owner**: everything. **Accountant**: imports, sources, structures, mappings, payroll. "
            "**Reporting**: reports, exports and Sync now. **Viewer**: reads reports and import status."
        )
        people = svc.list_users(user, org)
        if people:
            st.dataframe(
                [
                    {
                        "User": p["login"],
                        "Name": p["name"] or "",
                        "Role": ROLE_LABELS.get(p["role"], p["role"]) + (" (admin)" if p["admin"] else ""),
                        "Entities": "All" if p["entities"] is None else ", ".join(p["entities"]),
                        "Last sign-in": r.relative(p["last_login_at"]) if p["last_login_at"] else "never",
                    }
                    for p in people
                ],
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption("Nobody has a role yet.")
        ents = {e["id"]: e["name"] for e in r.cached("my_entities", user, org)}
        with st.form("role_form"):
            c = st.columns([3, 2])
            login = c[0].text_input("E-mail address")
            role = c[1].selectbox("Role", list(ROLES), format_func=ROLE_LABELS.get, index=3)
            limit = st.multiselect(
                "Only these entities (empty: every entity)", list(ents), format_func=ents.get
            )
            if st.form_submit_button("Save role", type="primary"):
                ok, _ = r.attempt(svc.set_user_role, user, org, login, role, list(limit) or None)
                if ok:
                    st.toast(f"{login}: {ROLE_LABELS[role]}", icon=":material/check:")
                    st.rerun()
        removable = [p["login"] for p in people if not p["admin"]]
        if removable:
            c = st.columns([3, 1], vertical_alignment="bottom")
            gone = c[0].selectbox("Remove the role of", removable, key="remove_role_pick")
            if c[1].button("Remove", key="remove_role"):
                ok, _ = r.attempt(svc.remove_user_role, user, org, gone)
                if ok:
                    st.rerun()

with feed_tab:
    st.markdown(
        "Excel's **Data > Refresh All** reads report-ready rows from the CSV feed with a personal token "
        "(Excel cannot use this sign-in). See *docs/excel.md* for the Power Query steps."
    )
    if not perms["export"]:
        st.info("Your role cannot export numbers, so it has no feed tokens.")
    else:
        with st.form("new_feed_token", clear_on_submit=True):
            label = st.text_input("Label", placeholder="e.g. Monthly pack.xlsx")
            if st.form_submit_button("Create token", icon=":material/key:"):
                ok, token = r.attempt(svc.new_feed_token, user, label or None)
                if ok:
                    st.success("Copy this token now; it is not shown again.", icon=":material/key:")
                    st.code(token, language=None)
        for t in svc.feed_tokens(user):
            cols = st.columns([4, 2, 1], vertical_alignment="center")
            cols[0].markdown(f"**{r.md(t.get('label') or 'token')}** · created {r.md(t.get('created_at'))}")
            cols[1].caption("revoked" if t.get("revoked_at") else "active")
            revoke = not t.get("revoked_at") and cols[2].button("Revoke", key=f"revoke_{t['id']}")
            if revoke and r.attempt(svc.revoke_feed_token, user, t["id"])[0]:
                st.rerun()

with log_tab:
    if not perms["users.manage"]:
        st.info("Only Owners see the change log.")
    else:
        changes = svc.recent_changes(user, org)
        st.dataframe(
            [
                {
                    "When": r.local_time(c["changed_at"], settings["timezone"]),
                    "Who": c["actor"],
                    "What": c["action"],
                    "Object": f"{c['object_type']} {c['object_id'] or ''}",
                    "After": c["after"] or "",
                }
                for c in changes
            ],
            hide_index=True,
            width="stretch",
        )
