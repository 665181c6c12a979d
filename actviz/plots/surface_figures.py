"""A gated unit f(a, b) = act(a)·b in three panels: the surface with its contours, the contour map with
the gradient field (∂f/∂a, ∂f/∂b) as arrows, and the slice b = 1 (the element-wise act and act′)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from actviz.activations.curves import Curve
from actviz.activations.surfaces import Surface
from actviz.plots.curve_figures import colour

ARROWS = 13  # per axis


def _arrow_trace(s: Surface) -> go.Scatter:
    """Arrows of the gradient field on an ARROWS × ARROWS subgrid, lengths scaled to the grid spacing."""
    n = len(s.a)
    idx = np.unique(np.linspace(0, n - 1, min(ARROWS, n)).round().astype(int))
    ga, gb = np.meshgrid(idx, idx, indexing="ij")
    a0, b0 = s.a[ga].ravel(), s.b[gb].ravel()
    da, db = s.dz_da[ga, gb].ravel(), s.dz_db[ga, gb].ravel()
    # Arrows in data coordinates, proportional to |∇f|, the longest 0.9 of a grid cell.
    cell = min(s.a[idx[1]] - s.a[idx[0]], s.b[idx[1]] - s.b[idx[0]]) if len(idx) > 1 else 1.0
    norm = np.hypot(da, db)
    top = float(np.nanmax(norm)) if np.isfinite(norm).any() else 0.0
    k = 0.9 * cell / top if top > 0 else 0.0
    a1, b1 = a0 + k * da, b0 + k * db
    xs = np.column_stack([a0, a1, np.full_like(a0, np.nan)]).ravel()
    ys = np.column_stack([b0, b1, np.full_like(b0, np.nan)]).ravel()
    sizes = np.tile([0.0, 7.0, 0.0], len(a0))
    return go.Scatter(x=xs, y=ys, mode="lines+markers", name="gradient (∂f/∂a, ∂f/∂b)",
                      line={"color": "#222222", "width": 1.2},
                      marker={"symbol": "arrow", "angleref": "previous", "size": sizes, "color": "#222222"},
                      hoverinfo="skip", showlegend=True, meta={"series": "gradient"})


def gated_figure(surface: Surface, slice_curve: Curve, height: int = 430) -> go.Figure:
    """Surface, contour map with gradient arrows, and the slice b = 1 of one gated unit."""
    label = surface.choice.label
    fig = make_subplots(
        rows=1, cols=3, column_widths=[0.36, 0.34, 0.30], horizontal_spacing=0.07,
        specs=[[{"type": "surface"}, {"type": "xy"}, {"type": "xy"}]],
        subplot_titles=[f"{label}: f(a, b) = act(a)·b", "contours and gradient field", "slice b = 1: act(a)"])
    z_t = surface.z.T  # plotly: rows are y (b), columns are x (a)
    fig.add_trace(go.Surface(
        x=surface.a, y=surface.b, z=z_t, colorscale="RdBu", reversescale=True, showscale=False,
        contours={"z": {"show": True, "usecolormap": True, "project": {"z": True}}},
        hovertemplate="a=%{x:.2f}<br>b=%{y:.2f}<br>f=%{z:.4g}<extra></extra>", meta={"series": "surface"},
        name="f(a, b)"), row=1, col=1)
    zmax = float(np.nanmax(np.abs(surface.z))) or 1.0
    fig.add_trace(go.Contour(
        x=surface.a, y=surface.b, z=z_t, colorscale="RdBu", reversescale=True, zmin=-zmax, zmax=zmax,
        contours={"coloring": "heatmap", "showlabels": True}, ncontours=16, showscale=False,
        hovertemplate="a=%{x:.2f}<br>b=%{y:.2f}<br>f=%{z:.4g}<extra></extra>", name="f(a, b)",
        meta={"series": "contour"}), row=1, col=2)
    fig.add_trace(_arrow_trace(surface), row=1, col=2)
    if surface.b[0] <= 1.0 <= surface.b[-1]:  # where the slice of the third panel lies
        fig.add_trace(go.Scatter(x=[surface.a[0], surface.a[-1]], y=[1.0, 1.0], mode="lines", name="b = 1",
                                 line={"color": colour(0), "dash": "dot", "width": 2}, hoverinfo="skip",
                                 meta={"series": "slice_line"}), row=1, col=2)
    for attr, name, dash in (("y", "act(a) = f(a, 1)", "solid"), ("dy", "act′(a) = ∂f/∂a at b = 1", "dash")):
        values = getattr(slice_curve, attr)
        fig.add_trace(go.Scatter(
            x=slice_curve.x, y=np.where(np.isfinite(values), values, np.nan), mode="lines", name=name,
            line={"color": colour(0 if attr == "y" else 1), "dash": dash, "width": 2.2},
            meta={"series": attr}, hovertemplate="a=%{x:.3f}: %{y:.4g}<extra></extra>"), row=1, col=3)
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 50, "b": 70},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.36},
        # Few z ticks: in a panel a third of the page wide the default five crowd into the b-axis labels.
        scene={"xaxis_title": "a", "yaxis_title": "b", "zaxis_title": "f", "zaxis_nticks": 4,
               "aspectmode": "manual", "aspectratio": {"x": 1, "y": 1, "z": 0.8},
               "camera": {"eye": {"x": -1.5, "y": -1.5, "z": 1.0}}})
    fig.update_xaxes(title_text="a", row=1, col=2)
    fig.update_yaxes(title_text="b", row=1, col=2)
    fig.update_xaxes(title_text="a", zeroline=True, zerolinecolor="#999", row=1, col=3)
    fig.update_yaxes(zeroline=True, zerolinecolor="#999", row=1, col=3)
    return fig
