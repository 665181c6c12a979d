"""Network internals: weight gradients per layer, activation outputs, dead neurons, init symmetry.

Choices (and why):
- Gradients are the real ``weight.grad`` after one forward and one backward of one batch, never the
  weights themselves (a common mistake is to print the weights).
- Gradient histograms bin ``|g|`` on log-spaced edges (see :mod:`.histograms`).
- Diagnostics cost little beyond the bare step: one ``forward_detailed`` pass keeps the pre- and
  post-activations that the backward pass needs anyway, statistics are a few reductions and a
  ``torch.histc`` on detached tensors, and the saturation test differentiates only the element-wise
  activation (autograd on the detached pre-activations, so custom formulas work too).
- A unit is *saturated* for a sample when ``|f'(pre-activation)| < eps``; the saturated fraction is
  over all (sample, unit) pairs of a layer.  A *dead* neuron outputs exactly 0 for every sample of the
  whole training set (the UvA Deep Learning tutorial 3's definition); counting it needs only inference,
  done in chunks under ``torch.inference_mode()``, and stops as soon as every unit has fired once (then
  none can be dead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from actviz import limits, validate
from actviz.activations.choice import ActivationChoice
from actviz.errors import InputError
from actviz.network import features as features_mod
from actviz.network import models
from actviz.network.histograms import WORKSPACE, Histogram, abs_bits, linear_histograms, octave_histograms

EPS = 0.05              # default saturation threshold on |f'|, as the gallery's shading
DEAD_CHUNK = 8192
DEAD_FIRST_CHUNK = 256  # with stop_early, chunks grow from this size: most nets have every unit firing by then


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
    # sqrt(mean f'(pre)^2) over (sample, unit) pairs: the factor by which this layer scales the size of
    # the gradient passing back through it (ReLU: sqrt(share of active units); Swish near 0: about 1/2).
    slope_rms: float = math.nan

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "mean": self.mean, "std": self.std,
                "zero_fraction": self.zero_fraction, "saturated_fraction": self.saturated_fraction,
                "slope_rms": finite_or_none(self.slope_rms), "hist": self.hist.to_json()}


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


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def derivatives(acts: Sequence[torch.nn.Module], pres: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """f'(pre) element-wise for each (activation, pre-activation) pair, by autograd through the activations
    alone (custom formulas included), in one backward call."""
    if not pres:
        return []
    with torch.enable_grad():
        zs = [z.detach().requires_grad_(True) for z in pres]
        outs = [act.elementwise(z) for act, z in zip(acts, zs)]
        return list(torch.autograd.grad(outs, zs, [torch.ones_like(o) for o in outs]))


def derivative(act: torch.nn.Module, pre: torch.Tensor) -> torch.Tensor:
    return derivatives([act], [pre])[0]


def _slopes(acts: Sequence[models.ActivationModule], pre: Sequence[torch.Tensor],
            post: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """f'(pre) of every hidden layer, from the forward pass's own graph where it computed post = f(pre).

    Differentiating post w.r.t. pre through that graph (kept for the backward pass that follows) runs
    only the activations' backward kernels on the tensors they saved: the same values as
    :func:`derivatives` without computing the activations again.  Gated layers (post = f(a, b), the
    slope is that of f(a, 1)) and training-mode RReLU (random slopes) recompute the element-wise act.
    """
    reuse = [i for i, act in enumerate(acts)
             if act.forward_is_elementwise and pre[i].requires_grad and post[i].requires_grad]
    fresh = [i for i in range(len(acts)) if i not in reuse]
    out: list[torch.Tensor | None] = [None] * len(acts)
    if reuse:
        # Every layer's output gradient is one 1 expanded (no buffer to fill, one input less to read).
        one = torch.ones((), dtype=post[reuse[0]].dtype)
    for i in reuse:
        grad_out = one.expand_as(post[i])
        node = post[i].grad_fn
        if len(node.next_functions) == 1 and node.next_functions[0] == (pre[i].grad_fn, pre[i].output_nr):
            # A one-op act (ReLU, sigmoid, tanh, GELU, ...): its backward node alone maps ones to f'(pre),
            # called directly, without the autograd engine's per-call setup (~50 us).  Grad mode off, as
            # in the engine: with it on some nodes switch to a differentiable (differently rounded) formula.
            with torch.no_grad():
                g = node(grad_out)
        else:  # one call per layer: in one call, later layers' outputs would add to earlier slopes
            (g,) = torch.autograd.grad(post[i], pre[i], grad_out, retain_graph=True)
        # an act that passes its gradient through (identity) returns the expanded 1 itself: the caller
        # overwrites the slopes, so they get their own (contiguous) copy
        out[i] = g.clone() if g.untyped_storage().data_ptr() == one.untyped_storage().data_ptr() else g
    for i, g in zip(fresh, derivatives([acts[i] for i in fresh], [pre[i] for i in fresh])):
        out[i] = g
    return out  # type: ignore[return-value]


def _std(mean: float, sumsq: float, n: int, values: torch.Tensor) -> float:
    """Population std from the sums already taken; torch.std when cancellation would eat the digits (mean >> std)."""
    var = sumsq / n - mean * mean
    return math.sqrt(var) if var > 1e-4 * mean * mean else float(values.std(correction=0))


def _layer_gradients(names: Sequence[str], linears: Sequence[torch.nn.Linear], with_hist: bool) -> list[LayerGradient]:
    """Statistics of every layer's ``weight.grad``: the |g| bit patterns of all layers go into one scratch
    buffer, so the histogram keys of every layer take one add and one shift, and every statistic and
    count comes back in one ``.tolist()`` (two calls in all, instead of several per layer)."""
    grads, biases = [], []
    for lin in linears:
        g = lin.weight.grad
        if g is None:
            g = torch.zeros_like(lin.weight)
        g = g.detach().reshape(-1)
        grads.append(g if g.dtype == torch.float32 else g.to(torch.float32))
        biases.append(lin.bias.grad if lin.bias is not None and lin.bias.grad is not None else None)
    sizes = [g.numel() for g in grads]
    bits = WORKSPACE.get("key", sum(sizes), torch.int32)
    parts = []
    for g, seg, bg in zip(grads, bits.split(sizes), biases):
        abs_bits(g, out=seg)
        parts += [torch.dot(g, g), seg.view(torch.float32).sum(), g.sum(),
                  torch.dot(bg, bg) if bg is not None else g.new_zeros(())]
    sums = torch.stack(parts).view(-1, 4).tolist() if parts else []
    for name, (sumsq, abs_sum, _, _) in zip(names, sums):
        if not (math.isfinite(sumsq) and math.isfinite(abs_sum)):
            raise InputError(f"the gradients of {name} are not finite: the network overflowed; "
                             "try a smaller init scale")
    if with_hist:
        hists = octave_histograms(bits, sizes)
    else:
        nonzero = torch.stack([torch.count_nonzero(g) for g in grads]).tolist() if grads else []
        hists = [Histogram([], [], n - nz, True) for n, nz in zip(sizes, nonzero)]
    out = []
    for name, lin, g, (sumsq, abs_sum, total, bias_sq), hist in zip(names, linears, grads, sums, hists):
        n = max(g.numel(), 1)
        shape = (int(lin.weight.shape[0]), int(lin.weight.shape[1]))
        out.append(LayerGradient(name, shape, math.sqrt(sumsq), abs_sum / n, _std(total / n, sumsq, n, g),
                                 math.sqrt(bias_sq), hist))
    return out


def _activation_stats(names: Sequence[str], acts: Sequence[models.ActivationModule], pres: Sequence[torch.Tensor],
                      posts: Sequence[torch.Tensor], eps: float, with_hist: bool) -> list[ActivationStats]:
    """Statistics of each hidden layer's outputs and slopes f'(pre-activation).

    Every layer's sums, counts and range come back in one ``.tolist()`` per kind, and the histograms
    in one more.  The slopes of every layer are taken first (taking each just before its layer's
    statistics measured ~0.03x slower on the FashionMNIST net)."""
    flats = [p.detach().reshape(-1) for p in posts]
    if not flats:
        return []
    longest = max(h.numel() for h in flats)
    mask, shifted = WORKSPACE.get("mask", longest, torch.bool), WORKSPACE.get("key", longest, torch.int32)
    sums, counts = [], []
    for d, h in zip(_slopes(acts, pres, posts), flats):
        d = d.reshape(-1)
        n = h.numel()
        lo, hi = torch.aminmax(h) if n else (h.new_zeros(()), h.new_zeros(()))
        sums += [h.sum(), torch.dot(h, h), torch.dot(d, d), lo, hi]
        if h.dtype == torch.float32:
            # Non-zero entries: shifting the float32 bits left by one drops the sign, so 0.0 and -0.0
            # (and only they) become 0; counting non-zero ints is ~4x faster than == 0 plus a count.
            nonzero = torch.count_nonzero(torch.bitwise_left_shift(h.view(torch.int32), 1, out=shifted[:n]))
        else:
            nonzero = n - torch.count_nonzero(torch.eq(h, 0, out=mask[:n]))
        counts += [nonzero, torch.count_nonzero(torch.lt(d.abs_(), eps, out=mask[:n]))]
    sums_l = torch.stack(sums).view(-1, 5).tolist()
    counts_l = torch.stack(counts).view(-1, 2).tolist()
    hists = (linear_histograms(flats, ranges=[(lo, hi) for *_, lo, hi in sums_l]) if with_hist
             else [Histogram([], []) for _ in flats])
    out = []
    for name, h, post, (total, sumsq, slope_sq, _, _), (nonzero, saturated), hist in zip(
            names, flats, posts, sums_l, counts_l, hists):
        n = max(h.numel(), 1)
        mean = total / n
        zeros = h.numel() - nonzero
        slope_rms = math.sqrt(slope_sq / n) if math.isfinite(slope_sq) else math.nan
        out.append(ActivationStats(name, int(post.shape[1]), mean, _std(mean, sumsq, n, h), zeros / n, saturated / n,
                                   hist=hist, slope_rms=slope_rms))
    return out


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
    # The backward pass first, with the CPU cache as the bare step leaves it (statistics computed before
    # it evict what it reads: ~0.5 ms on the FashionMNIST net), keeping its graph: the slopes are read
    # off it afterwards.  The weight gradients are read while they are still in the cache.
    loss.backward(retain_graph=True)
    layers = _layer_gradients(model.layer_names(), model.linears, histograms)
    hidden = _activation_stats(hidden_names(model), model.acts, pre, post, eps, histograms)
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

    With ``stop_early`` (and no ``eps``) the pass ends once every unit has fired: none can be dead.  Its
    chunks then start at ``DEAD_FIRST_CHUNK`` rows and double up to ``batch_size``: a net whose units all
    fire in the first rows (tanh, GELU, Swish, most ReLU nets) costs a forward over a few hundred rows,
    not over 8,192 (a training job counts its runs' dead units when they end; on the FashionMNIST net
    that was a sixth of a 2-epoch job); one with a dead unit still reads every row, in a few more calls.
    """
    sizes = tuple(model.hidden)
    alive = [torch.zeros(h, dtype=torch.bool) for h in sizes]
    saturated = [0] * len(sizes)
    n = int(x.shape[0])
    if eps is not None:
        eps = check_eps(eps)
    context = torch.inference_mode() if eps is None else torch.no_grad()
    growing = stop_early and eps is None
    chunk = min(batch_size, DEAD_FIRST_CHUNK) if growing else batch_size
    start = 0
    with context:
        while start < n:
            h = features_mod.expand(x[start:start + chunk], getattr(model, "features", ()))
            start += chunk
            if growing:
                chunk = min(batch_size, 2 * chunk)
            for i, (lin, act) in enumerate(zip(model.linears, model.acts)):
                z = lin(h)
                h = act(z)
                # some output != 0  <=>  column max != 0 or column min != 0 (two fast reductions, no mask)
                alive[i] |= (h.amax(dim=0) != 0) | (h.amin(dim=0) != 0)
                if eps is not None:
                    saturated[i] += int((derivative(act, act.gate_input(z)).abs() < eps).sum())
            if stop_early and eps is None and all(bool(a.all()) for a in alive):
                break
    counts = tuple(int((~a).sum()) for a in alive)
    sat = tuple(s / (n * u) if n * u else 0.0 for s, u in zip(saturated, sizes)) if eps is not None else None
    return DeadNeurons(counts, sizes, n, sat)


# --- the same batch and the same initial weights for every activation -------------------------------

def check_eps(eps: Any) -> float:
    return validate.number(eps, "the saturation threshold", 0.0, limits.SATURATION_EPS_MAX)


def check_batch_size(batch_size: Any) -> int:
    return validate.whole(batch_size, "the batch size", 1, limits.MAX_BATCH)


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
    if len(choices) > limits.MAX_COMPARED:
        raise InputError(f"at most {limits.MAX_COMPARED} activations can be compared at once")
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
    reports, deads, names = [], [], []
    model = None
    for c in choices:
        model = models.build_mlp(int(dataset.n_features), hidden, n_out, c, init, seed)
        reports.append(gradient_report(model, xb, yb, eps))
        names.append(model.layer_names())
        if dead:
            deads.append(dead_neurons(model, dataset.x_train))
    assert model is not None
    return Comparison(getattr(dataset, "description", ""), (model.n_in, *model.hidden, model.n_out), init, seed,
                      int(xb.shape[0]), reports, deads if dead else None, _shared_names(names), hidden_names(model),
                      int(dataset.x_train.shape[0]))


def _shared_names(per_model: list[list[str]]) -> list[str]:
    """One name per layer for every model compared: where gated and element-wise nets differ, say both
    ('L1 64→16 (2×16 gated)')."""
    out = []
    for names in zip(*per_model):
        plain = next((n for n in names if not n.endswith(" gated")), names[0])
        if plain != names[0] or any(n != plain for n in names):
            gated = next(n for n in names if n.endswith(" gated"))
            plain += f" ({gated.split('→', 1)[1]})"
        out.append(plain)
    return out
