"""Home: what the app is for, and a link to each page."""

from __future__ import annotations

import streamlit as st

from ui.pages import PAGES

st.title("actviz — activation functions, explored")
st.markdown(
    "Why does a deep sigmoid network stop learning? Why do some ReLU units die? Is Mish really "
    "better than Swish? **actviz** lets you see for yourself: every curve is computed by PyTorch "
    "and every derivative by autograd, so what you see is what your network gets."
)
st.markdown("Choose a page:")
for page in PAGES:
    if page.default:
        continue
    st.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
    st.caption(page.blurb)

st.divider()
st.caption("Every view can also be produced without the browser: `python -m actviz --help`. "
           "Settings live in the page address, so a link reproduces what you see.")
