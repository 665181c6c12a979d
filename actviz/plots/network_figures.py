"""Plotly builders for network internals: pure functions from diagnostics data to ``go.Figure``.

Every trace carries ``meta`` (activation key, series, layer) so tests and downloads can read the numbers
back; the drawn values are the measured ones, except that exact zeros, which a log axis cannot show, are
drawn as crosses on a floor line below the smallest non-zero value and labelled "exactly 0".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from actviz.network.diagnostics import DeadNeurons, GradientReport
from actviz.network.histograms import Histogram
from actviz.network.symmetry import SymmetryReport
from actviz.plots.curve_figures import colour

_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def _legend_below(y: float = -0.2) -> dict:
    return {"orientation": "h", "yanchor": "top", "y": y, "x": 0}


def grad_norm_figure(reports: Sequence[GradientReport], layer_names: Sequence[str], height: int = 460) -> go.Figure:
    """L2 norm of each Linear layer's weight gradient, input to output, log axis, one line per activation."""
    fig = go.Figure()
    positive = [v for r in reports for v in r.norms if v > 0 and math.isfinite(v)]
    floor = (min(positive) / 10.0) if positive else 1e-12
    any_zero = False
    for i, r in enumerate(reports):
        norms = r.norms
        col = colour(i)
        fig.add_trace(go.Scatter(
            x=list(layer_names), y=[v if v > 0 else None for v in norms], mode="lines+markers", name=r.label,
            legendgroup=f"a{i}", line={"color": col, "width": 2.4}, marker={"size": 8},
            customdata=norms, meta={"activation": r.activation.key, "series": "grad_norm", "values": norms},
            hovertemplate="%{x}<br>‖∇W‖₂ = %{customdata:.3e}<extra>" + r.label + "</extra>"))
        zero_x = [name for name, v in zip(layer_names, norms) if v == 0]
        if zero_x:
            any_zero = True
            fig.add_trace(go.Scatter(
                x=zero_x, y=[floor] * len(zero_x), mode="markers", name=f"{r.label}: exactly 0",
                legendgroup=f"a{i}", showlegend=False, marker={"symbol": "x", "size": 12, "color": col},
                meta={"activation": r.activation.key, "series": "grad_norm_zero"},
                hovertemplate="%{x}<br>gradient exactly 0<extra>" + r.label + "</extra>"))
    if any_zero:
        fig.add_hline(y=floor, line={"dash": "dot", "color": "#999", "width": 1})
        # On a log axis an annotation's y is log10 of the value.
        fig.add_annotation(xref="paper", x=1, y=math.log10(floor), yanchor="top", xanchor="right", showarrow=False,
                           text="× = exactly 0 (no gradient at all)", font={"size": 11, "color": "#666"})
    fig.update_layout(
        title={"text": "Weight-gradient norm per layer (one batch, at initialisation)", "font": {"size": 16}},
        height=height, hovermode="x unified", legend=_legend_below(-0.22), **_LAYOUT)
    fig.update_xaxes(title_text="Linear layer, from input (left) to output (right)", type="category")
    fig.update_yaxes(title_text="‖∇W‖₂ (log scale)", type="log", exponentformat="power")
    return fig


def _step_xy(hist: Histogram, total: int) -> tuple[list[float], list[float]]:
    """Edges and shares (in %) for a step line: y[i] holds from edges[i] to edges[i+1]."""
    shares = [100.0 * c / total if total else 0.0 for c in hist.counts]
    return list(hist.edges), shares + shares[-1:]


def grad_hist_figure(reports: Sequence[GradientReport], layer_names: Sequence[str]) -> go.Figure:
    """Small multiples (the UvA Deep Learning tutorial 3's figure): rows = activations, columns = layers,
    |∇W| on a shared log axis."""
    rows, cols = max(len(reports), 1), max(len(layer_names), 1)
    fig = make_subplots(rows=rows, cols=cols, column_titles=list(layer_names), row_titles=[r.label for r in reports],
                        horizontal_spacing=min(0.03, 0.3 / cols), vertical_spacing=min(0.05, 0.4 / rows),
                        shared_xaxes="all")
    lo, hi = math.inf, -math.inf
    for i, r in enumerate(reports):
        for j, layer in enumerate(r.layers):
            n = layer.shape[0] * layer.shape[1]
            h = layer.hist
            meta = {"activation": r.activation.key, "series": "grad_hist", "layer": layer.name, "zeros": h.zeros,
                    "n": n, "counts": h.counts}
            if h.counts:
                x, y = _step_xy(h, n)
                lo, hi = min(lo, x[0]), max(hi, x[-1])
                fig.add_trace(go.Scatter(
                    x=x, y=y, mode="lines", line={"shape": "hv", "color": colour(i), "width": 1.5}, fill="tozeroy",
                    name=r.label, legendgroup=f"a{i}", showlegend=False, meta=meta,
                    hovertemplate="|g| from %{x:.2e}: %{y:.2f} % of weights<extra>" + layer.name + "</extra>"),
                    row=i + 1, col=j + 1)
            else:
                fig.add_trace(go.Scatter(x=[], y=[], mode="lines", showlegend=False, meta=meta), row=i + 1, col=j + 1)
            if h.zeros:
                text = "all exactly 0" if h.zeros == n else f"{100 * h.zeros / n:.0f}% exactly 0"
                fig.add_annotation(text=text, xref="x domain" if i == j == 0 else f"x{i * cols + j + 1} domain",
                                   yref="y domain" if i == j == 0 else f"y{i * cols + j + 1} domain",
                                   x=0.5, y=0.5 if h.zeros == n else 0.95, showarrow=False,
                                   font={"size": 10, "color": colour(i)})
    if math.isfinite(lo):
        pad = 0.04 * (math.log10(hi) - math.log10(lo)) + 0.1
        fig.update_xaxes(type="log", range=[math.log10(lo) - pad, math.log10(hi) + pad], exponentformat="power",
                         dtick=2,
                         tickfont={"size": 9})
    else:
        fig.update_xaxes(type="log")
    fig.update_yaxes(tickfont={"size": 9}, rangemode="tozero")
    fig.update_annotations(font_size=10)
    fig.update_layout(
        title={"text": "Distribution of |weight gradient| per layer (share of weights, log-spaced bins: one per "
                       "power of 2)", "font": {"size": 15}},
        height=150 * rows + 110, **_LAYOUT)
    fig.update_layout(margin={"l": 50, "r": 90, "t": 90, "b": 40})
    return fig


def activation_hist_figure(reports: Sequence[GradientReport], hidden_names: Sequence[str],
                           max_cols: int = 4) -> go.Figure:
    """Post-activation values for the batch, one panel per hidden layer, one step line per activation.

    A spike of exact zeros (ReLU) would flatten every other curve, so when one bin towers over the rest
    the y-axis is cut just above the rest and the spike is labelled with its height.
    """
    n = max(len(hidden_names), 1)
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(hidden_names) or [""],
                        horizontal_spacing=0.06, vertical_spacing=min(0.12, 0.5 / rows))
    for j in range(len(hidden_names)):
        row, col = j // cols + 1, j % cols + 1
        tallest: list[tuple[float, float, float, int]] = []  # (top share, its x, second-highest share, colour)
        for i, r in enumerate(reports):
            if j >= len(r.hidden) or not r.hidden[j].hist.counts:
                continue
            stats = r.hidden[j]
            x, y = _step_xy(stats.hist, sum(stats.hist.counts))
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="lines", line={"shape": "hv", "color": colour(i), "width": 1.6}, name=r.label,
                legendgroup=f"a{i}", showlegend=j == 0,
                meta={"activation": r.activation.key, "series": "act_hist", "layer": stats.name,
                      "zero_fraction": stats.zero_fraction, "saturated_fraction": stats.saturated_fraction},
                hovertemplate="f(z) from %{x:.3g}: %{y:.2f} %<extra>" + r.label + "</extra>"), row=row, col=col)
            k = max(range(len(y) - 1), key=y.__getitem__)
            tallest.append((y[k], x[k], max(y[:k] + y[k + 1:-1], default=0.0), i))
        rest = max((t[2] for t in tallest), default=0.0)
        rest = max([rest] + [t[0] for t in tallest if t[0] <= 3 * rest])
        spikes = [t for t in tallest if t[0] > 3 * rest > 0]
        if spikes:
            cap = 1.6 * rest
            fig.update_yaxes(range=[0, cap], row=row, col=col)
            for share, x0, _, i in spikes:
                fig.add_annotation(x=x0, y=cap, text=f"↑ {share:.0f}%", showarrow=False, yanchor="top",
                                   xanchor="left", font={"size": 10, "color": colour(i)}, row=row, col=col)
    fig.update_layout(
        title={"text": "Activation outputs f(z) per hidden layer (this batch, share of outputs in %)",
               "font": {"size": 15}},
        height=260 * rows + 130, legend=_legend_below(-0.08 if rows > 1 else -0.2), **_LAYOUT)
    fig.update_xaxes(tickfont={"size": 9})
    fig.update_yaxes(tickfont={"size": 9}, rangemode="tozero")
    return fig


def neuron_figure(reports: Sequence[GradientReport], hidden_names: Sequence[str],
                  dead: Sequence[DeadNeurons] | None = None) -> go.Figure:
    """Grouped bars per hidden layer: dead units (whole training set), saturated and exactly-zero outputs."""
    panels = (["Dead units (% of layer, all training data)"] if dead is not None else []) + [
        "Saturated |f′(z)| < ε (% of outputs)", "Exactly 0 (% of outputs)"]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.07)
    names = list(hidden_names)
    for i, r in enumerate(reports):
        col = colour(i)
        series = []
        if dead is not None:
            d = dead[i]
            series.append(("dead", [100 * f for f in d.fractions], [str(c) for c in d.counts],
                           list(d.counts)))
        series.append(("saturated", [100 * h.saturated_fraction for h in r.hidden], None, None))
        series.append(("zero", [100 * h.zero_fraction for h in r.hidden], None, None))
        for k, (kind, values, text, counts) in enumerate(series):
            fig.add_trace(go.Bar(
                x=names, y=values, name=r.label, legendgroup=f"a{i}", showlegend=k == 0, marker_color=col,
                text=text, textposition="outside" if text else None,
                meta={"activation": r.activation.key, "series": kind, "counts": counts},
                hovertemplate="%{x}: %{y:.1f} %<extra>" + r.label + "</extra>"), row=1, col=k + 1)
    fig.update_layout(barmode="group", height=400, legend=_legend_below(-0.25),
                      title={"text": f"Dead, saturated and silent units (ε = {reports[0].eps:g})" if reports else "",
                             "font": {"size": 15}}, **_LAYOUT)
    fig.update_yaxes(rangemode="nonnegative")
    fig.update_yaxes(title_text="%", col=1)
    fig.update_xaxes(tickfont={"size": 9})
    return fig


def symmetry_figure(reports: Sequence[SymmetryReport]) -> go.Figure:
    """First hidden layer's weights after training, one heatmap per run: identical rows = identical units.

    Each heatmap has its own colour scale: zero-init weights stay tiny, and on a shared scale they would
    all look white whatever their pattern.
    """
    titles = [f"{r.label}, {r.init.label}: units {'identical' if r.all_identical else 'differ'}" for r in reports]
    n = max(len(reports), 1)
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles or [""], horizontal_spacing=0.2 if n > 1 else 0.1)
    for i, r in enumerate(reports):
        w = r.first_weights
        peak = max((abs(v) for row in w for v in row), default=0.0) or 1.0
        x1 = fig.layout["xaxis" if i == 0 else f"xaxis{i + 1}"].domain[1] + 0.01
        fig.add_trace(go.Heatmap(
            z=w, x=[f"in {k + 1}" for k in range(len(w[0]) if w else 0)],
            y=[f"unit {k + 1}" for k in range(len(w))], colorscale="RdBu", zmid=0, zmin=-peak, zmax=peak,
            colorbar={"x": x1, "len": 0.8, "thickness": 12, "tickformat": ".1e"},
            meta={"series": "first_weights", "activation": r.activation.key, "identical": r.all_identical,
                  "init": r.init.key()},
            hovertemplate="%{y}, %{x}: %{z:.3e}<extra></extra>"), row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=i + 1)
    fig.update_layout(
        title={"text": f"First hidden layer's weights after {reports[0].steps if reports else 0} SGD steps "
                       "(rows = hidden units, each panel on its own colour scale)", "font": {"size": 15}},
        height=380, **_LAYOUT)
    return fig
