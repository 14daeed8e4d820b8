"""Mapping: every account of an entity on its report line; suggestions, bulk assign, preview, save."""

import pandas as pd
import streamlit as st

from pages import _render as r
from pipeline import app_services as svc

user = r.current_user()
org = r.current_org()
may_edit = r.cached("permissions", user, org)["mapping.edit"]
EXCLUDED_LABEL = "Excluded (left out on purpose)"

st.title("Mapping")
st.caption(
    "Each account lands on one line of the structure. Unmapped accounts go to the 'Unmapped' line, so totals "
    "always reconcile with the trial balance. Changes are previewed before they are saved, and apply to all "
    "periods at once."
)

ents = r.cached("my_entities", user, org)
if not ents:
    st.info("No entities yet.")
    st.stop()
structs = r.cached("list_structures", user, org)
top = st.columns([2, 2, 1], vertical_alignment="bottom")
names = {e["id"]: e["name"] for e in ents}
entity_id = top[0].selectbox("Entity", list(names), format_func=names.get, key="mapping_entity")
struct_names = {s["id"]: s["name"] + (" (default)" if s["is_default"] else "") for s in structs}
structure_id = (
    top[1].selectbox("Structure", list(struct_names), format_func=struct_names.get, key="mapping_structure")
    if structs
    else None
)
grid = r.cached("mapping_grid", user, entity_id, structure_id)
structure_id = grid["structure_id"]
with top[2]:
    if grid["unmapped"]:
        st.badge(f"{grid['unmapped']:,} unmapped", color="orange", icon=":material/warning:")
    else:
        st.badge("All mapped", color="green", icon=":material/check_circle:")

line_label = {code: f"{code} · {name}" for code, name, _ in grid["lines"]}
line_label[svc.EXCLUDE] = EXCLUDED_LABEL
label_code = {v: k for k, v in line_label.items()}
state_key = f"pending_{entity_id}_{structure_id}"
pending: dict = st.session_state.setdefault(state_key, {})
counter_key = f"grid_counter_{entity_id}_{structure_id}"
st.session_state.setdefault(counter_key, 0)
current = {row["code"]: row["line"] for row in grid["rows"]}


def set_pending(account: str, line: str | None) -> None:
    if current.get(account) == line:
        pending.pop(account, None)
    else:
        pending[account] = line


def refresh_grid() -> None:
    st.session_state[counter_key] += 1


# ---------------------------------------------------------------- suggestions
if may_edit and grid["unmapped"]:
    suggestions = r.cached("mapping_suggestions", user, entity_id, structure_id)
    todo = [s for s in suggestions if s["suggestions"] and s["code"] not in pending]
    with st.expander(
        f"Suggestions for {len(todo)} unmapped accounts", expanded=bool(todo), icon=":material/lightbulb:"
    ):
        if todo and st.button(f"Accept all {len(todo)} best suggestions", type="primary", key="accept_all"):
            for s in todo:
                set_pending(s["code"], s["suggestions"][0]["line"])
            refresh_grid()
            st.rerun()
        for s in todo[:8]:
            best = s["suggestions"][0]
            cols = st.columns([3, 3, 1, 1], vertical_alignment="center")
            cols[0].markdown(f"**{r.md(s['code'])}** {r.md(s['name'] or '')}")
            cols[0].caption(f"Movement {r.money(s['movement'])}")
            cols[1].markdown(f"→ **{r.md(best['line'])}** {r.md(best['line_name'])}")
            cols[1].caption(r.md("; ".join(best["reasons"])))
            cols[2].markdown(f":{'green' if best['score'] >= 80 else 'orange'}-badge[{best['score']}]")
            if cols[3].button("Accept", key=f"accept_{s['code']}"):
                set_pending(s["code"], best["line"])
                refresh_grid()
                st.rerun()
        if len(todo) > 8:
            st.caption(f"{len(todo) - 8} more; accept them all above, or map them in the grid.")

# ---------------------------------------------------------------- filters and grid
f = st.columns([2, 1, 2, 2], vertical_alignment="bottom")
search = f[0].text_input("Search", placeholder="Account code or name", key="mapping_search")
shown = f[1].selectbox("Show", ["Unmapped first", "Only unmapped", "Only mapped"], key="mapping_show")
classes = sorted({row["account_type"] or "unknown" for row in grid["rows"]})
klass = f[2].multiselect("Account class", classes, key="mapping_class")
categories = sorted({row["category"] for row in grid["rows"] if row["category"]})
category = f[3].selectbox("Category", ["", *categories], key="mapping_category")

rows = grid["rows"]
needle = search.strip().lower()
if needle:
    rows = [x for x in rows if needle in x["code"].lower() or needle in (x["name"] or "").lower()]
if shown == "Only unmapped":
    rows = [x for x in rows if x["status"] in ("unmapped", "conflict")]
elif shown == "Only mapped":
    rows = [x for x in rows if x["status"] not in ("unmapped", "conflict")]
if klass:
    rows = [x for x in rows if (x["account_type"] or "unknown") in klass]
if category:
    rows = [x for x in rows if x["category"] == category]

status_text = {"mapped": "Mapped", "unmapped": "Unmapped", "conflict": "Conflict", "excluded": "Excluded"}
table = pd.DataFrame(
    [
        {
            "Pick": False,
            "Account": x["code"],
            "Name": x["name"] or "",
            "Class": x["account_type"] or "",
            "Category": x["category"] or "",
            "Status": "Changed" if x["code"] in pending else status_text.get(x["status"], x["status"]),
            "Movement": r.money(x["movement"]),
            "Line": line_label.get(pending.get(x["code"], x["line"]) or ""),
        }
        for x in rows
    ],
    columns=["Pick", "Account", "Name", "Class", "Category", "Status", "Movement", "Line"],
)
st.caption(f"{len(rows):,} of {len(grid['rows']):,} accounts · {len(pending)} unsaved changes")
edited = st.data_editor(
    table,
    key=f"mapping_grid_{entity_id}_{structure_id}_{st.session_state[counter_key]}",
    hide_index=True,
    width="stretch",
    height=min(600, 38 + 35 * max(1, len(rows))),
    disabled=["Account", "Name", "Class", "Category", "Status", "Movement"]
    + ([] if may_edit else ["Pick", "Line"]),
    column_config={
        "Pick": st.column_config.CheckboxColumn("Pick", width="small"),
        "Movement": st.column_config.TextColumn("Movement", width="small"),
        "Line": st.column_config.SelectboxColumn("Line", options=list(line_label.values()), width="large"),
    },
)
for _, row in edited.iterrows():
    before = line_label.get(pending.get(row["Account"], current.get(row["Account"])) or "")
    if row["Line"] != before:
        set_pending(row["Account"], label_code.get(row["Line"]) if row["Line"] else None)

if not may_edit:
    st.stop()

picked = [row["Account"] for _, row in edited.iterrows() if row["Pick"]]
b = st.columns([3, 1], vertical_alignment="bottom")
bulk = b[0].selectbox(
    f"Assign the {len(picked)} picked accounts to", list(line_label.values()), key="bulk_line"
)
if b[1].button("Assign", disabled=not picked, key="bulk_assign"):
    for code in picked:
        set_pending(code, label_code[bulk])
    refresh_grid()
    st.rerun()

st.divider()
if not pending:
    st.caption("No unsaved changes.")
    st.stop()
st.markdown(f"**{len(pending)} unsaved changes**")
actions = st.columns([1, 1, 1, 3])
if actions[0].button("Preview totals", icon=":material/preview:", key="mapping_preview"):
    ok, changes = r.attempt(svc.preview_mapping, user, entity_id, structure_id, dict(pending))
    if ok:
        st.session_state[f"preview_{state_key}"] = changes
if actions[1].button(
    f"Save {len(pending)} changes", type="primary", icon=":material/save:", key="mapping_save"
):
    ok, counts = r.attempt(svc.save_mapping, user, entity_id, structure_id, dict(pending))
    if ok:
        pending.clear()
        st.session_state.pop(f"preview_{state_key}", None)
        refresh_grid()
        st.toast(
            f"Saved: {counts['added']} new, {counts['changed']} changed, {counts['removed']} removed rules."
        )
        st.rerun()
if actions[2].button("Discard", key="mapping_discard"):
    pending.clear()
    st.session_state.pop(f"preview_{state_key}", None)
    refresh_grid()
    st.rerun()
preview = st.session_state.get(f"preview_{state_key}")
if preview is not None:
    if not preview:
        st.info("No statement total changes.")
    else:
        st.caption(
            "Statement totals over all periods (balance sheet at the last month), before and after saving"
        )
        st.dataframe(
            [
                {
                    "Statement": p["statement"],
                    "Line": f"{p['code']} · {p['line']}",
                    "Before": r.money(p["before"]),
                    "After": r.money(p["after"]),
                    "Change": r.money(p["change"]),
                }
                for p in preview
            ],
            hide_index=True,
            width="stretch",
        )
