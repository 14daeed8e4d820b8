"""Upload: a ledger file recognised, checked line by line, previewed, then imported as one run."""

import streamlit as st

from pages import _render as r
from pipeline import app_services as svc
from pipeline.uploads import COLUMN_FIELDS, presets

user = r.current_user()
org = r.current_org()

st.title("Upload a ledger file")
st.caption(
    "XAF auditfiles, SAF-T Financial, and CSV or Excel exports of the general ledger. The whole file is "
    "checked before anything is written; importing it replaces the lines of the period it covers."
)

uploaded = st.file_uploader(
    "Drop a file here", type=["xaf", "xml", "csv", "txt", "tsv", "xlsx"], key="upload_file"
)
if uploaded is None:
    st.info("Nothing uploaded yet.", icon=":material/upload_file:")
    st.stop()

ok, path = r.attempt(svc.save_upload, user, uploaded.name, uploaded.getvalue())
if not ok:
    st.stop()
ok, found = r.attempt(svc.detect_upload, user, path)
if not ok:
    st.stop()

st.subheader("1. What the file is")
fmt = found.format
preset = found.preset
options: dict = {}
if fmt in ("csv", "xlsx"):
    catalog = {p["name"]: p for p in presets()}
    names = list(catalog)
    if found.needs_columns:
        st.warning(
            f"{found.format_label}: no known export layout matches these columns; name them below.",
            icon=":material/help:",
        )
    else:
        st.success(
            f"{found.format_label}, recognised as **{found.preset_label}** ({found.confidence:.0%} sure).",
            icon=":material/check_circle:",
        )
    preset = st.selectbox(
        "Layout (preset)",
        names,
        index=names.index(preset) if preset in names else names.index("generic"),
        format_func=lambda n: catalog[n]["label"],
        key=f"preset_{path}",
    )
    st.caption(catalog[preset]["notes"])
    if preset in ("generic", "trial_balance") and (found.needs_columns or preset != found.preset):
        st.markdown("**Name the columns.** Date, account and the amount (or debit and credit) are needed.")
        choices = ["", *found.columns]
        named = {}
        grid = st.columns(4)
        for i, field in enumerate(COLUMN_FIELDS):
            named[field] = grid[i % 4].selectbox(
                field.replace("_", " ").capitalize(), choices, key=f"col_{path}_{field}"
            )
        if not any(named.values()):
            st.stop()
        ok, options = r.attempt(svc.uploads.column_options, named)
        if not ok:
            st.stop()
else:
    st.success(f"Recognised as an **{found.format_label}**.", icon=":material/check_circle:")

st.subheader("2. Check")
with st.spinner("Reading the whole file…"):
    ok, check = r.attempt(
        r.cached, "check_upload", user, path, fmt=fmt, preset=preset, options=options or None
    )
if not ok:
    st.caption("Nothing was imported. Fix the file, or choose another layout, and upload it again.")
    st.stop()

m = st.columns(5)
m[0].metric("Ledger lines", r.number(check.lines))
m[1].metric("Entries", r.number(check.entries))
m[2].metric("Accounts", r.number(check.accounts))
m[3].metric("Debit total", r.money(check.debit_total))
m[4].metric("Credit total", r.money(check.credit_total))
facts = [f for f in (check.company, check.currency, check.period and f"period {check.period}") if f]
if facts:
    st.caption(" · ".join(facts))
if check.balanced:
    st.success("Debits equal credits.", icon=":material/balance:")
else:
    st.error(f"Debits and credits differ by {r.money(check.debit_total - check.credit_total)}.")
if check.problems:
    errors = len(check.errors)
    n = len(check.problems)
    label = f"{n} problem{'s' if n != 1 else ''} found" + (f" ({errors} to fix first)" if errors else "")
    with st.expander(label, expanded=bool(errors)):
        st.dataframe(
            [{"Severity": p.severity, "Problem": p.message, "Where": p.where} for p in check.problems],
            hide_index=True,
            width="stretch",
        )
st.caption(f"The first {len(check.rows)} lines as they will be imported")
st.dataframe(
    [
        {
            "Date": row["tx_date"],
            "Journal": row["journal"],
            "Entry": row["entry"],
            "Account": row["account_code"],
            "Description": row["description"] or "",
            "Amount": r.money(row["amount"]),
            "Where": row["source_ref"],
        }
        for row in check.rows
    ],
    hide_index=True,
    width="stretch",
    column_config={"Amount": st.column_config.TextColumn("Amount", width="small")},
)

st.subheader("3. Import")
files = [e for e in r.cached("my_entities", user, org) if e["file_based"]]
new = "New entity…"
existing = [e["name"] for e in files]
wanted = st.session_state.get("upload_entity")
options_list = [new, *existing]
target = st.selectbox(
    "Entity",
    options_list,
    index=options_list.index(wanted) if wanted in options_list else 0,
    key="upload_target",
)
if target == new:
    entity = st.text_input("Name of the new entity", value=check.company or "", key=f"new_entity_{path}")
else:
    entity = target
if st.button("Import", type="primary", icon=":material/download:", disabled=not entity or bool(check.errors)):
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, fraction: float) -> None:
        bar.progress(min(0.85, fraction * 0.85), text=stage)

    ok, result = r.attempt(
        svc.import_upload,
        user,
        path,
        entity,
        organisation_id=org,
        fmt=fmt,
        preset=preset,
        options=options or None,
        progress=progress,
    )
    bar.progress(1.0, text="Done" if ok else "Stopped")
    if ok:
        if result.status == "succeeded":
            st.success(
                f"Imported into {result.entity}: {r.number(result.lines)} lines, "
                f"debit {r.money(result.debit_total)} / credit {r.money(result.credit_total)}.",
                icon=":material/check_circle:",
            )
            c = st.columns(3)
            c[0].metric("Inserted", r.number(result.inserted))
            c[1].metric("Updated", r.number(result.updated))
            c[2].metric("Deleted", r.number(result.deleted))
            st.session_state.pop("upload_entity", None)
            st.page_link("pages/entities.py", label="See it on the Entities page", icon=":material/domain:")
        else:
            st.error(f"The import failed: {result.error_message}", icon=":material/error:")
