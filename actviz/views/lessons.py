"""Lessons: the one-click setups of the gradient-flow page and the training lab, as plain data.

Each reproduces an experiment from a published tutorial or course and says where it comes from.  A
gradient-flow preset is what to build, what a teacher would say, what you should see, plus a ``check``
that reads the measured numbers and says whether the lesson showed up, in words.  A training preset is
a :class:`TrainConfig`; MNIST and FashionMNIST are used when their files are present, otherwise
scikit-learn's bundled digits stand in (same experiment, 8x8 images, so minutes become seconds) and the
page says so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from actviz.activations.choice import ActivationChoice, choose
from actviz.cache import memo
from actviz.data import datasets, idx
from actviz.errors import InputError
from actviz.network import models
from actviz.network.diagnostics import Comparison
from actviz.network.symmetry import SymmetryReport
from actviz.training.config import TrainConfig
from actviz.views.gradient_flow import GradientState, decode_gradient, encode_gradient

Check = Callable[[Comparison, list[SymmetryReport]], tuple[bool, str]]
Aside = Callable[[Comparison, list[SymmetryReport]], str]


@dataclass(frozen=True)
class GradientPreset:
    key: str
    title: str
    explanation: str          # what a teacher would say beside the chart
    lesson: str               # what you should see
    source: str               # where the experiment was published
    state: GradientState      # every setting of the page
    check: Check
    prefer: str | None = None  # a dataset used instead of state.dataset when its files are present
    lead: str = "norms"       # the figure (GradientView.figures key) that shows the lesson: drawn first
    # Figures that, read alone, seem to say something else: figure key -> the explanation shown beside it
    # (from the measured numbers, so it is shown only while the preset's settings are on the page).
    asides: tuple[tuple[str, Aside], ...] = ()

    def state_for(self, dataset: str) -> GradientState:
        """The preset's settings on ``dataset`` (its own, or the preferred one when that was available)."""
        chosen = dataset if dataset in (self.state.dataset, self.prefer) else self.state.dataset
        return replace(self.state, preset=self.key, dataset=chosen)

    def resolve(self, data_dir: str | None = None) -> tuple[GradientState, str | None]:
        """The page state for this preset, and a note when the preferred dataset is missing."""
        state = replace(self.state, preset=self.key)
        if self.prefer is None:
            return state, None
        if datasets.status(self.prefer, data_dir).startswith("ready"):
            return replace(state, dataset=self.prefer), None
        title = datasets.TITLES[self.prefer]
        return state, (f"{title} files were not found, so this runs on the bundled 8×8 digits instead (64 inputs "
                       f"instead of 784); the lesson is the same. To use {title}, put its four IDX files in the "
                       f"data directory or run `python -m actviz data download {self.prefer}`, then click the "
                       "preset again.")


def _ratio(comp: Comparison, i: int) -> float | None:
    return comp.reports[i].first_to_last()


def _fmt_ratio(r: float | None) -> str:
    if r is None:
        return "undefined (no gradient at the output)"
    return f"1/{1 / r:,.0f}" if r < 0.1 else f"{r:.2f}×"


def _check_vanishing(comp: Comparison, _: list[SymmetryReport]) -> tuple[bool, str]:
    sig, relu = _ratio(comp, 0), _ratio(comp, 1)
    ok = sig is not None and relu is not None and sig < 0.05 and relu > 0.1
    return ok, (f"Input-layer gradient as a share of the output layer's: sigmoid {_fmt_ratio(sig)}, "
                f"ReLU {_fmt_ratio(relu)}.")


def _check_dead_relu(comp: Comparison, _: list[SymmetryReport]) -> tuple[bool, str]:
    relu = comp.reports[0]
    leaky = comp.reports[1:]
    hidden_zero = all(layer.grad_norm == 0 for layer in relu.layers[:-1])
    firsts = [r.layers[0].grad_norm for r in leaky]
    grows = all(a < b for a, b in zip(firsts, firsts[1:]))
    ok = hidden_zero and all(f > 0 for f in firsts) and grows
    flows = ", ".join(f"{r.label}: {r.layers[0].grad_norm:.1e}" for r in leaky)
    return ok, (f"ReLU: every hidden layer's gradient is {'exactly 0' if hidden_zero else 'NOT zero'}. "
                f"Input-layer gradient norms: {flows}.")


def _check_symmetry(_: Comparison, sym: list[SymmetryReport]) -> tuple[bool, str]:
    if not sym:
        return False, "The symmetry run did not happen (it needs zero or constant weights)."
    zero, contrast = sym[0], sym[-1]
    ok = zero.all_identical and not contrast.all_identical
    return ok, (f"After {zero.steps} SGD steps with zero init every hidden unit is "
                f"{'still identical' if zero.all_identical else 'different (!)'} "
                f"(training accuracy {zero.train_accuracy:.0%}); with PyTorch's default init the units "
                f"{'differ' if not contrast.all_identical else 'are identical (!)'} "
                f"(accuracy {contrast.train_accuracy:.0%}).")


def _check_fashion(comp: Comparison, _: list[SymmetryReport]) -> tuple[bool, str]:
    ratios = {r.label: r.first_to_last() for r in comp.reports}
    sig = ratios.get("Sigmoid")
    others = [v for k, v in ratios.items() if k != "Sigmoid" and v is not None]
    ok = sig is not None and sig < 0.01 and all(0.1 < v < 10 for v in others)
    spread = (f"every other activation between {min(others):.2f}–{max(others):.2f}" if others
              else "no other activation measured")
    return ok, (f"Input-layer gradient as a share of the output layer's: sigmoid {_fmt_ratio(sig)}; "
                f"{spread}.")


def _check_deep(comp: Comparison, _: list[SymmetryReport]) -> tuple[bool, str]:
    if comp.dead is None:
        return False, "Dead neurons were not counted."
    relu, swish = comp.dead[0], comp.dead[1]
    zero = [max(layer.zero_fraction for layer in r.layers) for r in comp.reports[:2]]
    ok = relu.total > 0 and swish.total == 0 and zero[0] > 0 and zero[1] == 0
    return ok, (f"Dead units per hidden layer at init: ReLU {list(relu.counts)} "
                f"(up to {max(relu.fractions):.0%} of a layer); Swish {list(swish.counts)}. Weight gradients "
                f"exactly 0: up to {zero[0]:.0%} of a ReLU layer's, {zero[1]:.0%} of a Swish layer's.")


def _slope_rms(comp: Comparison, i: int) -> float:
    """Median over the hidden layers of sqrt(mean f'(z)^2): how much a layer scales the gradient's size."""
    values = sorted(h.slope_rms for h in comp.reports[i].hidden)
    return values[len(values) // 2] if values else math.nan


def _aside_deep_norms(comp: Comparison, _: list[SymmetryReport]) -> str:
    relu, swish = comp.reports[0], comp.reports[1]
    a, b = _slope_rms(comp, 0), _slope_rms(comp, 1)
    depth = len(relu.hidden)
    zero = max(layer.zero_fraction for layer in relu.layers)
    ratio = relu.layers[0].grad_norm / swish.layers[0].grad_norm if swish.layers[0].grad_norm else math.inf
    return (f"**Why Swish's lines sit lower here.** At the input layer Swish's gradient is {ratio:.0f}× smaller "
            "than ReLU's, which looks like the opposite lesson. Backpropagation scales the gradient's size by "
            f"about the root-mean-square slope √E[f′(z)²] once per layer: measured {a:.2f} for ReLU (slope 1 on "
            f"the active units, 0 on the rest) and {b:.2f} for Swish (slope ≈ ½ for the small inputs of this "
            f"net), so over {depth} layers Swish's shrink more. Small is not zero: every Swish weight gets a "
            f"gradient, while up to {zero:.0%} of a ReLU layer's weight gradients are exactly 0, and those "
            "weights cannot learn at all (chart above).")


def _aside_zero_norms(comp: Comparison, _: list[SymmetryReport]) -> str:
    r = comp.reports[0]
    out = r.layers[-1].grad_norm
    return ("**Why this chart is nearly empty.** At initialisation, with every weight 0, the hidden layer's "
            "gradient is exactly 0 (×): it is multiplied by the output weights, which are 0. The output layer's "
            f"{out:.0e} is float rounding of 0: every hidden unit outputs σ(0) = ½ for every sample and the two "
            "classes are equally many, so the errors cancel exactly. The lesson is what training does next "
            "(chart above).")


NNDL_LAB = "the NNDL course lab 5 (Qiu Xipeng's Neural Networks and Deep Learning)"
UVA_TUTORIAL = "the UvA Deep Learning tutorial 3"
_TINY = dict(dataset="moons", hidden="3,3,3,3", batch_size=1000, seed=1)

GRADIENT_PRESETS: dict[str, GradientPreset] = {p.key: p for p in (
    GradientPreset(
        "vanishing", "Vanishing gradients",
        "A 2-3-3-3-3-1 network on the moons data (after the NNDL course lab 5), one full batch, gradients "
        "at initialisation. Backpropagation multiplies by the activation's slope once per layer. "
        "Sigmoid's slope is at most 0.25, so after four hidden layers the first layer receives only a tiny "
        "fraction of the signal: it barely learns. ReLU's slope is 1 wherever a unit is active, so the "
        "gradient arrives almost intact.",
        "The sigmoid line falls steeply towards the input (left); the ReLU line stays roughly flat. "
        "(With only 3 units per layer some seeds leave a whole ReLU layer inactive: try seed 0.)",
        NNDL_LAB, GradientState(selected=["sigmoid", "relu"], **_TINY), _check_vanishing),
    GradientPreset(
        "dead_relu", "Dead ReLU",
        "The same network with every bias set to −8. Every pre-activation is negative, so each "
        "ReLU outputs 0 and has slope 0: no gradient reaches any weight, and training cannot even start. "
        "LeakyReLU keeps a small slope a for negative inputs, so gradients flow again; a larger slope lets "
        "more through (each layer multiplies by about a).",
        "ReLU: crosses on the 'exactly 0' line in every layer. LeakyReLU: lines again, higher for a "
        "larger slope.",
        NNDL_LAB,
        GradientState(selected=["relu", "leaky_relu", "leaky_relu(negative_slope=0.1)",
                                "leaky_relu(negative_slope=0.3)"], bias=-8.0, **_TINY),
        _check_dead_relu),
    GradientPreset(
        "zero_init", "Zero init symmetry",
        "The 2-5-1 sigmoid moons network of the NNDL course lab 5 with every weight and bias set to 0, "
        "trained with plain SGD (lr 0.2, full batch). All hidden units compute the same value and receive the same "
        "gradient, so they stay identical however long you train: the layer behaves like a single unit, and accuracy "
        "stays near 50 %. Random initialisation breaks the symmetry.",
        "Left heatmap, zero init: every row (hidden unit) the same — here every weight is still 0. "
        "Right heatmap, PyTorch's default init: the rows differ.",
        NNDL_LAB,
        GradientState(dataset="moons", selected=["sigmoid"], hidden="5", init="zeros", bias=0.0, batch_size=1000,
                      seed=1, sym_steps=200, sym_lr=0.2),
        _check_symmetry, lead="symmetry", asides=(("norms", _aside_zero_norms),)),
    GradientPreset(
        "fashion_init", "FashionMNIST net at init",
        "The FashionMNIST network of the UvA Deep Learning tutorial 3, 784-512-256-256-128-10, the same "
        "seed (42) and therefore the same initial weights for every activation, one batch of 256, one backward "
        "pass. With sigmoid the input layer's gradients are orders of magnitude smaller than the output "
        "layer's; with every other activation they are of similar size in all layers.",
        "Norm chart: the sigmoid line drops by two to three orders of magnitude from right to left; the "
        "other lines stay within a factor of a few. Histograms: sigmoid's rows shift left layer by layer.",
        UVA_TUTORIAL,
        GradientState(selected=["sigmoid", "tanh", "relu", "leaky_relu(negative_slope=0.1)", "prelu(init=0.1)",
                                "elu", "gelu_tanh", "swish", "mish"]),
        _check_fashion, prefer="fashion_mnist"),
    GradientPreset(
        "deep_relu_swish", "Deep ReLU vs Swish",
        "The UvA Deep Learning tutorial 3's deep network, hidden sizes 256×5 then 128×5, at initialisation. "
        "A ReLU unit is dead when its input is negative for every training sample: it outputs exactly 0 and passes no "
        "gradient. Deep in the ReLU net many units are dead before training starts; Swish is never "
        "exactly 0 for a non-zero input, so none of its units is dead.",
        "Left: ReLU's dead units grow in the deeper layers (the tutorial found up to 55 % of a layer); "
        "Swish's bars are all 0. Right: in the ReLU net a growing share of each layer's weight gradients is "
        "exactly 0; in the Swish net none is.",
        UVA_TUTORIAL,
        GradientState(selected=["relu", "swish"], hidden="256x5,128x5"),
        _check_deep, prefer="fashion_mnist", lead="dead_zero", asides=(("norms", _aside_deep_norms),)),
)}


def decode_gradient_link(qp) -> tuple[GradientState, list[str]]:
    """The gradient-flow page's state from its address.  A link that names only a preset
    (``?preset=vanishing``, the short links a teacher hands out) opens that preset's settings; a link
    the page wrote (every setting, plus the preset marker) opens exactly what it says."""
    state, warnings = decode_gradient(qp, GRADIENT_PRESETS)
    if state.preset and encode_gradient(state) == {"preset": state.preset}:
        state, _ = GRADIENT_PRESETS[state.preset].resolve()
    return state, warnings


# --- the training lab ------------------------------------------------------------------------------

# A stand-in dataset is far smaller than the published one (digits: about 1,100 training images instead of
# 50,000), so at the published batch an epoch is only a handful of optimizer steps.  What a lesson needs
# is steps, not epochs: a net whose loss is still flat after 5 steps is not a net that cannot learn.  On a
# stand-in the batch is halved (not below MIN_STAND_IN_BATCH) until an epoch has at least
# MIN_STEPS_PER_EPOCH steps, and early stopping's patience is raised until it spans at least
# MIN_PATIENCE_STEPS steps.  With the real files nothing changes.
PUBLISHED_TRAIN_SIZE = 50_000   # MNIST and FashionMNIST training split (the last 10,000 validate)
MIN_STEPS_PER_EPOCH = 32
MIN_STAND_IN_BATCH = 16
MIN_PATIENCE_STEPS = 200
PRESETS_TTL_S = 5.0             # how soon the presets notice dataset files that appeared (or went)


@dataclass(frozen=True)
class TrainingPreset:
    key: str
    title: str
    explanation: str
    config: TrainConfig
    fallback_note: str = ""
    # What differs from the published setup on the stand-in, setting -> {"published": ..., "used": ...};
    # empty when the published setup runs unchanged.
    adapted: dict[str, dict[str, Any]] = field(default_factory=dict)


def _acts(*items: tuple[str, dict] | str) -> tuple[ActivationChoice, ...]:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(choose(item))
        else:
            name, params = item
            learn = params.pop("_learn", ())
            out.append(choose(name, params, learn))
    return tuple(out)


def _steps(n: int, batch: int) -> int:
    return 1 if batch <= 0 or batch >= n else math.ceil(n / batch)


def adapt_to_stand_in(config: TrainConfig, published: str, published_train: int = PUBLISHED_TRAIN_SIZE,
                      data_dir: str | None = None) -> tuple[TrainConfig, dict[str, dict[str, Any]], str]:
    """``config`` (written for the ``published`` dataset) as it runs: unchanged when that dataset's files
    are there, else on scikit-learn's digits with the batch and patience the lesson needs there.

    Returns the config to run, what was adapted (see :class:`TrainingPreset`) and a note saying so.
    """
    if datasets.available(published, data_dir):
        return replace(config, dataset=datasets.DatasetSpec(name=published, data_dir=data_dir)), {}, ""
    stand_in = datasets.DatasetSpec(name="digits")
    n = len(datasets.load(stand_in).x_train)
    batch = config.batch_size
    while batch > MIN_STAND_IN_BATCH and _steps(n, batch) < MIN_STEPS_PER_EPOCH:
        batch = max(MIN_STAND_IN_BATCH, batch // 2)
    steps = _steps(n, batch)
    patience = config.patience
    if patience is not None:
        patience = min(config.epochs, max(patience, math.ceil(MIN_PATIENCE_STEPS / steps)))
    title = datasets.TITLES.get(published, published)
    adapted: dict[str, dict[str, Any]] = {"dataset": {"published": published, "used": "digits"}}
    changes = []
    if batch != config.batch_size:
        adapted["batch_size"] = {"published": config.batch_size, "used": batch}
        adapted["steps_per_epoch"] = {"published": _steps(published_train, config.batch_size), "used": steps}
        changes.append(f"batch {config.batch_size} → {batch}, so an epoch is {steps} optimizer steps instead of "
                       f"{_steps(n, config.batch_size)} ({title}: {_steps(published_train, config.batch_size)})")
    if patience != config.patience:
        adapted["patience"] = {"published": config.patience, "used": patience}
        changes.append(f"patience {config.patience} → {patience} epochs, so early stopping waits at least "
                       f"{MIN_PATIENCE_STEPS} steps")
    elif patience is not None:
        changes.append(f"patience stays {patience} epochs ({patience * steps} steps)")
    note = (f"{title} files were not found, so scikit-learn's 8×8 digits stand in ({n:,} training images "
            f"instead of {published_train:,}). So that the lesson survives on so few images: "
            + ("; ".join(changes) or "nothing else needed changing") + ". Everything else is as published. "
            f"To run the published setup, download {title} (python -m actviz data download {published}) or "
            "point ACTVIZ_DATA_DIR at its files.")
    return replace(config, dataset=stand_in, batch_size=batch, patience=patience), adapted, note


def _published(key: str, title: str, explanation: str, config: TrainConfig, dataset: str,
               data_dir: str | None) -> TrainingPreset:
    cfg, adapted, note = adapt_to_stand_in(config, dataset, data_dir=data_dir)
    return TrainingPreset(key, title, explanation, cfg, note, adapted)


@memo(maxsize=8, ttl=PRESETS_TTL_S, key=lambda data_dir=None: (data_dir, os.environ.get(idx.DATA_DIR_ENV, "")))
def training_presets(data_dir: str | None = None) -> dict[str, TrainingPreset]:
    """Every training preset as it runs here (MNIST-like presets adapted to the stand-in if needed).

    Kept for a few seconds (the lab asks several times per rerun, for every student): files downloaded
    meanwhile show within ``PRESETS_TTL_S``.  Shared between callers: presets are read-only."""
    placeholder = datasets.DatasetSpec(name="digits")  # replaced by adapt_to_stand_in
    return {p.key: p for p in (
        TrainingPreset(
            "demo", "Classroom race: five activations on moons",
            "ReLU, Sigmoid, Tanh, GELU and Swish learn the two half-moons from the same initial weights. "
            "Watch the sigmoid net lag behind while the others bend their decision boundary around the moons.",
            TrainConfig(datasets.DatasetSpec(name="moons", n_samples=1000, noise=0.2, seed=0),
                        _acts("relu", "sigmoid", "tanh", "gelu", "swish"), hidden=(16, 16),
                        optimizer="adam", lr=0.01, batch_size=64, epochs=40, seed=42)),
        _published(
            "mnist-mlp", "MNIST MLP, four activations — a PyTorch activation-functions tutorial",
            "784-128-128-10, Adam (lr 1e-3), batch 64, 10 epochs, cross-entropy. "
            "Reported: ReLU 97.99 %, Sigmoid 97.58 %, Tanh 97.82 %, LeakyReLU 97.76 % test accuracy.",
            TrainConfig(placeholder, _acts("relu", "sigmoid", "tanh", "leaky_relu"), hidden=(128, 128),
                        optimizer="adam", lr=1e-3, batch_size=64, epochs=10, seed=42),
            "mnist", data_dir),
        _published(
            "fashion-mnist-nine", "FashionMNIST, nine activations — UvA Deep Learning tutorial 3",
            "784-512-256-256-128-10, SGD lr 0.01 momentum 0.9, batch 256, up to 50 epochs, early stopping "
            "with patience 7 on validation accuracy, the same initial weights for every activation. "
            "Reported test accuracy: sigmoid 10.00 %, tanh 83.44, relu 88.69, leakyrelu 88.67, prelu 85.52, "
            "elu 87.84, gelu 88.78, swish 88.66, mish 88.79 %: the deep sigmoid net does not learn at all.",
            TrainConfig(placeholder,
                        _acts("sigmoid", "tanh", "relu", ("leaky_relu", {"negative_slope": 0.1}),
                              ("prelu", {"init": 0.1, "_learn": ("init",)}), "elu", "gelu_tanh", "swish",
                              "mish"),
                        hidden=(512, 256, 256, 128), optimizer="sgd", lr=1e-2, momentum=0.9,
                        batch_size=256, epochs=50, patience=7, seed=42),
            "fashion_mnist", data_dir),
        TrainingPreset(
            "moons-sigmoid", "Moons, 2-5-1 sigmoid net, plain SGD — NNDL course lab 5",
            "Weights N(0, 1), biases 0, sigmoid hidden and output units, binary cross-entropy, SGD lr 0.2, "
            "full batch, 1000 epochs. Reported test accuracy ≈ 0.84 on these noisy moons; "
            "try lr 1, 3 or 5 for faster (and less stable) learning.",
            TrainConfig(datasets.DatasetSpec(name="moons", n_samples=1000, noise=0.5, seed=0),
                        _acts("sigmoid"), hidden=(5,),
                        init=models.InitSpec(name="normal", std=1.0, bias=0.0),
                        optimizer="sgd", lr=0.2, momentum=0.0, batch_size=0, epochs=1000, seed=42)),
    )}


def training_preset(key: str, data_dir: str | None = None) -> TrainingPreset:
    """One preset by its key (``train --preset KEY``); InputError naming the keys for an unknown one."""
    presets = training_presets(data_dir)
    if key not in presets:
        raise InputError(f"unknown preset {str(key)[:40]!r}; choose one of {', '.join(presets)}")
    return presets[key]
