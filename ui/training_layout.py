"""The training lab's projector layout: less padding, a smaller title, and the race strip's chips, so that at
1280×720 the live charts (and the network view) are on screen right after Start.

Streamlit pulls the block after a heading up by 1rem (a negative margin under the heading's markdown),
counting on the heading's own bottom padding; with the title's padding removed here that margin would
pull the Start row over the title's lower half, so it goes too."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.9rem; padding-bottom: 2rem;
  padding-left: 2rem; padding-right: 2rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.7rem; padding: 0; }
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"]:has(> div > h1) { margin-bottom: 0; }
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] { gap: 0.55rem; }
/* The network view's run picker and the chart picker wrap onto a second row instead of running under
   the neighbouring column (labels such as "PReLU [learned init]" are long). */
[class*="st-key-t_nv_run_"] [data-testid="stButtonGroup"] > div,
.st-key-t_view [data-testid="stButtonGroup"] > div { flex-wrap: wrap; row-gap: 4px; }
.st-key-t_plotly_warm { display: none; }
.av-strip { display: flex; flex-wrap: wrap; gap: 4px 8px; margin: 0; }
.av-chip { flex: 1 1 150px; max-width: 33%; min-width: 0; font-size: 0.82rem; line-height: 1.25;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.av-sw { display: inline-block; width: 0.7em; height: 0.7em; border-radius: 2px; margin-right: 0.35em; }
.av-bar { height: 5px; background: rgba(128,128,128,0.2); border-radius: 3px; margin-top: 2px; }
.av-bar > div { height: 5px; border-radius: 3px; }
</style>
"""


def projector_css() -> None:
    st.html(CSS)


def preload_charts() -> None:
    """Load the chart library before Start: Streamlit fetches Plotly's script with the page's first chart,
    which on a fresh page cost about a second between the first live point arriving and being drawn.
    An empty chart in a hidden container does it while the user is still choosing settings."""
    with st.container(key="t_plotly_warm"):
        st.plotly_chart(go.Figure(layout={"height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}}),
                        key="t_plotly_warm_chart", config={"staticPlot": True})
