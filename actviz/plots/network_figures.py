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
from actviz.network.symmetry import ROUNDING_ZERO, SymmetryReport
from actviz.plots.curve_figures import colour


def _legend_below(y: float = -0.2) -> dict:
    return {"orientation": "h", "yanchor": "top", "y": y, "x": 0}


def grad_norm_figure(reports: Sequence[GradientReport], layer_names: Sequence[str], height: int = 380) -> go.Figure:
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
    # Legend above the plot: below it, it would collide with the axis title under rotated layer names.
    fig.update_layout(height=height, hovermode="x unified",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
                      margin={"l": 60, "r": 20, "t": 30, "b": 50})
    fig.update_xaxes(title_text="Linear layer, from input (left) to output (right)", type="category",
                     tickangle=0 if len(layer_names) <= 6 else -30)
    fig.update_yaxes(title_text="‖∇W‖₂ (log scale)", type="log", exponentformat="power")
    return fig


def _step_xy(hist: Histogram, total: int) -> tuple[list[float], list[float]]:
    """Edges and shares (in %) for a step line: y[i] holds from edges[i] to edges[i+1]."""
    shares = [100.0 * c / total if total else 0.0 for c in hist.counts]
    return list(hist.edges), shares + shares[-1:]


def grad_hist_figure(reports: Sequence[GradientReport], layer_names: Sequence[str]) -> go.Figure:
    """Small multiples (the UvA Deep Learning tutorial 3's figure): rows = activations, columns = layers,
    |∇W| on a shared log axis, the share of weights on a y-axis shared along each row.

    Everything is sized to its panel so that nothing overlaps however many layers there are: full layer
    names up to six columns ("L2" beyond), at most a few x ticks per panel, the exactly-zero share written
    inside the panel ("0: 46%" when narrow), activation names on the left, broken at parentheses.
    """
    rows, cols = max(len(reports), 1), max(len(layer_names), 1)
    narrow = cols > 6
    titles = [_short(n) for n in layer_names] if narrow else list(layer_names)
    fig = make_subplots(rows=rows, cols=cols, column_titles=titles, horizontal_spacing=min(0.03, 0.3 / cols),
                        vertical_spacing=min(0.05, 0.4 / rows), shared_xaxes="all")
    lo, hi = math.inf, -math.inf
    tops = [0.0] * rows  # one y-range per row, so only the first panel of a row needs tick labels
    for i, r in enumerate(reports):
        for j, layer in enumerate(r.layers):
            n = layer.shape[0] * layer.shape[1]
            h = layer.hist
            meta = {"activation": r.activation.key, "series": "grad_hist", "layer": layer.name, "zeros": h.zeros,
                    "n": n, "counts": h.counts}
            if h.counts:
                x, y = _step_xy(h, n)
                lo, hi = min(lo, x[0]), max(hi, x[-1])
                tops[i] = max(tops[i], max(y))
                fig.add_trace(go.Scatter(
                    x=x, y=y, mode="lines", line={"shape": "hv", "color": colour(i), "width": 1.5}, fill="tozeroy",
                    name=r.label, legendgroup=f"a{i}", showlegend=False, meta=meta,
                    hovertemplate="|g| from %{x:.2e}: %{y:.2f} % of weights<extra>" + layer.name + "</extra>"),
                    row=i + 1, col=j + 1)
            else:
                fig.add_trace(go.Scatter(x=[], y=[], mode="lines", showlegend=False, meta=meta), row=i + 1, col=j + 1)
            if h.zeros:
                share = _percent_text(100 * h.zeros / n)
                whole = h.zeros == n
                text = ("all 0" if narrow else "all exactly 0") if whole else (
                    f"0: {share}%" if narrow else f"{share}% exactly 0")
                fig.add_annotation(text=text, xref="x domain" if i == j == 0 else f"x{i * cols + j + 1} domain",
                                   yref="y domain" if i == j == 0 else f"y{i * cols + j + 1} domain",
                                   x=0.5, y=0.5 if whole else 0.98, yanchor="middle" if whole else "top",
                                   showarrow=False, bgcolor="rgba(255,255,255,0.85)",
                                   font={"size": 9 if narrow else 10, "color": colour(i)})
    if math.isfinite(lo):
        span = math.log10(hi) - math.log10(lo)
        pad = 0.04 * span + 0.1
        ticks = 1 if cols > 8 else 2 if cols > 4 else 4  # tick labels that fit a panel's width
        dtick = max(1, math.ceil(span / ticks))
        fig.update_xaxes(type="log", range=[math.log10(lo) - pad, math.log10(hi) + pad], exponentformat="power",
                         dtick=dtick, tickangle=0, tickfont={"size": 9})
    else:
        fig.update_xaxes(type="log")
    fig.update_yaxes(tickfont={"size": 9})
    for i, top in enumerate(tops):
        for j in range(cols):
            fig.update_yaxes(range=[0, 1.12 * top or 1], showticklabels=j == 0, row=i + 1, col=j + 1)
    fig.update_annotations(font_size=10)
    # Row labels on the left, horizontal and broken at spaces, so long variant names never run into a panel.
    for i, r in enumerate(reports):
        fig.add_annotation(text=r.label.replace(" (", "<br>("), xref="paper",
                           yref=f"y{i * cols + 1 if i else ''} domain", x=0, xshift=-34, y=0.5, xanchor="right",
                           showarrow=False, align="right", font={"size": 11, "color": colour(i)})
    fig.add_annotation(text="|weight gradient| (log scale); y: % of the layer's weights", xref="paper", yref="paper",
                       x=0.5, y=0, yshift=-34, yanchor="top", showarrow=False, font={"size": 11, "color": "#555"})
    fig.update_layout(height=150 * rows + 90, margin={"l": 170, "r": 20, "t": 40, "b": 60})
    return fig


ACT_HIST_TITLE = "Activation outputs f(z) per hidden layer (this batch, share of outputs in %)"
NEURON_TITLE = "Dead, saturated and silent units"


def _title(fig: go.Figure, title: str | None) -> None:
    """A figure title, for pages that do not put a heading above the chart (the gradient-flow page does)."""
    if title:
        fig.update_layout(title={"text": title, "font": {"size": 15}}, margin={"t": 70})


def activation_hist_figure(reports: Sequence[GradientReport], hidden_names: Sequence[str],
                           max_cols: int = 4, title: str | None = ACT_HIST_TITLE) -> go.Figure:
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
    fig.update_layout(height=260 * rows + 90, legend=_legend_below(-0.08 if rows > 1 else -0.2),
                      margin={"l": 60, "r": 20, "t": 40, "b": 50})
    _title(fig, title)
    fig.update_xaxes(tickfont={"size": 9})
    fig.update_yaxes(tickfont={"size": 9}, rangemode="tozero")
    return fig


def _short(name: str) -> str:
    """``"H3 (256)"`` -> ``"H3"``, ``"L2 64→256"`` -> ``"L2"`` (sizes go to the hover text)."""
    return name.split(" ", 1)[0]


def _count_axis(fig: go.Figure, top: int, row: int, col: int, title: str) -> None:
    """A y-axis for whole numbers: starts at 0, leaves room for the labels above the bars, no 0.5 ticks."""
    fig.update_yaxes(title_text=title, range=[0, max(top, 1) * 1.18 + 0.5], tickformat="d",
                     dtick=1 if top <= 5 else None, row=row, col=col)


def _dead_bars(fig: go.Figure, i: int, label: str, key: str, names: Sequence[str], d: DeadNeurons, legend: bool,
               col: int, label_zeros: bool = True) -> None:
    """Dead-unit counts as bars labelled with their count; zeros labelled "0" unless there are too many bars
    for the labels to be read (then a missing bar is 0, and the hover says so)."""
    fig.add_trace(go.Bar(
        x=[_short(n) for n in names], y=list(d.counts), name=label, legendgroup=f"a{i}", showlegend=legend,
        marker_color=colour(i), text=[str(c) if c or label_zeros else "" for c in d.counts], textposition="outside",
        cliponaxis=False,
        textfont={"color": colour(i)},
        customdata=[[s, 100 * f] for s, f in zip(d.sizes, d.fractions)],
        meta={"activation": key, "series": "dead", "counts": list(d.counts), "sizes": list(d.sizes)},
        hovertemplate="%{x}: %{y} of %{customdata[0]} units dead (%{customdata[1]:.1f} %)<extra>" + label
                      + "</extra>"), row=1, col=col)


def lesson_dead_figure(reports: Sequence[GradientReport], hidden_names: Sequence[str], layer_names: Sequence[str],
                       dead: Sequence[DeadNeurons], height: int = 360) -> go.Figure:
    """The deep-ReLU lesson at a glance: dead units per hidden layer (a count, whole training set) and the
    share of each Linear layer's weights whose gradient is exactly 0 (this batch).  Zeros are drawn as
    labelled zero-height bars ("0"), never left out."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=[
        "Dead units<br>per hidden layer", "Weight gradients<br>exactly 0, per layer"])
    top = max((c for d in dead for c in d.counts), default=0)
    for i, (r, d) in enumerate(zip(reports, dead)):
        _dead_bars(fig, i, r.label, r.activation.key, hidden_names, d, True, 1)
        shares = [100 * layer.zero_fraction for layer in r.layers]
        fig.add_trace(go.Bar(
            x=[_short(n) for n in layer_names], y=shares, name=r.label, legendgroup=f"a{i}", showlegend=False,
            marker_color=colour(i), text=[_percent_text(v) for v in shares], textposition="outside",
            cliponaxis=False, textfont={"color": colour(i)},
            customdata=[[layer.name, layer.hist.zeros, layer.shape[0] * layer.shape[1]] for layer in r.layers],
            meta={"activation": r.activation.key, "series": "zero_grad", "values": shares,
                  "zeros": [layer.hist.zeros for layer in r.layers]},
            hovertemplate="%{customdata[0]}: %{customdata[1]:,} of %{customdata[2]:,} weight gradients exactly 0 "
                          "(%{y:.1f} %)<extra>" + r.label + "</extra>"), row=1, col=2)
    _count_axis(fig, top, 1, 1, "units (count)")
    fig.update_yaxes(title_text="% of the layer's weights", range=[0, 112], row=1, col=2)
    fig.update_xaxes(title_text="hidden layer (input → output)", row=1, col=1)
    fig.update_xaxes(title_text="Linear layer (input → output)", row=1, col=2)
    fig.update_layout(barmode="group", height=height, legend=_legend_below(-0.22), uniformtext_minsize=8,
                      margin={"l": 60, "r": 20, "t": 56, "b": 40})
    fig.update_traces(textfont_size=10)
    return fig


def _percent_text(v: float) -> str:
    """Bar labels: "0" only for an exact zero; a non-zero share below 0.5 % is "<1", never a rounded "0"."""
    if v == 0:
        return "0"
    return "<1" if v < 0.5 else f"{v:.0f}"


def neuron_figure(reports: Sequence[GradientReport], hidden_names: Sequence[str],
                  dead: Sequence[DeadNeurons] | None = None, title: str | None = NEURON_TITLE) -> go.Figure:
    """Bars per hidden layer: dead units (a count, whole training set), saturated and exactly-zero outputs (%)."""
    panels = (["Dead units<br>(all training data)"] if dead is not None else []) + [
        "Saturated |f′(z)| < ε<br>(this batch)", "Exactly 0<br>(this batch)"]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.1)
    names = list(hidden_names)
    first = 1 if dead is not None else 0
    for i, r in enumerate(reports):
        if dead is not None:
            _dead_bars(fig, i, r.label, r.activation.key, names, dead[i], True, 1, label_zeros=len(reports) <= 4)
        for k, (kind, values) in enumerate((("saturated", [100 * h.saturated_fraction for h in r.hidden]),
                                            ("zero", [100 * h.zero_fraction for h in r.hidden]))):
            fig.add_trace(go.Bar(
                x=[_short(n) for n in names], y=values, name=r.label, legendgroup=f"a{i}",
                showlegend=dead is None and k == 0, marker_color=colour(i),
                meta={"activation": r.activation.key, "series": kind},
                hovertemplate="%{x}: %{y:.1f} % of outputs<extra>" + r.label + "</extra>"), row=1, col=first + k + 1)
    if dead is not None:
        _count_axis(fig, max((c for d in dead for c in d.counts), default=0), 1, 1, "units (count)")
    for k in range(2):
        fig.update_yaxes(title_text="% of outputs", range=[0, 105], row=1, col=first + k + 1)
    fig.update_layout(barmode="group", height=360, legend=_legend_below(-0.18),
                      margin={"l": 60, "r": 20, "t": 56, "b": 50})
    _title(fig, title and f"{title} (ε = {reports[0].eps:g})" if reports else title)
    fig.update_traces(textfont_size=10, selector={"type": "bar"})
    fig.update_xaxes(tickfont={"size": 10})
    return fig


def _weight_text(v: float) -> str:
    return "0" if v == 0 else f"{v:.2g}"


def symmetry_figure(reports: Sequence[SymmetryReport], height: int = 340) -> go.Figure:
    """First hidden layer's weights after training, one heatmap per run: identical rows = identical units.

    Each heatmap has its own colour scale (zero-init weights stay tiny next to random ones).  Weights that
    are float rounding of an exact 0 (|w| < ROUNDING_ZERO) are drawn as 0, white, and written "0" in their
    cells; a panel that is all 0 says so instead of stretching its colour scale over rounding noise.
    """
    titles = [f"{r.label}<br>{r.init.label}<br>units {'identical' if r.all_identical else 'differ'}" for r in reports]
    n = max(len(reports), 1)
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles or [""], horizontal_spacing=0.2 if n > 1 else 0.1)
    for i, r in enumerate(reports):
        raw = r.first_weights
        w = [[0.0 if abs(v) < ROUNDING_ZERO else v for v in row] for row in raw]
        peak = max((abs(v) for row in w for v in row), default=0.0)
        all_zero = peak == 0.0
        peak = peak or 1.0
        cells = sum(len(row) for row in w)
        x1 = fig.layout["xaxis" if i == 0 else f"xaxis{i + 1}"].domain[1] + 0.01
        fig.add_trace(go.Heatmap(
            z=w, x=[f"in {k + 1}" for k in range(len(w[0]) if w else 0)],
            y=[f"unit {k + 1}" for k in range(len(w))], colorscale="RdBu", zmid=0, zmin=-peak, zmax=peak,
            text=[[_weight_text(v) for v in row] for row in w], texttemplate="%{text}" if cells <= 64 else None,
            customdata=raw, xgap=1, ygap=1,
            colorbar={"x": x1, "len": 0.8, "thickness": 12, "tickformat": ".2g"}, showscale=not all_zero,
            meta={"series": "first_weights", "activation": r.activation.key, "identical": r.all_identical,
                  "init": r.init.key(), "all_zero": all_zero, "raw": raw},
            hovertemplate="%{y}, %{x}: %{text} (stored %{customdata:.3g})<extra></extra>"), row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=i + 1)
        if all_zero:
            fig.add_annotation(text="every weight 0 (|w| < 10⁻⁶: float rounding of 0)", showarrow=False,
                               xref=f"x{i + 1 if i else ''} domain", yref=f"y{i + 1 if i else ''} domain",
                               x=0.5, y=-0.12, yanchor="top", font={"size": 11, "color": "#555"})
    fig.update_layout(height=height, margin={"l": 60, "r": 30, "t": 76, "b": 50})
    fig.update_annotations(font_size=13)
    return fig
