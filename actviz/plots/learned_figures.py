"""Plotly builders for learned activation parameters (pure: traces and shape frames in, figures out)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from actviz.plots.curve_figures import colour
from actviz.plots.plaintext import plain

LAYER_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


def parameter_figure(traces: Sequence[Any], hues: Sequence[int], row_height: int = 200,
                     columns: int = 3) -> go.Figure:
    """Each learned parameter over epochs, one panel per parameter name, one line per run and hidden layer
    (the run's colour, as in the race strip, which is the key; hidden layer 1 solid, 2 dashed, …).
    Epoch 0 is the value training started from."""
    names = list(dict.fromkeys(t.param for t in traces))
    cols = min(len(names), columns) or 1
    rows = max(1, math.ceil(len(names) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[plain(n) for n in names],
                        horizontal_spacing=0.08, vertical_spacing=min(0.16, 0.6 / rows))
    layers = {t.layer for t in traces}
    for t in traces:
        k = names.index(t.param)
        suffix = f" · layer {t.layer + 1}" if len(layers) > 1 else ""
        fig.add_trace(go.Scatter(
            x=t.epochs, y=t.values, mode="lines+markers" if len(t.epochs) < 30 else "lines",
            name=plain(t.label) + suffix, showlegend=False,
            line={"color": colour(hues[t.run]), "dash": LAYER_DASHES[t.layer % len(LAYER_DASHES)], "width": 2},
            meta={"run": t.run, "param": t.param, "layer": t.layer},
            hovertemplate=(f"{plain(t.label)}{suffix}<br>{plain(t.param)} = %{{y:.4g}} after epoch %{{x}}"
                           "<extra></extra>")),
            row=k // cols + 1, col=k % cols + 1)
    # The x title only under the bottom row: above, it would sit on the next row's panel titles.
    fig.update_xaxes(title_text="epoch", title_standoff=4, row=rows)
    fig.update_xaxes(nticks=5)  # narrow panels (two beside the network view, at 150 % zoom) stay legible
    fig.update_yaxes(nticks=5)
    fig.update_layout(height=row_height * rows + 70, margin={"l": 50, "r": 20, "t": 30, "b": 40},
                      hovermode="closest")
    return fig


def _y_range(curves: Sequence[Sequence[Sequence[float]]]) -> list[float]:
    values = np.asarray(curves, dtype=float)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return [-1.0, 1.0]
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    return [lo - pad, hi + pad]


def shape_figure(frames: Any, hue: int, height: int = 420) -> go.Figure:
    """A run's learned activation at chosen epochs, as animation frames with a slider and a play button
    (answered in the browser); the grey dashed curve is the shape training started from."""
    x = np.asarray(frames.x, dtype=np.float32)
    fig = go.Figure()
    many = len(frames.layers) > 1
    for j, layer in enumerate(frames.layers):
        name = f"layer {layer + 1}" if many else "learned"
        fig.add_trace(go.Scatter(x=x, y=np.asarray(frames.curves[0][j], dtype=np.float32), mode="lines",
                                 name="before training", legendgroup="start", showlegend=j == 0,
                                 line={"color": "#999", "dash": "dash"}, meta={"start": name}, hoverinfo="skip"))
    first = len(fig.data)
    for j, layer in enumerate(frames.layers):
        fig.add_trace(go.Scatter(
            x=x, y=np.asarray(frames.curves[-1][j], dtype=np.float32), mode="lines",
            name=f"layer {layer + 1}" if many else "learned",
            line={"color": colour(hue), "dash": LAYER_DASHES[j % len(LAYER_DASHES)], "width": 2.6},
            meta={"layer": layer}, hovertemplate="f(%{x:.3f}) = %{y:.4g}<extra></extra>"))
    labels = [str(e) for e in frames.epochs]
    fig.frames = [go.Frame(name=label, traces=list(range(first, first + len(frames.layers))),
                           data=[go.Scatter(y=np.asarray(c, dtype=np.float32)) for c in frames.curves[e]])
                  for e, label in enumerate(labels)]
    step = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    fig.update_layout(
        height=height, margin={"l": 50, "r": 20, "t": 40, "b": 150}, hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        xaxis={"title": {"text": "x"}, "range": [float(x[0]), float(x[-1])], "autorange": False},
        yaxis={"title": {"text": "f(x)"}, "range": _y_range(frames.curves), "autorange": False},
        sliders=[{"active": len(labels) - 1, "x": 0.0, "len": 1.0, "y": -0.12, "yanchor": "top", "pad": {"t": 20},
                  "currentvalue": {"prefix": "after epoch ", "font": {"size": 14}},
                  "steps": [{"method": "animate", "label": label, "args": [[label], step]} for label in labels]}],
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.12, "xanchor": "left",
                      "yanchor": "top", "pad": {"t": 100, "r": 10}, "showactive": False,
                      "buttons": [{"label": "▶ Play", "method": "animate",
                                   "args": [labels, {"mode": "immediate", "transition": {"duration": 0},
                                                     "frame": {"duration": 120, "redraw": False}}]},
                                  {"label": "❚❚", "method": "animate", "args": [[None], step]}]}])
    return fig
