"""Structure: the P&L, balance sheet and cash-flow trees; add, rename, move and delete lines."""

import html

import streamlit as st

from pages import _render as r
from pipeline import app_services as svc
from pipeline.structure import STATEMENT_NAMES

user = r.current_user()
org = r.current_org()
may_edit = r.cached("permissions", user, org)["structure.edit"]
KIND_TEXT = {
    "group": "Group",
    "mapped": "Accounts",
    "formula": "Formula",
    "result": "Result",
    "retained": "Retained earnings",
    "unmapped": "Unmapped",
    "excluded": "Excluded",
    "cash_open": "Cash at start",
    "cash": "Cash at end",
}

st.title("Reporting structure")
st.caption(
    "A structure holds the P&L, the balance sheet and the cash-flow statement as trees of lines. Accounts are "
    "mapped onto its 'Accounts' lines; groups add up their lines; formula lines compute from other lines."
)


def done(message: str) -> None:
    st.toast(message, icon=":material/check:")
    st.rerun()


listed = r.cached("list_structures", user, org)
if not listed:
    st.info("There is no structure yet. Start one from a template.")
names = {s["id"]: s for s in listed}

top = st.columns([3, 1, 1, 1, 1], vertical_alignment="bottom")
chosen = None
if listed:
    chosen = top[0].selectbox(
        "Structure",
        list(names),
        format_func=lambda i: names[i]["name"] + (" (default)" if names[i]["is_default"] else ""),
        key="structure_pick",
    )
if may_edit:
    with top[1].popover("New", icon=":material/add:"):
        templates = svc.structure_templates()
        key = st.selectbox(
            "Template",
            [t["key"] for t in templates],
            format_func=lambda k: next(t["name"] for t in templates if t["key"] == k),
        )
        new_name = st.text_input("Name of the new structure", key="new_structure_name")
        if st.button("Create", type="primary", key="create_structure"):
            ok, new_id = r.attempt(svc.create_structure_from_template, user, org, key, new_name)
            if ok:
                st.session_state["structure_pick"] = new_id
                done("Structure created.")
    if chosen is not None:
        with top[2].popover("Duplicate", icon=":material/content_copy:"):
            copy_name = st.text_input(
                "Name of the copy", value=f"{names[chosen]['name']} (copy)", key="copy_name"
            )
            with_rules = st.checkbox("Copy its mapping rules too", value=True)
            if st.button("Duplicate", type="primary", key="dup_structure"):
                ok, new_id = r.attempt(
                    svc.duplicate_structure, user, chosen, copy_name, with_rules=with_rules
                )
                if ok:
                    st.session_state["structure_pick"] = new_id
                    done("Structure duplicated.")
        if not names[chosen]["is_default"] and top[3].button("Make default", key="default_structure"):
            ok, _ = r.attempt(svc.set_default_structure, user, chosen)
            if ok:
                done("Reports now use this structure by default.")
        with top[4].popover("Delete", icon=":material/delete:"):
            typed = st.text_input("Type its name to confirm", key="delete_structure_name")
            if st.button("Delete structure", type="primary", disabled=typed != names[chosen]["name"]):
                ok, _ = r.attempt(svc.delete_structure, user, chosen, typed)
                if ok:
                    st.session_state.pop("structure_pick", None)
                    done("Structure deleted.")
if chosen is None:
    st.stop()

struct = r.cached("get_structure", user, chosen)
info = names[chosen]
st.caption(
    f"{info['lines']} lines · {info['rules']} mapping rules"
    + (f" · from the {info['template']} template" if info["template"] else "")
    + (" · default" if info["is_default"] else "")
)

statement = (
    st.segmented_control(
        "Statement",
        list(STATEMENT_NAMES),
        format_func=STATEMENT_NAMES.get,
        default="pnl",
        key="structure_statement",
    )
    or "pnl"
)
lines = struct.statement_lines(statement)

rows = []
for ln in lines:
    detail = ln.formula or (f"cash flow: {ln.cf}" if ln.cf else "")
    rows.append(
        f'<tr class="{"group" if ln.kind == "group" else "formula" if ln.kind == "formula" else "reserved" if ln.kind in ("unmapped", "excluded") else ""}">'
        f'<td style="padding-left:{10 + 16 * ln.level}px">{html.escape(ln.name)}</td>'
        f'<td class="t">{html.escape(ln.code)}</td><td class="t">{KIND_TEXT.get(ln.kind, ln.kind)}</td>'
        f'<td class="t">{html.escape(detail)}</td><td>{"+" if ln.sign > 0 else "−"}</td></tr>'
    )
st.html(
    '<div class="ll-scroll"><table class="ll-table"><thead><tr><th>Line</th><th class="t">Code</th>'
    '<th class="t">Kind</th><th class="t">Formula / cash-flow line</th><th>Sign</th></tr></thead>'
    f"<tbody>{''.join(rows)}</tbody></table></div>"
)

if not may_edit:
    st.stop()

labels = {ln.code: f"{'  ' * ln.level}{ln.name} ({ln.code})" for ln in lines}
groups = [ln.code for ln in lines if ln.kind == "group"]
add, rename, move, formula, delete = st.tabs(["Add a line", "Rename", "Move", "Formula", "Delete"])
with add, st.form("add_line"):
    c = st.columns(3)
    parent = c[0].selectbox("Under", ["", *groups], format_func=lambda g: labels.get(g, "Top level"))
    kind = c[1].selectbox("Kind", ["mapped", "group", "formula"], format_func=KIND_TEXT.get)
    code = c[2].text_input("Code", placeholder="e.g. MKT")
    name = st.text_input("Name", placeholder="e.g. Marketing")
    text = st.text_input("Formula (formula lines only)", placeholder="e.g. OMZ + KPR")
    if st.form_submit_button("Add line", type="primary"):
        ok, _ = r.attempt(
            svc.add_structure_line,
            user,
            chosen,
            statement=statement,
            code=code,
            name=name,
            kind=kind,
            parent=parent or None,
            formula=text,
        )
        if ok:
            done(f"Line {code} added.")
with rename:
    pick = st.selectbox("Line", list(labels), format_func=labels.get, key="rename_pick")
    new = st.text_input("New name", key="rename_name")
    if st.button("Rename", type="primary", key="rename_button"):
        ok, _ = r.attempt(svc.rename_structure_line, user, chosen, pick, new)
        if ok:
            done("Line renamed.")
with move:
    pick = st.selectbox("Line", list(labels), format_func=labels.get, key="move_pick")
    c = st.columns([1, 1, 3, 1], vertical_alignment="bottom")
    if c[0].button("Up", icon=":material/arrow_upward:", key="move_up"):
        ok, _ = r.attempt(svc.move_structure_line, user, chosen, pick, direction="up")
        if ok:
            done("Moved up.")
    if c[1].button("Down", icon=":material/arrow_downward:", key="move_down"):
        ok, _ = r.attempt(svc.move_structure_line, user, chosen, pick, direction="down")
        if ok:
            done("Moved down.")
    target = c[2].selectbox(
        "Move under", ["", *groups], format_func=lambda g: labels.get(g, "Top level"), key="move_parent"
    )
    if c[3].button("Move", key="move_button"):
        ok, _ = r.attempt(svc.move_structure_line, user, chosen, pick, parent=target or None)
        if ok:
            done("Line moved.")
with formula:
    formulas = [ln for ln in lines if ln.kind == "formula"]
    if not formulas:
        st.caption("This statement has no formula lines.")
    else:
        pick = st.selectbox(
            "Formula line", [ln.code for ln in formulas], format_func=labels.get, key="formula_pick"
        )
        current = next(ln.formula for ln in formulas if ln.code == pick)
        text = st.text_input("Formula", value=current or "", key=f"formula_{pick}")
        st.caption("Use line codes of this statement with + − * / and brackets, e.g. OMZ + OBO + KPR.")
        if st.button("Save formula", type="primary", key="formula_button"):
            ok, _ = r.attempt(svc.set_structure_formula, user, chosen, pick, text)
            if ok:
                done("Formula saved.")
with delete:
    pick = st.selectbox("Line", list(labels), format_func=labels.get, key="delete_pick")
    st.caption("A line with sub-lines, or one that mapping rules or formulas use, cannot be deleted.")
    if st.button("Delete line", type="primary", key="delete_button"):
        ok, _ = r.attempt(svc.delete_structure_line, user, chosen, pick)
        if ok:
            done("Line deleted.")
