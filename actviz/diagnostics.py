"""Network internals: weight gradients per layer, activation outputs, dead neurons, init symmetry.

Choices (and why):
- Gradients are the real ``weight.grad`` after one forward and one backward of one batch, never the
  weights themselves (seed 003 printed the weights by mistake).
- Gradient histograms bin ``|g|`` on log-spaced edges: one bin per power of two (about 3.3 per decade).
  Seed 002's figure draws signed gradients with a different x-range per layer; on a linear axis a
  sigmoid net's input layer (|g| ~ 1e-5) collapses into one bar next to its output layer (~1e-1).  On
  log-spaced bins every layer keeps its shape and the distance between layers reads directly as
  orders of magnitude.  Exactly-zero entries have no logarithm: they are counted apart (``zeros``).
- Diagnostics cost little beyond the bare step: one ``forward_detailed`` pass keeps the pre- and
  post-activations that the backward pass needs anyway, statistics are a few reductions and a
  ``torch.histc`` on detached tensors, and the saturation test differentiates only the element-wise
  activation (autograd on the detached pre-activations, so custom formulas work too).
- A unit is *saturated* for a sample when ``|f'(pre-activation)| < eps``; the saturated fraction is
  over all (sample, unit) pairs of a layer.  A *dead* neuron outputs exactly 0 for every sample of the
  whole training set (seed 002's definition); counting it needs only inference, done in chunks under
  ``torch.inference_mode()``, and stops as soon as every unit has fired once (then none can be dead).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from actviz import models
from actviz.choice import ActivationChoice
from actviz.errors import InputError

EPS = 0.05              # default saturation threshold on |f'|, as the gallery's shading
EPS_MAX = 0.5
ACT_BINS = 40
MAX_OCTAVES = 64     # gradient histogram range: 64 octaves (19 decades) below the largest |g|
DEAD_CHUNK = 8192
MAX_BATCH = 65_536
MAX_COMPARE = 12
MAX_SYMMETRY_STEPS = 2000
SYMMETRY_RTOL = 1e-5    # units closer than this (relative to the weights' size) differ by float rounding only


# --- histograms ------------------------------------------------------------------------------------

@dataclass
class Histogram:
    edges: list[float]
    counts: list[int]
    zeros: int = 0        # exactly-zero values (log histograms only: they have no bin)
    log: bool = False     # edges log-spaced over |g|

    def to_json(self) -> dict[str, Any]:
        return {"edges": self.edges, "counts": self.counts, "zeros": self.zeros,
                "scale": "log2 |g|" if self.log else "linear"}


class _Workspace(threading.local):
    """Scratch buffers reused across calls (per thread), so repeated diagnostics do not fault in fresh pages."""

    LIMIT = 1 << 21  # elements; bigger tensors get a fresh allocation instead of a retained buffer

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def get(self, name: str, n: int, dtype: torch.dtype) -> torch.Tensor:
        if n > self.LIMIT:
            return torch.empty(n, dtype=dtype)
        buf = self.buffers.get((name, dtype))
        if buf is None or buf.numel() < n:
            buf = self.buffers[(name, dtype)] = torch.empty(max(n, 4096), dtype=dtype)
        return buf[:n]


_WS = _Workspace()


def log_abs_histogram(values: torch.Tensor) -> Histogram:
    """Counts of ``|values|`` in octaves ``(2^k, 2^(k+1)]`` over the occupied range, exact zeros apart.

    The octave is read from the float32 bit pattern: for ``|v| = 2^e (1 + m)`` with ``0 <= m < 1``,
    ``ceil(bits / 2^23) = e + 128`` (``e + 127`` for an exact power of two, hence right-closed octaves),
    and it is 0 only for an exact zero.  An integer add, a shift and a ``bincount``: exact, and several
    times cheaper than ``log10`` + ``histc``.  At most :data:`MAX_OCTAVES` octaves are kept below the
    largest value; smaller non-zero values are counted in the first bin.  Values must be finite.
    """
    v = values.detach().reshape(-1)
    if v.dtype != torch.float32:
        v = v.to(torch.float32)
    return _octave_histogram(_abs_bits(v))


def _abs_bits(v: torch.Tensor) -> torch.Tensor:
    """The bit patterns of ``|v|`` (float32, flat) in a scratch int32 buffer; ``.view(float32)`` is ``|v|``."""
    return torch.bitwise_and(v.view(torch.int32), 0x7FFFFFFF, out=_WS.get("key", v.numel(), torch.int32))


def _octave_histogram(abs_bits: torch.Tensor) -> Histogram:
    """Histogram from :func:`_abs_bits`'s output, which it overwrites."""
    if abs_bits.numel() == 0:
        return Histogram([], [], 0, True)
    key = abs_bits.add_(2**23 - 1).bitwise_right_shift_(23)
    counts = torch.bincount(key, minlength=256).tolist()
    zeros = counts[0]
    if zeros == abs_bits.numel():
        return Histogram([], [], zeros, True)
    first = next(k for k in range(1, len(counts)) if counts[k])
    last = next(k for k in range(len(counts) - 1, 0, -1) if counts[k])
    if last - first >= MAX_OCTAVES:
        cut = last - MAX_OCTAVES + 1
        counts[cut] += sum(counts[first:cut])
        first = cut
    return Histogram([2.0 ** (k - 128) for k in range(first, last + 2)], counts[first:last + 1], zeros, True)


def linear_histogram(values: torch.Tensor, bins: int = ACT_BINS) -> Histogram:
    """``bins`` equal-width bins from the smallest to the largest finite value."""
    v = values.detach().reshape(-1)
    n = v.numel()
    if n == 0:
        return Histogram([], [])
    lo_t, hi_t = torch.aminmax(v)
    lo, hi = float(lo_t), float(hi_t)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        v = v[torch.isfinite(v)]
        n = v.numel()
        if n == 0:
            return Histogram([], [])
        lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12 * max(1.0, abs(lo)):
        lo, hi = lo - 0.5, hi + 0.5
    scaled = torch.sub(v, lo, out=_WS.get("scaled", n, v.dtype)).mul_(bins / (hi - lo))  # in [0, bins]
    idx = _WS.get("idx", n, torch.int32)
    idx.copy_(scaled)  # truncation = floor for these non-negative values
    counts = torch.bincount(idx, minlength=bins + 1).tolist()
    counts[bins - 1] += sum(counts[bins:])  # the maximum itself (and rounding just above it): last bin
    counts = counts[:bins]
    step = (hi - lo) / bins
    return Histogram([lo + i * step for i in range(bins)] + [hi], counts)


# --- one batch: gradients and activation outputs ----------------------------------------------------

@dataclass
class LayerGradient:
    name: str
    shape: tuple[int, int]          # (out, in) of the weight
    grad_norm: float                # L2 norm of weight.grad
    grad_mean_abs: float
    grad_std: float                 # population std of the weight.grad entries
    bias_grad_norm: float
    hist: Histogram

    @property
    def zero_fraction(self) -> float:
        n = self.shape[0] * self.shape[1]
        return self.hist.zeros / n if n else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "grad_norm": self.grad_norm,
                "grad_mean_abs": self.grad_mean_abs, "grad_std": self.grad_std,
                "bias_grad_norm": self.bias_grad_norm, "zero_fraction": self.zero_fraction,
                "hist": self.hist.to_json()}


@dataclass
class ActivationStats:
    name: str
    units: int
    mean: float
    std: float
    zero_fraction: float            # share of (sample, unit) outputs exactly 0
    saturated_fraction: float       # share of (sample, unit) pairs with |f'(pre)| < eps
    hist: Histogram

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "mean": self.mean, "std": self.std,
                "zero_fraction": self.zero_fraction, "saturated_fraction": self.saturated_fraction,
                "hist": self.hist.to_json()}


@dataclass
class GradientReport:
    activation: ActivationChoice
    loss: float
    batch_size: int
    eps: float
    layers: list[LayerGradient]
    hidden: list[ActivationStats]

    @property
    def label(self) -> str:
        return self.activation.label

    @property
    def norms(self) -> list[float]:
        return [layer.grad_norm for layer in self.layers]

    def first_to_last(self) -> float | None:
        """First (input) layer's gradient norm over the last (output) layer's; None if undefined."""
        if len(self.layers) < 2 or self.layers[-1].grad_norm == 0:
            return None
        return self.layers[0].grad_norm / self.layers[-1].grad_norm

    def to_json(self) -> dict[str, Any]:
        return {"activation": self.activation.as_dict(), "label": self.label, "loss": self.loss,
                "batch_size": self.batch_size, "eps": self.eps,
                "layers": [layer.to_json() for layer in self.layers],
                "activations": [h.to_json() for h in self.hidden]}


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def derivatives(acts: Sequence[torch.nn.Module], pres: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """f'(pre) element-wise for each (activation, pre-activation) pair, by autograd through the activations
    alone (custom formulas included), in one backward call."""
    if not pres:
        return []
    with torch.enable_grad():
        zs = [z.detach().requires_grad_(True) for z in pres]
        outs = [act(z) for act, z in zip(acts, zs)]
        return list(torch.autograd.grad(outs, zs, [torch.ones_like(o) for o in outs]))


def derivative(act: torch.nn.Module, pre: torch.Tensor) -> torch.Tensor:
    return derivatives([act], [pre])[0]


def _layer_gradient(name: str, lin: torch.nn.Linear, with_hist: bool) -> LayerGradient:
    g = lin.weight.grad
    if g is None:
        g = torch.zeros_like(lin.weight)
    shape = (int(g.shape[0]), int(g.shape[1]))
    g = g.detach().reshape(-1).to(torch.float32)
    n = max(g.numel(), 1)
    bits = _abs_bits(g)
    bg = lin.bias.grad if lin.bias is not None and lin.bias.grad is not None else None
    sumsq, abs_sum, total, bias_sq = torch.stack([
        torch.dot(g, g), bits.view(torch.float32).sum(), g.sum(),
        torch.dot(bg, bg) if bg is not None else g.new_zeros(())]).tolist()
    if not (math.isfinite(sumsq) and math.isfinite(abs_sum)):
        raise InputError(f"the gradients of {name} are not finite: the network overflowed; try a smaller init scale")
    # std from the sums already taken; torch.std when cancellation would eat the digits (mean >> std).
    mean = total / n
    var = sumsq / n - mean * mean
    std = math.sqrt(var) if var > 1e-4 * mean * mean else float(g.std(correction=0))
    hist = _octave_histogram(bits) if with_hist else Histogram([], [], n - int(torch.count_nonzero(g)), True)
    return LayerGradient(name, shape, math.sqrt(sumsq), abs_sum / n, std, math.sqrt(bias_sq), hist)


def _activation_stats(name: str, d: torch.Tensor, post: torch.Tensor, eps: float,
                      with_hist: bool) -> ActivationStats:
    """Statistics of one hidden layer's outputs ``post``; ``d`` holds f'(pre-activation) (overwritten)."""
    flat = post.detach().reshape(-1)
    n = max(flat.numel(), 1)
    d = d.reshape(-1)
    total, sumsq = torch.stack([flat.sum(), torch.dot(flat, flat)]).tolist()
    mean = total / n
    var = sumsq / n - mean * mean
    std = math.sqrt(var) if var > 1e-4 * mean * mean else float(flat.std(correction=0))
    mask = _WS.get("mask", flat.numel(), torch.bool)
    zeros = int(torch.count_nonzero(torch.eq(flat, 0, out=mask)))  # counting bools is branch-free
    saturated = int(torch.count_nonzero(torch.lt(d.abs_(), eps, out=mask)))
    hist = linear_histogram(flat) if with_hist else Histogram([], [])
    return ActivationStats(name, int(post.shape[1]), mean, std, zeros / n, saturated / n, hist=hist)


def hidden_names(model: models.MLP) -> list[str]:
    return [f"H{i + 1} ({h})" for i, h in enumerate(model.hidden)]


def gradient_report(model: models.MLP, x: torch.Tensor, y: torch.Tensor, eps: float = EPS,
                    histograms: bool = True) -> GradientReport:
    """One forward and one backward of ``(x, y)``; statistics of every Linear layer's ``weight.grad``.

    The model's ``.grad`` fields are left filled in (no optimizer step is taken).
    """
    eps = check_eps(eps)
    model.zero_grad(set_to_none=True)
    logits, pre, post = model.forward_detailed(x)
    loss = models.loss_fn(logits, y)
    loss.backward()
    layers = [_layer_gradient(name, lin, histograms) for name, lin in zip(model.layer_names(), model.linears)]
    slopes = derivatives(model.acts, pre)
    hidden = [_activation_stats(name, d, h, eps, histograms) for name, d, h in zip(hidden_names(model), slopes, post)]
    return GradientReport(model.activation, float(loss.detach()), int(x.shape[0]), eps, layers, hidden)


# --- dead neurons over a whole dataset ------------------------------------------------------------

@dataclass
class DeadNeurons:
    counts: tuple[int, ...]             # per hidden layer
    sizes: tuple[int, ...]
    n_samples: int
    saturated_fraction: tuple[float, ...] | None = None  # over every (sample, unit) pair, when asked

    @property
    def fractions(self) -> list[float]:
        return [c / s if s else 0.0 for c, s in zip(self.counts, self.sizes)]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def total_fraction(self) -> float:
        units = sum(self.sizes)
        return self.total / units if units else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"dead": list(self.counts), "dead_fraction": self.fractions,
                "saturated_fraction": list(self.saturated_fraction) if self.saturated_fraction is not None else None,
                "units": list(self.sizes), "n_samples": self.n_samples, "total_dead_fraction": self.total_fraction}


def dead_neurons(model: models.MLP, x: torch.Tensor, batch_size: int = DEAD_CHUNK, eps: float | None = None,
                 stop_early: bool = True) -> DeadNeurons:
    """Units whose activation is exactly 0 for every row of ``x`` (and, with ``eps``, saturated shares).

    With ``stop_early`` (and no ``eps``) the pass ends once every unit has fired: none can be dead.
    """
    sizes = tuple(model.hidden)
    alive = [torch.zeros(h, dtype=torch.bool) for h in sizes]
    saturated = [0] * len(sizes)
    n = int(x.shape[0])
    if eps is not None:
        eps = check_eps(eps)
    context = torch.inference_mode() if eps is None else torch.no_grad()
    with context:
        for start in range(0, n, batch_size):
            h = x[start:start + batch_size]
            for i, (lin, act) in enumerate(zip(model.linears, model.acts)):
                z = lin(h)
                h = act(z)
                # some output != 0  <=>  column max != 0 or column min != 0 (two fast reductions, no mask)
                alive[i] |= (h.amax(dim=0) != 0) | (h.amin(dim=0) != 0)
                if eps is not None:
                    saturated[i] += int((derivative(act, z).abs() < eps).sum())
            if stop_early and eps is None and all(bool(a.all()) for a in alive):
                break
    counts = tuple(int((~a).sum()) for a in alive)
    sat = tuple(s / (n * u) if n * u else 0.0 for s, u in zip(saturated, sizes)) if eps is not None else None
    return DeadNeurons(counts, sizes, n, sat)


# --- the same batch and the same initial weights for every activation -------------------------------

def check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) \
            or not 0 <= eps <= EPS_MAX:
        raise InputError(f"the saturation threshold must be a number in [0, {EPS_MAX:g}], got {eps!r}")
    return float(eps)


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise InputError(f"the batch size must be a whole number from 1 to {MAX_BATCH}, got {batch_size!r}")
    return batch_size


def seeded_batch(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` rows drawn without replacement with ``seed`` (all rows, in order, if it is larger)."""
    n = int(x.shape[0])
    if batch_size >= n:
        return x, y
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:batch_size]
    return x[idx], y[idx]


@dataclass
class Comparison:
    """Gradient reports (and dead-neuron counts) of several activations from identical initial weights."""

    dataset: str                       # dataset description
    sizes: tuple[int, ...]             # n_in, hidden..., n_out
    init: models.InitSpec
    seed: int
    batch_size: int
    reports: list[GradientReport]
    dead: list[DeadNeurons] | None = None
    layer_names: list[str] = field(default_factory=list)
    hidden_names: list[str] = field(default_factory=list)
    train_samples: int = 0

    def to_json(self) -> dict[str, Any]:
        runs = []
        for i, r in enumerate(self.reports):
            item = r.to_json()
            if self.dead is not None:
                item["neurons"] = self.dead[i].to_json()
            runs.append(item)
        return {"dataset": self.dataset, "sizes": list(self.sizes), "init": self.init.as_dict(), "seed": self.seed,
                "batch_size": self.batch_size, "layer_names": self.layer_names, "hidden_names": self.hidden_names,
                "runs": runs}


def _unique(choices: Sequence[ActivationChoice]) -> tuple[ActivationChoice, ...]:
    if not choices:
        raise InputError("choose at least one activation")
    if len(choices) > MAX_COMPARE:
        raise InputError(f"at most {MAX_COMPARE} activations can be compared at once")
    keys = [c.key for c in choices]
    if len(set(keys)) != len(keys):
        raise InputError("the same activation (with the same parameters) is listed twice")
    return tuple(choices)


def compare_at_init(dataset: Any, hidden: Sequence[int], choices: Sequence[ActivationChoice],
                    init: models.InitSpec | None = None, seed: int = 0, batch_size: int = 256,
                    eps: float = EPS, dead: bool = True) -> Comparison:
    """Each activation on the same seeded batch from the same initial weights (``seed`` for both).

    ``dataset`` is a :class:`actviz.datasets.Dataset` (or anything with ``x_train``, ``y_train``,
    ``n_features``, ``n_classes``).  With ``dead``, dead neurons are counted over all of ``x_train``.
    """
    choices = _unique(choices)
    init = init or models.InitSpec()
    batch_size = check_batch_size(batch_size)
    eps = check_eps(eps)
    n_out = models.output_size(int(dataset.n_classes))
    xb, yb = seeded_batch(dataset.x_train, dataset.y_train, batch_size, seed)
    reports, deads = [], []
    model = None
    for c in choices:
        model = models.build_mlp(int(dataset.n_features), hidden, n_out, c, init, seed)
        reports.append(gradient_report(model, xb, yb, eps))
        if dead:
            deads.append(dead_neurons(model, dataset.x_train))
    assert model is not None
    return Comparison(getattr(dataset, "description", ""), (model.n_in, *model.hidden, model.n_out), init, seed,
                      int(xb.shape[0]), reports, deads if dead else None, model.layer_names(), hidden_names(model),
                      int(dataset.x_train.shape[0]))


# --- zero / constant init: symmetric units stay symmetric ------------------------------------------

@dataclass
class LayerSymmetry:
    name: str
    units: int
    row_spread: float      # max |W[i, :] - W[0, :]| over rows i (0: every unit has the same incoming weights)
    bias_spread: float
    weight_std: float

    weight_max: float = 0.0  # max |W| (the scale the spread is compared with)
    bias_max: float = 0.0

    @property
    def identical(self) -> bool:
        """Every unit has the same incoming weights and bias, up to float rounding of the reductions."""
        return (self.row_spread <= SYMMETRY_RTOL * self.weight_max + 1e-15
                and self.bias_spread <= SYMMETRY_RTOL * self.bias_max + 1e-15)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "row_spread": self.row_spread,
                "bias_spread": self.bias_spread, "weight_std": self.weight_std, "weight_max": self.weight_max,
                "identical": self.identical}


@dataclass
class SymmetryReport:
    activation: ActivationChoice
    init: models.InitSpec
    steps: int
    lr: float
    losses: list[float]
    train_accuracy: float
    layers: list[LayerSymmetry]      # hidden layers only
    first_weights: list[list[float]]  # first hidden layer's weight matrix (at most 32 x 32 shown)

    @property
    def label(self) -> str:
        return self.activation.label

    @property
    def all_identical(self) -> bool:
        return all(layer.identical for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {"activation": self.activation.as_dict(), "label": self.label, "init": self.init.as_dict(),
                "steps": self.steps, "lr": self.lr, "losses": [_finite_or_none(v) for v in self.losses],
                "train_accuracy": self.train_accuracy, "all_identical": self.all_identical,
                "layers": [layer.to_json() for layer in self.layers], "first_weights": self.first_weights}


def zero_init_symmetry(dataset: Any, hidden: Sequence[int], choice: ActivationChoice,
                       init: models.InitSpec | None = None, seed: int = 0, steps: int = 100, lr: float = 0.2,
                       batch_size: int = 0) -> SymmetryReport:
    """Train ``steps`` plain SGD steps and measure how different each hidden layer's units became.

    With zero (or any constant) weights every hidden unit computes the same thing and receives the
    same gradient, so the units stay identical however long you train (seed 003: accuracy ~ 50 %).
    ``batch_size`` 0 means full batch (seed 003); otherwise seeded mini-batches.
    """
    init = init or models.InitSpec("zeros", bias=0.0)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_SYMMETRY_STEPS:
        raise InputError(f"the number of steps must be a whole number from 1 to {MAX_SYMMETRY_STEPS}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or not 0 < lr <= 100:
        raise InputError(f"the learning rate must be a number in (0, 100], got {lr!r}")
    if batch_size:
        check_batch_size(batch_size)
    n_out = models.output_size(int(dataset.n_classes))
    model = models.build_mlp(int(dataset.n_features), hidden, n_out, choice, init, seed)
    opt = torch.optim.SGD(model.parameters(), lr=float(lr))
    x, y = dataset.x_train, dataset.y_train
    n = int(x.shape[0])
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        if batch_size and batch_size < n:
            idx = torch.randint(n, (batch_size,), generator=gen)
            xb, yb = x[idx], y[idx]
        else:
            xb, yb = x, y
        opt.zero_grad(set_to_none=True)
        loss = models.loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    layers = []
    with torch.no_grad():
        acc = float((models.predict(model(x)) == y).to(torch.float32).mean())
        for name, lin in zip(hidden_names(model), model.linears[:-1]):
            w, b = lin.weight, lin.bias
            layers.append(LayerSymmetry(name, int(w.shape[0]), float((w - w[:1]).abs().max()),
                                        float((b - b[:1]).abs().max()), float(w.std(correction=0)),
                                        float(w.abs().max()), float(b.abs().max())))
        first = model.linears[0].weight[:32, :32].tolist() if model.hidden else []
    return SymmetryReport(choice, init, steps, float(lr), losses, acc, layers, first)
