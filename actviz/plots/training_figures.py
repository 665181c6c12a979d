"""Plotly builders for the training lab (pure: run progress in, figures out)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from actviz import activations
from actviz.plots.curve_figures import colour
from actviz.plots.plain_figures import axis_names, cell_axes, grid_layout, plain_figure
from actviz.plots.plaintext import plain
from actviz.training.config import RunProgress

METRICS = (("train_loss", "Train loss", "loss"), ("test_loss", "Test loss", "loss"),
           ("test_acc", "Test accuracy", "accuracy"))
REGRESSION_METRICS = (("train_loss", "Train loss (MSE)", "loss"), ("test_loss", "Test loss (MSE)", "loss"),
                      ("test_r2", "Test R²", "R²"))


# Plotly's "Blues" written out: validation would expand the name; unvalidated, plotly.js would read its own,
# different "Blues".
BLUES = [list(stop) for stop in plotly.colors.get_colorscale("Blues")]


def metrics_for(task: str) -> tuple[tuple[str, str, str], ...]:
    """The three live charts of a task: the losses and test accuracy, or test R² for regression."""
    return REGRESSION_METRICS if task == "regression" else METRICS


def _clean(values: Sequence[float]) -> np.ndarray:
    """As a float array with NaN for missing or non-finite values (Plotly draws gaps there)."""
    return np.array([v if v is not None else np.nan for v in values], dtype=float)


def run_hues(runs: Sequence[RunProgress]) -> list[int]:
    """Colour index of each run: its position, or, when activations train from several seeds, its activation
    (every seed of one activation in that activation's colour, as the race strip shows them)."""
    groups = [int(getattr(r, "group", i)) for i, r in enumerate(runs)]
    return groups if len(set(groups)) < len(groups) else list(range(len(runs)))


def metric_figure(runs: Sequence[RunProgress], metric: str, title: str, y_title: str,
                  max_epochs: int | None = None, height: int = 330, legend: bool = True) -> go.Figure:
    """One metric vs epoch, one line per activation (the comparison charts of the PyTorch activation tutorial).

    The train-loss chart also draws the running loss reported within epochs, so the first points
    show up well before the first epoch ends.  Without ``legend`` the page's race strip (coloured chips,
    one per run) is the key; a legend, when drawn, sits below the x-axis title, never over it.
    """
    hues = run_hues(runs)
    data: list[dict] = []
    for i, r in enumerate(runs):
        epochs = [h.epoch for h in r.history]
        values = [getattr(h, metric) for h in r.history]
        done = float(epochs[-1]) if epochs else 0.0
        # Running loss within the epoch in progress only; finished epochs show their final value.
        live = [(e, v) for e, v in r.live if e > done]
        if metric == "train_loss" and live:
            if epochs:
                live.insert(0, (done, values[-1]))
            xs, ys = zip(*live, strict=False)
            data.append({"type": "scatter", "x": np.asarray(xs), "y": _clean(ys), "mode": "lines", "name": r.label,
                         "legendgroup": r.key, "line": {"color": colour(hues[i]), "width": 1.5},
                         "meta": {"run": i, "series": "live"}, "showlegend": not epochs,
                         "hovertemplate": "epoch %{x:.2f}: %{y:.4f}<extra>" + r.label + "</extra>"})
        if epochs:
            data.append({"type": "scatter", "x": np.asarray(epochs), "y": _clean(values), "mode": "lines+markers",
                         "name": r.label, "legendgroup": r.key, "line": {"color": colour(hues[i]), "width": 2.4},
                         "marker": {"size": 6}, "meta": {"run": i, "series": metric},
                         "hovertemplate": "epoch %{x}: %{y:.4f}<extra>" + r.label + "</extra>"})
    xaxis: dict = {"title": {"text": "epoch", "standoff": 4}, "rangemode": "tozero"}
    if max_epochs:
        xaxis["range"] = [0, max_epochs]
    yaxis: dict = {"title": {"text": y_title}}
    if metric.endswith("acc"):
        yaxis.update(tickformat=".0%", range=[0, 1.02])
    elif metric.endswith("r2"):  # R² is at most 1; a bad fit goes below 0, so only the top is fixed
        scores = [getattr(h, metric, math.nan) for r in runs for h in r.history]
        low = min([v for v in scores if v is not None and math.isfinite(v)] + [0.0])
        yaxis["range"] = [max(low, -1.0) - 0.05, 1.02]
    else:
        yaxis["rangemode"] = "tozero"
    return plain_figure(data, {
        "title": {"text": title, "font": {"size": 14}, "y": 0.98, "yanchor": "top"}, "height": height,
        "margin": {"l": 54, "r": 10, "t": 30, "b": 100 if legend else 36}, "hovermode": "x unified",
        "showlegend": legend,  # at the very bottom of the figure, below the x-axis title
        "legend": {"orientation": "h", "yanchor": "bottom", "yref": "container", "y": 0.0, "x": 0},
        "xaxis": xaxis, "yaxis": yaxis})


def grad_norm_heatmaps(runs: Sequence[RunProgress], layer_names: Sequence[str], row_height: int = 260) -> go.Figure:
    """Per-layer weight-gradient norm over epochs, one heatmap per activation (log colour scale); the
    x-axis title only under the bottom row, so no title overlaps the next row's panel titles."""
    n = max(1, len(runs))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[r.label for r in runs],
                        horizontal_spacing=0.08, vertical_spacing=0.18 if rows > 1 else 0.1)
    all_values = [v for r in runs for row in r.grad_norms for v in row if v and v > 0 and math.isfinite(v)]
    lo = math.log10(min(all_values)) if all_values else -6
    hi = math.log10(max(all_values)) if all_values else 0
    for i, r in enumerate(runs):
        z = np.full((len(layer_names), len(r.grad_norms)), np.nan)
        for e, row in enumerate(r.grad_norms):
            for layer, v in enumerate(row[:len(layer_names)]):
                if v and v > 0 and math.isfinite(v):
                    z[layer, e] = math.log10(v)
        fig.add_trace(go.Heatmap(
            z=z, x=np.arange(1, len(r.grad_norms) + 1), y=list(layer_names),
            zmin=lo, zmax=hi, colorscale="Viridis", showscale=i == 0,
            colorbar={"title": "log₁₀ ‖∇W‖", "len": 0.9},
            meta={"run": i, "series": "grad_norms"},
            hovertemplate="epoch %{x}, %{y}: 10^%{z:.2f}<extra>" + r.label + "</extra>"),
            row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(title={"text": "Gradient norm per layer over training (input layer at the bottom)",
                             "font": {"size": 15}},
                      height=row_height * rows + 70, margin={"l": 60, "r": 10, "t": 60, "b": 40})
    for i in range(n):
        if i + cols >= n:  # nothing below this panel
            fig.update_xaxes(title_text="epoch", title_standoff=2, row=i // cols + 1, col=i % cols + 1)
    return fig


def boundary_figure(runs: Sequence[RunProgress], xs: Sequence[float], ys: Sequence[float],
                    points_x: np.ndarray, points_y: np.ndarray, row_height: int = 300,
                    task: str = "classification") -> go.Figure:
    """Each run's output over the plane with the test points (as TensorFlow Playground does): P(class 1)
    for two classes, the predicted class for more, the predicted value for regression (points coloured by
    their target on the same scale)."""
    n = max(1, len(runs))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[r.label for r in runs],
                        horizontal_spacing=0.05, vertical_spacing=0.12 if rows > 1 else 0.1)
    regression = task == "regression"
    classes = [] if regression else sorted(set(points_y.tolist()))
    marker_colours = ["#E69F00", "#0072B2", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
    scale = float(np.abs(points_y).max()) if regression and len(points_y) else 1.0
    diverging = [[0, "#F59322"], [0.5, "#F7F7F7"], [1, "#0877BD"]]
    if regression:
        surface = {"zmin": -scale, "zmax": scale, "colorscale": diverging,
                   "hovertemplate": "predicted %{z:.3g}<extra></extra>"}
    elif len(classes) > 2:
        k = len(classes)
        steps = [s for j in range(k) for s in ([j / k, marker_colours[j % 8]], [(j + 1) / k, marker_colours[j % 8]])]
        surface = {"zmin": -0.5, "zmax": k - 0.5, "colorscale": steps, "opacity": 0.35,
                   "hovertemplate": "predicted class %{z:.0f}<extra></extra>"}
    else:
        surface = {"zmin": 0, "zmax": 1, "colorscale": [[0, "#F6D8A8"], [0.5, "#F7F7F7"], [1, "#A9CCE3"]],
                   "hovertemplate": "P(class 1) = %{z:.2f}<extra></extra>"}
    for i, r in enumerate(runs):
        row, col = i // cols + 1, i % cols + 1
        if r.boundary is not None:
            # numpy arrays: plotly validates them in one pass instead of element by element.
            fig.add_trace(go.Heatmap(z=np.asarray(r.boundary, dtype=np.float32), x=np.asarray(xs),
                                     y=np.asarray(ys), showscale=False, meta={"run": i, "series": "boundary"},
                                     **surface), row=row, col=col)
        if regression:
            fig.add_trace(go.Scatter(x=points_x[:, 0], y=points_x[:, 1], mode="markers",
                                     marker={"size": 5, "color": points_y, "cmin": -scale, "cmax": scale,
                                             "colorscale": diverging, "line": {"width": 0.6, "color": "#444"}},
                                     name="test points", showlegend=False, meta={"run": i, "series": "points"},
                                     hoverinfo="skip"), row=row, col=col)
        for k, cls in enumerate(classes):
            mask = points_y == cls
            fig.add_trace(go.Scatter(x=points_x[mask, 0], y=points_x[mask, 1], mode="markers",
                                     marker={"size": 4, "color": marker_colours[k % 8],
                                             "line": {"width": 0.5, "color": "white"}},
                                     name=f"class {cls}", showlegend=i == 0, legendgroup=f"c{cls}",
                                     meta={"run": i, "series": "points"}, hoverinfo="skip"), row=row, col=col)
    title = "Predicted value on the test points" if regression else "Decision boundary on the test points"
    fig.update_layout(title={"text": title, "font": {"size": 15}},
                      height=row_height * rows + 60, margin={"l": 30, "r": 10, "t": 60, "b": 30})
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, scaleanchor="x")
    return fig


def _gated(key: str) -> bool:
    """Whether a run's activation (by its canonical key, 'swiglu(beta=1.0)') is a gated unit."""
    name = key.split("(", 1)[0]
    return name in activations.REGISTRY and activations.get(name).gated


def results_table(runs: Sequence[RunProgress], task: str = "classification") -> pd.DataFrame:
    """The results table (as the UvA Deep Learning tutorial 3 reports it): one row per run, best first —
    by test accuracy, or for regression by test R² (with the test RMSE beside it)."""
    rows = []
    regression = task == "regression"
    for r in runs:
        s = r.summary or {}
        last_acc = r.history[-1].test_acc if r.history else None
        learned = s.get("learned") or {}
        score = ({"test R²": s.get("test_r2", getattr(r.history[-1], "test_r2", None) if r.history else None),
                  "test RMSE": s.get("test_rmse")} if regression else {"test accuracy": s.get("test_acc", last_acc)})
        rows.append({
            "activation": r.label + (" — gated layers: act(a)·b" if _gated(r.key) else ""),
            "status": str(getattr(r.status, "value", r.status)).replace("_", " "),
            **score,
            "best epoch": s.get("best_epoch"),
            **({} if regression else {"best val accuracy": s.get("best_val_acc")}),
            "epochs run": len(r.history),
            "s / epoch": s.get("seconds_per_epoch"),
            "dead neurons": s.get("dead_fraction"),
            "learned": ", ".join(f"{k} = " + "/".join(f"{v:.3g}" for v in vals) for k, vals in learned.items())
            or "—",
            "note": r.message or "—",
        })
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.sort_values("test R²" if regression else "test accuracy", ascending=False, na_position="last",
                            kind="stable")
    return df.reset_index(drop=True)


def confusion_figure(labels: Sequence[str], matrices: Sequence[Sequence[Sequence[int]]],
                     class_names: Sequence[str], row_height: int = 260) -> go.Figure:
    """Each run's test confusion matrix as a heatmap of counts (rows = true class, columns = predicted),
    the count written in every cell; the title of each panel gives its accuracy (trace / sum)."""
    n = max(1, len(matrices))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    titles = []
    for label, m in zip(labels, matrices, strict=True):
        a = np.asarray(m, dtype=float)
        acc = float(np.trace(a) / a.sum()) if a.sum() else math.nan
        # Two lines: "PReLU [learned init]: 92.7% correct" ran into its neighbours at 150 % zoom.
        titles.append(f"{plain(label)}<br>{acc:.1%} correct")
    layout = grid_layout(rows, cols, titles, 0.09, min(0.3, 160 / (row_height * rows)) if rows > 1 else 0.1)
    names = [plain(c) for c in class_names]  # a CSV's class names: text, never Plotly's HTML
    k = len(names)
    data = [{"type": "heatmap", "z": np.asarray(m, dtype=np.int64), "x": names, "y": names, "colorscale": BLUES,
             "showscale": False, "zmin": 0, "texttemplate": "%{z}", "meta": {"run": i, "series": "confusion"},
             "hovertemplate": "true %{y}, predicted %{x}: %{z} test samples<extra>" + plain(labels[i]) + "</extra>",
             **cell_axes(i)}
            for i, m in enumerate(matrices)]
    for name in axis_names(layout, "y"):
        layout[name].update(autorange="reversed", type="category", title={"text": "true class", "standoff": 2})
    for name in axis_names(layout, "x"):
        layout[name].update(type="category", title={"text": "predicted", "standoff": 2}, side="bottom")
    layout.update(title={"text": "Test confusion matrices (counts; rows = true class)", "font": {"size": 15}},
                  height=row_height * rows + 70 + 8 * max(0, k - 4), margin={"l": 60, "r": 10, "t": 90, "b": 40})
    return plain_figure(data, layout)


def history_frame(runs: Sequence[RunProgress]) -> pd.DataFrame:
    """Every epoch of every run in one tidy table (the CSV download)."""
    frames = [pd.DataFrame([h.as_dict() for h in r.history]).assign(activation=r.label) for r in runs if r.history]
    if not frames:
        return pd.DataFrame(columns=["activation", "epoch"])
    df = pd.concat(frames, ignore_index=True)
    return df[["activation"] + [c for c in df.columns if c != "activation"]]
