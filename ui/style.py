"""The app's few style rules, injected once per run by app.py (every page).

- Less empty space above a page's title, so that a lesson's chart fits the first screen of a 1280×720
  projector (Streamlit leaves 6rem).
- Button labels wrap at spaces instead of being cut with "…" in narrow columns or at 150 % zoom, and
  never inside a word (a label too long for its column then shows as clipped in the readability test).
- Table headers and cells wrap at spaces, never mid-word.
"""

from __future__ import annotations

import streamlit as st

CSS = """
[data-testid="stMainBlockContainer"] { padding-top: 3rem; }
button [data-testid="stMarkdownContainer"], button [data-testid="stMarkdownContainer"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: normal !important; word-break: normal !important;
}
[data-testid="stTable"] th, [data-testid="stTable"] td {
  white-space: normal; overflow-wrap: normal; word-break: normal;
}
"""


def apply_style() -> None:
    st.html(f"<style>{CSS}</style>")
