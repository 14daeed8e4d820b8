"""Entities: latest import status per entity."""

import streamlit as st

from pipeline.status import entity_overview

st.title("Entities")
rows = entity_overview(None)
if not rows:
    st.info("No entities yet. Import a file with `ledgerline import FILE --entity NAME` or load the demo.")
for row in rows:
    with st.container(border=True):
        st.subheader(row["name"])
        st.caption(f"{row['organisation']} · {row['source'] or 'no source'} · {row['currency'] or ''}")
        status = row["last_status"] or "never imported"
        st.write(f"Latest import: **{status}** · {row['lines']:,} ledger lines")
        if row["last_error"]:
            st.error(row["last_error"])
