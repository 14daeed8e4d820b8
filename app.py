"""Ledgerline web app: the router only (page config and navigation)."""

import streamlit as st

st.set_page_config(page_title="Ledgerline", layout="wide")

pages = [st.Page("pages/entities.py", title="Entities", icon=":material/domain:", default=True)]
st.navigation(pages).run()
