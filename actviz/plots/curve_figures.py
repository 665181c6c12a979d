"""Plotly figure builders: pure functions from data to ``go.Figure`` (no Streamlit, no torch).

No template is set: the app draws charts with Streamlit's theme, and naming a template costs
~15 ms per figure (Plotly deep-copies it), which adds up when thirty sessions poll live charts.
The gallery's chart is written as plain dicts (``plain_figures``: 2-6 ms instead of 14-126 ms); data go in
as numpy arrays, serialised in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from actviz.activations.curves import Curve, saturated_intervals
from actviz.plots.plain_figures import axis_names, cell_axes, cell_suffix, grid_layout, plain_figure

# Colour-blind-safe qualitative palette (Okabe-Ito, then Plotly's), stable per position.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3"]

DERIVATIVE_STYLES = (("f", "solid", "y"), ("f′", "dash", "dy"), ("f″", "dot", "d2y"))


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _series(curve: Curve, attr: str) -> np.ndarray:
    """The values as a float array, NaN where undefined (a gap in the line).  numpy arrays keep
    Plotly's validation and JSON cheap: a list of 1,001 floats is checked element by element."""
    return np.where(np.isfinite(getattr(curve, attr)), getattr(curve, attr), np.nan)


def _drawn(curve: Curve, attr: str) -> tuple[np.ndarray, np.ndarray]:
    """x and y as drawn: a point where f is undefined between two grid points (1/x at 0 when 0 is not on
    the grid) gets a NaN inserted there, so the line breaks instead of joining -200 to +200."""
    x, y = curve.x, _series(curve, attr)
    poles = [g.lo for g in curve.undefined if g.lo is not None and g.lo == g.hi and not np.any(x == g.lo)]
    if not poles:
        return x, y
    at = np.searchsorted(x, poles)
    return np.insert(x, at, poles), np.insert(y, at, np.nan)


LANE_PX = 24  # height of one activation's saturation lane under the overlay chart


def activation_figure(curves: Sequence[Curve], show_d2: bool = False, layout: str = "overlay",
                      saturation_eps: float = 0.0, height: int | None = None) -> go.Figure:
    """f and its autograd derivative(s) for each curve, overlaid or one panel per activation.

    Saturation (|f'| < ``saturation_eps`` out to an edge of the range; 0 disables): in the overlay, one
    labelled lane per activation under the chart (six overlapping tints would be unreadable); in the grid,
    a grey band in each panel.  Where a formula is undefined (log(x) for x <= 0) the chart says so there,
    and the y-axis is set from the finite values.
    """
    orders = DERIVATIVE_STYLES if show_d2 else DERIVATIVE_STYLES[:2]
    lanes = layout != "grid" and saturation_eps > 0 and bool(curves)
    grid = layout == "grid" and bool(curves)
    if grid:
        cols = min(3, len(curves))
        rows = math.ceil(len(curves) / cols)
        fig_layout = grid_layout(rows, cols, [c.label for c in curves], 0.06, 0.12 if rows > 1 else 0.1)
    elif lanes:
        cols = rows = 1
        main_px = height or 480
        lane_px = LANE_PX * len(curves) + 30
        fig_layout = _chart_over_lanes(lane_px / (main_px + lane_px))
        height = main_px + lane_px + 60
    else:
        cols = rows = 1
        fig_layout = {}

    shapes: list[dict] = []
    notes: list[dict] = []
    data: list[dict] = []
    for i, curve in enumerate(curves):
        col_hex = colour(i)
        axes = cell_axes(i) if grid else {}
        data += [{**trace, **axes} for trace in _band_traces(curve, col_hex, f"act{i}" if layout != "grid" else "band")]
        for sym, dash, attr in orders:
            xs, ys = _drawn(curve, attr)
            data.append({
                "type": "scatter", "x": xs, "y": ys, "mode": "lines",
                "name": f"{sym}: {curve.label}" if layout != "grid" else f"{sym}",
                "legendgroup": f"act{i}" if layout != "grid" else sym,
                "showlegend": layout != "grid" or i == 0,
                "line": {"color": col_hex if layout != "grid" else colour(["y", "dy", "d2y"].index(attr)),
                         "dash": dash, "width": 2.4 if attr == "y" else 1.8},
                "meta": {"activation": curve.choice.key, "series": attr},
                "hovertemplate": f"{sym}(%{{x:.3f}}) = %{{y:.4g}}<extra>{curve.label}</extra>", **axes})
        suffix = cell_suffix(i) if grid else ""
        xref, yref = f"x{suffix}", f"y{suffix} domain"
        zones = saturated_intervals(curve.x, curve.dy, saturation_eps)
        if lanes:
            lane = len(curves) - 1 - i  # first activation on top
            shapes += [{"type": "rect", "x0": a, "x1": b, "y0": lane + 0.15, "y1": lane + 0.85, "xref": "x2",
                        "yref": "y2", "fillcolor": _rgba(col_hex, 0.55), "line": {"width": 0},
                        "name": f"saturated:{curve.choice.key}"} for a, b in zones]
        elif saturation_eps > 0:
            shapes += [{"type": "rect", "x0": a, "x1": b, "y0": 0, "y1": 1, "xref": xref, "yref": yref,
                        "fillcolor": _rgba("#888888", 0.18), "line": {"width": 0}, "layer": "below",
                        "name": f"saturated:{curve.choice.key}"} for a, b in zones]
        for gap in curve.undefined:
            lo = float(curve.x[0]) if gap.lo is None else gap.lo
            hi = float(curve.x[-1]) if gap.hi is None else gap.hi
            shapes.append({"type": "rect", "x0": lo, "x1": hi, "y0": 0, "y1": 1, "xref": xref, "yref": yref,
                           "fillcolor": "rgba(120,120,120,0.10)", "line": {"width": 1, "dash": "dot",
                                                                           "color": "#999"},
                           "layer": "below", "name": f"undefined:{curve.choice.key}"})
            prefix = f"{curve.label}: " if layout != "grid" and len(curves) > 1 else ""
            notes.append({"text": prefix + gap.text(), "x": 0.5 * (lo + hi), "xref": xref,
                          "y": 0.98 - 0.07 * len(notes) if not grid else 0.98, "yref": yref,
                          "yanchor": "top", "showarrow": False, "bgcolor": "rgba(255,255,255,0.85)",
                          "font": {"size": 12, "color": col_hex if layout != "grid" else "#444"},
                          "name": f"undefined:{curve.choice.key}"})

    if lanes:
        n = len(curves)
        notes.append({"text": f"Saturated: |f′| < {saturation_eps:g} out to the edge of the range",
                      "xref": "x2 domain", "yref": "y2 domain", "x": 0, "y": 1, "yanchor": "bottom",
                      "xanchor": "left", "showarrow": False, "font": {"size": 12, "color": "#555"}})
    axis_style = {"zeroline": True, "zerolinecolor": "#999"}
    fig_layout.update({
        "title": {"text": "Activations and their autograd derivatives", "font": {"size": 16}},
        "hovermode": "x unified" if layout != "grid" else "closest",
        "height": height or (520 if layout != "grid" else 300 * rows + 80),
        "margin": {"l": 50, "r": 20, "t": 60, "b": 40},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.14 if not lanes else -0.08, "x": 0},
    })
    annotations = [*fig_layout.get("annotations", []), *notes]
    if annotations:
        fig_layout["annotations"] = annotations
    if shapes:
        fig_layout["shapes"] = shapes
    if not grid:  # one chart (an empty grid is one empty chart, untitled)
        titled = layout != "grid"
        y_range = _clipped_y_range(curves, orders)
        fig_layout["xaxis"] = {**fig_layout.get("xaxis", {}), **axis_style,
                               **({"title": {"text": "x"}} if titled and not lanes else {})}
        fig_layout["yaxis"] = {**fig_layout.get("yaxis", {}), **axis_style,
                               **({"title": {"text": "value"}} if titled else {}),
                               **({"range": y_range} if y_range is not None else {})}
    if lanes:
        fig_layout["xaxis2"] = {**fig_layout["xaxis2"], **axis_style, "title": {"text": "x"}}
        fig_layout["yaxis2"] = {**fig_layout["yaxis2"], "range": [0, n],
                                "tickvals": [n - 0.5 - k for k in range(n)], "fixedrange": True,
                                "ticktext": [c.label for c in curves], "zeroline": False, "showgrid": False}
    if grid:  # "x" under the lowest panel of each column only: above a row it hits its titles
        for name in (*axis_names(fig_layout, "x"), *axis_names(fig_layout, "y")):
            fig_layout[name].update(axis_style)
        for i, curve in enumerate(curves):
            suffix = cell_suffix(i)
            if i + cols >= len(curves):
                fig_layout[f"xaxis{suffix}"]["title"] = {"text": "x"}
            y_range = _clipped_y_range([curve], orders)
            if y_range is not None:
                fig_layout[f"yaxis{suffix}"]["range"] = y_range
    return plain_figure(data, fig_layout)


def _band_traces(curve: Curve, col_hex: str, group: str) -> list[dict]:
    """The training-time band around an eval-mode curve (RReLU): its lower edge, then the upper edge
    filled down to it, behind the curve."""
    if curve.band is None:
        return []
    lower, upper = curve.band
    common = {"type": "scatter", "x": curve.x, "mode": "lines", "line": {"width": 0, "color": col_hex},
              "hoverinfo": "skip", "legendgroup": group}
    return [{"y": lower, "showlegend": False, "name": f"training band: {curve.label}",
             "meta": {"activation": curve.choice.key, "series": "band_lower"}, **common},
            {"y": upper, "fill": "tonexty", "fillcolor": _rgba(col_hex, 0.2), "name": f"while training: {curve.label}",
             "meta": {"activation": curve.choice.key, "series": "band_upper"}, **common}]


def _clipped_y_range(curves: Sequence[Curve], orders) -> list[float] | None:
    """The y-axis from the finite values, on the interesting part when a few values dwarf the rest
    (SELU at x = 1000, log(x)'s f′ = 1/x near 0): each series keeps its middle 90 %, and the axis is cut to
    their union when the full range is more than four times wider.  None: let Plotly size it."""
    series = [np.asarray(getattr(c, attr), dtype=float) for c in curves for _, _, attr in orders]
    series = [v[np.isfinite(v)] for v in series]
    series = [v for v in series if v.size]
    if not series:
        return None
    values = np.concatenate(series)
    lo = min(float(np.percentile(v, 5)) for v in series)
    hi = max(float(np.percentile(v, 95)) for v in series)
    full_lo, full_hi = float(values.min()), float(values.max())
    if (full_hi - full_lo) > 4 * (hi - lo) > 0:
        pad = 0.1 * (hi - lo)
        return [lo - pad, hi + pad]
    if any(c.undefined for c in curves):  # plotly would size the axis from the drawn points: say so
        pad = 0.05 * (full_hi - full_lo) or 1.0
        return [full_lo - pad, full_hi + pad]
    return None


def _chart_over_lanes(lane_share: float, gap: float = 0.1) -> dict:
    """The chart above its saturation lanes, sharing x: the layout ``make_subplots(rows=2, cols=1,
    shared_xaxes=True)`` makes, written out (make_subplots took ~15 ms a figure)."""
    lanes_top = (1 - gap) * lane_share
    return {"xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
            "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
            "yaxis": {"anchor": "x", "domain": [lanes_top + gap, 1.0]},
            "yaxis2": {"anchor": "x2", "domain": [0.0, lanes_top]}}


def _morph_y_range(arrays: Sequence[np.ndarray]) -> list[float]:
    """One fixed y-range for every frame (redraw-free animation needs it): the middle 99% of all values."""
    values = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays]) if arrays else np.array([])
    if values.size == 0:
        return [-1.0, 1.0]
    lo, hi = np.percentile(values, [0.5, 99.5])
    full_lo, full_hi = float(values.min()), float(values.max())
    if not (full_hi - full_lo) > 4 * (hi - lo) > 0:
        lo, hi = full_lo, full_hi
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    return [float(lo - pad), float(hi + pad)]


def morph_figure(morph, show_d2: bool = False, height: int = 520) -> go.Figure:
    """The activation with one parameter swept: one animation frame per value, a slider and a play button.

    Frames change only the traces' y (``redraw=False``) on fixed axis ranges, so a slider step is drawn
    by the browser alone; values travel as float32 typed arrays.
    """
    orders = DERIVATIVE_STYLES if show_d2 else DERIVATIVE_STYLES[:2]
    colours = [colour(0), colour(1), colour(2)]
    series = [np.asarray(getattr(morph, attr), dtype=np.float32) for _, _, attr in orders]
    x = np.asarray(morph.x, dtype=np.float32)
    name = morph.param
    fig = go.Figure()
    for (sym, dash, attr), values, col in zip(orders, series, colours):
        fig.add_trace(go.Scatter(
            x=x, y=values[morph.start], mode="lines", name=f"{sym}: {morph.label}",
            line={"color": col, "dash": dash, "width": 2.4 if attr == "y" else 1.8},
            meta={"activation": morph.choice.name, "series": attr, "morph": name},
            hovertemplate=f"{sym}(%{{x:.3f}}) = %{{y:.4g}}<extra></extra>"))
    labels = [f"{v:.6g}" for v in morph.values]
    fig.frames = [go.Frame(name=label, traces=list(range(len(orders))),
                           data=[go.Scatter(y=values[k]) for values in series])
                  for k, label in enumerate(labels)]
    step_args = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    fig.update_layout(
        title={"text": f"{morph.label}: drag {name} (answered in your browser, no server round trip)",
               "font": {"size": 16}},
        height=height, hovermode="x unified", margin={"l": 50, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        xaxis={"title": {"text": "x"}, "range": [float(x[0]), float(x[-1])], "autorange": False,
               "zeroline": True, "zerolinecolor": "#999"},
        yaxis={"title": {"text": "value"}, "range": _morph_y_range(series), "autorange": False,
               "zeroline": True, "zerolinecolor": "#999"},
        # The slider spans the width and the buttons sit on their own row under it: beside it they
        # covered its value label at 150 % zoom (buttons keep their pixel size, the chart shrinks).
        sliders=[{"active": morph.start, "x": 0.0, "len": 1.0, "y": -0.08, "yanchor": "top",
                  "pad": {"t": 30}, "currentvalue": {"prefix": f"{name} = ", "font": {"size": 15}},
                  "bgcolor": "#dfe6ee", "activebgcolor": colour(0), "bordercolor": "#888",
                  "steps": [{"method": "animate", "label": label, "args": [[label], step_args]}
                            for label in labels]}],
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.08, "xanchor": "left",
                      "yanchor": "top", "pad": {"t": 118, "r": 10}, "showactive": False,
                      "buttons": [
                          {"label": "▶ Play", "method": "animate",
                           "args": [None, {"mode": "immediate", "fromcurrent": True, "transition": {"duration": 0},
                                           "frame": {"duration": 60, "redraw": False}}]},
                          {"label": "❚❚", "method": "animate", "args": [[None], step_args]}]}])
    fig.update_layout(margin={"b": 175})
    return fig
