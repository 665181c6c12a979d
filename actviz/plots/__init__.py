"""Plots: pure Plotly figure builders (plain data in, ``go.Figure`` out; no Streamlit, no torch)."""
