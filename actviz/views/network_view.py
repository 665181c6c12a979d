"""What the training lab's network view shows, computed from a run's weights (UI-free).

The engine publishes each small 2-D run's current weights (per Linear layer, ``(W, b)``); from those and
the job's config this module rebuilds the network and evaluates every neuron over a grid covering the
input plane, the output over a finer grid, and one neuron's pre-activations over the training data
with its activation's slope f′ by autograd.  Nothing here depends on Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from actviz import limits
from actviz.activations import curves
from actviz.cache import memo
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import models
from actviz.plots.network_view import NetworkPicture, NeuronDetail, edge_intervals, network_figure, png, render
from actviz.training.config import TrainConfig
from actviz.training.engine import boundary_grid

GRID = 40            # each neuron's heatmap: GRID x GRID points over the plane
SURFACE_GRID = 80    # the output panel
MAX_UNITS = getattr(limits, "NETVIEW_MAX_UNITS", 16)    # per hidden layer, as many as a screen shows
MAX_LAYERS = getattr(limits, "NETVIEW_MAX_LAYERS", 6)
MAX_POINTS = 400     # data points drawn on the output panel
SATURATION_EPS = 0.05
HIST_BINS = 40

Weights = Sequence[tuple[Any, Any]]


def unsupported(cfg: TrainConfig) -> str | None:
    """Why this setup has no network view (None when it has one)."""
    ds = datasets.load(cfg.dataset)
    if not ds.is_2d:
        return ("The network view draws each neuron over the input plane, so it needs one of the 2-D datasets "
                "(moons, circles, xor, spiral, gaussian).")
    if len(cfg.hidden) > MAX_LAYERS or any(h > MAX_UNITS for h in cfg.hidden):
        return (f"The network view draws up to {MAX_LAYERS} hidden layers of at most {MAX_UNITS} neurons; "
                f"this network has {models.format_hidden(cfg.hidden) or 'no hidden layer'}.")
    return None


def planned(cfg: TrainConfig, run: int) -> tuple[Any, int]:
    """(activation, seed) of run ``run`` (a job may train each activation from several seeds)."""
    plan = getattr(cfg, "plan", None)
    if callable(plan):
        p = plan()[run]
        return p.activation, p.seed
    return cfg.activations[run], cfg.seed


def activation_of(cfg: TrainConfig, run: int, layer: int) -> Any:
    """The activation choice of one hidden layer of one run (a run may give one per layer)."""
    act, _ = planned(cfg, run)
    per_layer = getattr(act, "layers", None)
    if per_layer:
        return per_layer[min(layer, len(per_layer) - 1)]
    return act


def features_of(cfg: TrainConfig) -> tuple[str, ...]:
    """The input features the network expands each point into (``()``: x1 and x2 as they are)."""
    return tuple(getattr(cfg, "features", ()) or ())


def build_model(cfg: TrainConfig, run: int, weights: Weights | Mapping[str, Any]) -> models.MLP:
    """The run's network with ``weights`` loaded (a state dict, or ``(W, b)`` per Linear layer)."""
    ds = datasets.load(cfg.dataset)
    act, seed = planned(cfg, run)
    extra = {"features": features_of(cfg)} if features_of(cfg) else {}
    model = models.build_mlp(ds.n_features, cfg.hidden, _n_out(ds), act, cfg.init, seed, **extra)
    if isinstance(weights, Mapping):
        model.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()}, strict=False)
    else:
        if len(weights) != len(model.linears):
            raise InputError(f"expected weights for {len(model.linears)} layers, got {len(weights)}")
        with torch.no_grad():
            for lin, (w, b) in zip(model.linears, weights, strict=True):
                lin.weight.copy_(torch.as_tensor(np.asarray(w, dtype=np.float32)).reshape(lin.weight.shape))
                lin.bias.copy_(torch.as_tensor(np.asarray(b, dtype=np.float32)).reshape(lin.bias.shape))
    model.eval()
    return model


def weights_of(model: models.MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` per Linear layer as numpy copies (the shape the engine publishes)."""
    return [(lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy()) for lin in model.linears]


def _n_out(ds: datasets.Dataset) -> int:
    if getattr(ds, "task", "classification") == "regression":
        return 1
    return models.output_size(ds.n_classes)


_PLAIN = str.maketrans({"₁": "1", "₂": "2", "·": "*", "²": "^2"})  # glyphs the raster's font lacks


def input_names(cfg: TrainConfig) -> tuple[str, ...]:
    """The input column's names (x1, x2, or the chosen features: x1², sin x1 …), in the raster's font."""
    feats = features_of(cfg)
    if not feats:
        return ("x1", "x2")
    from actviz.network import features as features_mod

    return tuple(label.translate(_PLAIN) for label in features_mod.labels(feats))


def expanded(cfg: TrainConfig, pts: torch.Tensor) -> torch.Tensor:
    """The network's inputs at ``pts``: the points themselves, or their features."""
    feats = features_of(cfg)
    if not feats:
        return pts
    from actviz.network import features as features_mod

    return features_mod.expand(pts, feats)


def _plane(ds: datasets.Dataset, resolution: int) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    pts, xs, ys = boundary_grid(ds, resolution)
    return pts, (xs[0], xs[-1], ys[0], ys[-1])


def _to_grid(values: torch.Tensor, resolution: int) -> np.ndarray:
    """[R*R, units] -> [units, R, R] (rows = y from low to high, as the grid was built)."""
    return values.T.reshape(values.shape[1], resolution, resolution).numpy().astype(np.float64)


@torch.inference_mode()
def picture(cfg: TrainConfig, run: int, weights: Weights | Mapping[str, Any],
            selected: tuple[int, int] | None = None) -> NetworkPicture:
    """Every neuron of one run over the input plane, the output surface and the data."""
    ds = datasets.load(cfg.dataset)
    model = build_model(cfg, run, weights)
    pts, extent = _plane(ds, GRID)
    _, _, post = model.forward_detailed(pts)
    hidden = tuple(_to_grid(p, GRID) for p in post)
    inputs = _to_grid(expanded(cfg, pts), GRID)
    fine, _ = _plane(ds, SURFACE_GRID)
    logits = model(fine)
    regression = getattr(ds, "task", "classification") == "regression"
    if regression:
        surface, kind, title = logits[:, 0], "value", "output: predicted value"
    elif logits.shape[1] == 1:
        surface, kind, title = torch.sigmoid(logits[:, 0]), "probability", "output: P(class 1) and the data"
    else:
        surface, kind, title = models.predict(logits).to(torch.float32), "classes", "output: predicted class"
    output = surface.reshape(SURFACE_GRID, SURFACE_GRID).numpy().astype(np.float64)
    _, _, train_post = model.forward_detailed(ds.x_train)
    dead = tuple(((p == 0).all(dim=0)).numpy() for p in train_post)
    gen = np.random.default_rng(cfg.seed)
    n = len(ds.x_train)
    keep = np.sort(gen.choice(n, MAX_POINTS, replace=False)) if n > MAX_POINTS else np.arange(n)
    points = ds.x_train.numpy()[keep, :2].astype(np.float64)
    values = ds.y_train.numpy()[keep].astype(np.float64)
    scale = float(np.abs(ds.y_train.numpy()).max()) if regression and n else 1.0
    titles = tuple(f"hidden {i + 1} · {activation_of(cfg, run, i).label}" for i in range(len(cfg.hidden)))
    weights_np, biases_np = drawn_weights(model)
    return NetworkPicture(
        input_names=input_names(cfg), inputs=inputs, hidden_titles=titles, hidden=hidden,
        weights=weights_np, biases=biases_np,
        output=output, output_kind=kind, output_title=title, points=points, point_values=values,
        extent=extent, dead=dead, value_scale=scale or 1.0, selected=selected)


def drawn_weights(model: models.MLP) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Each Linear layer's weights and biases as drawn: a gated layer's (GLU's) first projection, the gate
    input ``a`` of act(a)·b, so each hidden unit has one incoming edge per input."""
    ws, bs = [], []
    for i, lin in enumerate(model.linears):
        w, b = lin.weight.detach().numpy().astype(np.float64), lin.bias.detach().numpy().astype(np.float64)
        if i < len(model.acts) and getattr(model.acts[i], "gated", False):
            w, b = w[:model.hidden[i]], b[:model.hidden[i]]
        ws.append(w)
        bs.append(b)
    return tuple(ws), tuple(bs)


def neuron_detail(cfg: TrainConfig, run: int, weights: Weights | Mapping[str, Any], layer: int, unit: int,
                  eps: float = SATURATION_EPS) -> NeuronDetail:
    """One hidden neuron: histogram of its pre-activation over the training data and its activation's f′."""
    ds = datasets.load(cfg.dataset)
    model = build_model(cfg, run, weights)
    if not 0 <= layer < len(model.acts) or not 0 <= unit < model.hidden[layer]:
        raise InputError(f"there is no neuron {unit + 1} in hidden layer {layer + 1}")
    with torch.inference_mode():
        _, pre, _ = model.forward_detailed(ds.x_train)
    z_data = pre[layer][:, unit].numpy().astype(np.float64)
    finite = z_data[np.isfinite(z_data)]
    lo = float(min(finite.min(), -3.0)) if finite.size else -3.0
    hi = float(max(finite.max(), 3.0)) if finite.size else 3.0
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    counts, edges = np.histogram(finite, bins=HIST_BINS, range=(lo, hi))
    module = model.acts[layer]
    act = getattr(module, "elementwise", module)  # a gated unit: its gate's element-wise act
    z = torch.linspace(lo, hi, 801, dtype=torch.float64)
    _, slope, _ = curves.derivatives(lambda x: act(x.to(torch.float32)).to(torch.float64), z)
    slope_np = slope.numpy()
    zs = z.numpy()
    saturated = edge_intervals(zs, np.abs(slope_np) < eps)
    dead = edge_intervals(zs, slope_np == 0)
    _, data_slope, _ = curves.derivatives(lambda x: act(x), torch.as_tensor(finite, dtype=torch.float32))
    in_sat = np.zeros(finite.shape, dtype=bool)
    for a, b in saturated:
        in_sat |= (finite >= a) & (finite <= b)
    share_dead = float((data_slope.numpy() == 0).mean()) if finite.size else 0.0
    label = activation_of(cfg, run, layer).label
    return NeuronDetail(
        title=f"hidden {layer + 1}, neuron {unit + 1} ({label}): where the data sit on f′",
        counts=counts, edges=edges, z=zs, slope=slope_np, eps=eps, saturated=saturated, dead=dead,
        share_saturated=float(in_sat.mean()) if finite.size else 0.0, share_dead=share_dead)


@memo(maxsize=32, key=lambda job, run, weights, selected=None: (job.id, job.version, run, selected))
def cached_picture(job: Any, run: int, weights: Any, selected: tuple[int, int] | None = None) -> NetworkPicture:
    """:func:`picture` once per job version (every session watching a job shares it)."""
    return picture(job.config, run, weights, selected)


@memo(maxsize=32, key=lambda job, run, weights, selected=None: (job.id, job.version, run, selected))
def cached_png(job: Any, run: int, weights: Any, selected: tuple[int, int] | None = None) -> bytes:
    """The network view as PNG bytes, once per job version."""
    image, _ = render(cached_picture(job, run, weights, selected))
    return png(image)


@memo(maxsize=16, key=lambda job, run, weights, selected=None: (job.id, job.version, run, selected))
def cached_figure(job: Any, run: int, weights: Any, selected: tuple[int, int] | None = None) -> Any:
    """The network view as an interactive figure (hover, click to pick a neuron), once per job version."""
    pic = cached_picture(job, run, weights, selected)
    image, layout = render(pic)
    return network_figure(pic, image, layout)


@memo(maxsize=32, key=lambda job, run, weights, layer, unit: (job.id, job.version, run, layer, unit))
def cached_detail(job: Any, run: int, weights: Any, layer: int, unit: int) -> NeuronDetail:
    return neuron_detail(job.config, run, weights, layer, unit)


def live_weights(run_progress: Any) -> Any:
    """The weights the engine last published for a run (None until it publishes any)."""
    return getattr(run_progress, "weights", None)
