"""Entities: one card per entity with its latest import, live while a run progresses."""

import streamlit as st

from pages import _render as r
from pipeline import app_services as svc

user = r.current_user()
org = r.current_org()

st.title("Entities")
st.caption(
    "Each entity imports on its own. The card shows its latest import; it updates by itself while "
    "an import waits or runs."
)

sched = r.cached("scheduler_state", user)
if not sched["alive"]:
    st.warning(sched["message"], icon=":material/pause_circle:")

left, right = st.columns([2, 3], vertical_alignment="bottom")
search = left.text_input("Search", placeholder="Entity or source name", key="entities_search")
filters = {
    "All": None,
    "Failed": "failed",
    "In progress": "running",
    "Waiting": "waiting",
    "Succeeded": "succeeded",
}
picked = right.segmented_control("Status", list(filters), default="All", key="entities_status")
status = filters.get(picked or "All")


@st.dialog("Import history", width="large")
def history(entity_id: int, name: str) -> None:
    st.subheader(name)
    runs = svc.entity_history(user, entity_id, limit=25)
    if not runs:
        st.info("No imports yet.")
        return
    st.dataframe(
        [
            {
                "Run": run["id"],
                "Status": r.STATUS.get(run["status"], r.STATUS[None])[0],
                "Trigger": r.TRIGGERS.get(run["trigger"], run["trigger"]),
                "Started": r.local_time(run["started_at"] or run["queued_at"]),
                "Duration": r.duration(run["seconds"]),
                "Inserted": run["inserted"],
                "Updated": run["updated"],
                "Deleted": run["deleted"],
                "Problems": run["problem_count"],
                "File": run["file_name"] or "",
                "Error": run["error_message"] or "",
            }
            for run in runs
        ],
        hide_index=True,
        width="stretch",
    )
    with_problems = [run for run in runs if run["problem_count"]]
    if with_problems:
        run = with_problems[0]
        st.caption(f"Problems found by run {run['id']}")
        st.dataframe(svc.run_problems(user, run["id"]), hide_index=True, width="stretch")


def card(c: dict) -> None:
    with st.container(border=True, key=f"entity_card_{c['id']}"):
        top = st.columns([3, 2], vertical_alignment="center")
        top[0].markdown(f"**{r.md(c['name'])}**")
        with top[1]:
            r.status_badge(c["status"])
        st.caption(
            f"{r.md(c['connector_label'])} · {r.md(c['source'] or 'no source')} · {c['currency'] or ''}"
        )
        st.markdown(f"Latest current figures: **{r.relative(c['last_success_at'])}**")
        if c["run_id"]:
            trigger = r.TRIGGERS.get(c["trigger"], c["trigger"])
            if c["status"] == "waiting":
                where = f", number {c['queue_position']} in the queue" if c.get("queue_position") else ""
                st.caption(f"{trigger} import queued {r.relative(c['queued_at'])}{where}.")
            elif c["status"] == "running":
                st.caption(f"{trigger} import started {r.relative(c['started_at'])}.")
            elif c["status"] == "succeeded":
                st.caption(
                    f"{trigger} import {r.relative(c['finished_at'])}: {r.number(c['inserted'] or 0)} new, "
                    f"{r.number(c['updated'] or 0)} changed, {r.number(c['deleted'] or 0)} deleted rows"
                )
            else:
                st.caption(f"{trigger} import {r.relative(c['finished_at'])}")
        st.caption(f"{r.number(c['lines'])} ledger lines")
        if c["status"] == "failed":
            st.error(c["error_message"] or "The import failed.", icon=":material/error:")
            if c["what_to_do"]:
                st.caption(f"What to do: {c['what_to_do']}")
        sync = c.get("sync")
        busy_now = c["status"] in ("waiting", "running")
        if sync is not None and not busy_now and not (sync["allowed"] and not sync.get("joins_run")):
            st.caption(f":material/timer: {sync['short']}")
        with st.container(horizontal=True):
            if c["file_based"]:
                if c["may_upload"] and st.button(
                    "Import file", key=f"upload_{c['id']}", icon=":material/upload_file:"
                ):
                    st.session_state["upload_entity"] = c["name"]
                    st.switch_page("pages/upload.py")
            elif (
                sync is not None
                and sync["allowed"]
                and not busy_now
                and not sync.get("joins_run")
                and st.button("Sync now", key=f"sync_{c['id']}", icon=":material/sync:", type="primary")
            ):
                ok, _ = r.attempt(svc.sync_now, user, c["id"])
                if ok:
                    st.toast(f"Import of {c['name']} queued.", icon=":material/schedule:")
                    st.rerun()
            if c["run_id"] and st.button("History", key=f"hist_{c['id']}", icon=":material/history:"):
                history(c["id"], c["name"])


def cards(page: int, started_busy: bool) -> None:
    r.refresh_version()  # this fragment reruns on its own while imports run
    data = r.cached("entity_cards", user, org, search=search, status=status, page=page)
    counts = data["counts"]
    m = st.columns(5)
    m[0].metric("Entities", counts["all"])
    m[1].metric("Succeeded", counts.get("succeeded", 0))
    m[2].metric("Failed", counts.get("failed", 0))
    m[3].metric("In progress", counts.get("running", 0))
    m[4].metric("Waiting", counts.get("waiting", 0))
    if not data["cards"]:
        if counts["all"]:
            st.info("No entity matches the filter.")
        else:
            st.info("No entities yet. Add a source on the Sources page or upload a ledger file.")
    grid = st.columns(3)
    for i, c in enumerate(data["cards"]):
        with grid[i % 3]:
            card(c)
    if data["pages"] > 1:
        st.caption(f"Page {data['page']} of {data['pages']} · {data['matching']} entities")
    now_busy = counts.get("running", 0) + counts.get("waiting", 0) > 0
    if started_busy and not now_busy:
        st.rerun()  # the last run ended: stop refreshing


busy = svc.busy(user, org)
total = r.cached("entity_cards", user, org, search=search, status=status, page=1)["pages"]
page = 1
if total > 1:
    page = st.number_input("Page", min_value=1, max_value=total, value=1, step=1, key="entities_page")
st.fragment(cards, run_every=2 if busy else None)(page, busy)
