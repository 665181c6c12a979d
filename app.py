"""actviz: the Streamlit entry point.  Declares the pages; each page is a thin view over actviz/."""

from __future__ import annotations

import streamlit as st

from ui import locks
from ui.boundary import run_page
from ui.pages import PAGES
from ui.session import remember_browser
from ui.style import apply_style

st.set_page_config(page_title="actviz: activation functions, explored", page_icon="📈", layout="wide")

current = st.navigation([
    st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p.default)
    for p in PAGES
])
remember_browser()
apply_style()
lesson = locks.apply(current.url_path)  # a teacher's lock=/hide= (any page)
try:
    run_page(current)  # one error boundary around every page
finally:
    locks.capture(lesson)
locks.lesson_panel(current.url_path, lesson)
