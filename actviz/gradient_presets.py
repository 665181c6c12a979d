"""One-click setups of the gradient-flow page that reproduce the seeds' lessons.

Each preset is plain data (what to build, what a teacher would say, what you should see) plus a
``check`` that reads the measured numbers and says whether the lesson showed up, in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from actviz import datasets
from actviz.diagnostics import Comparison, SymmetryReport
from actviz.gradient_state import GradientState

Check = Callable[[Comparison, list[SymmetryReport]], tuple[bool, str]]


@dataclass(frozen=True)
class GradientPreset:
    key: str
    title: str
    explanation: str          # what a teacher would say beside the chart
    lesson: str               # what you should see
    source: str               # which seed it reproduces
    state: GradientState      # every setting of the page
    check: Check
    prefer: str | None = None  # a dataset used instead of state.dataset when its files are present

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
    spread = f"{min(others):.2f}–{max(others):.2f}" if others else "n/a"
    return ok, (f"Input-layer gradient as a share of the output layer's: sigmoid {_fmt_ratio(sig)}; "
                f"every other activation between {spread}.")


def _check_deep(comp: Comparison, _: list[SymmetryReport]) -> tuple[bool, str]:
    if comp.dead is None:
        return False, "Dead neurons were not counted."
    relu, swish = comp.dead[0], comp.dead[1]
    ok = relu.total > 0 and swish.total == 0
    return ok, (f"Dead units per hidden layer at init: ReLU {list(relu.counts)} "
                f"(up to {max(relu.fractions):.0%} of a layer); Swish {list(swish.counts)}.")


_TINY = dict(dataset="moons", hidden="3,3,3,3", batch_size=1000, seed=1)

PRESETS: dict[str, GradientPreset] = {p.key: p for p in (
    GradientPreset(
        "vanishing", "Vanishing gradients",
        "Seed 003's 2-3-3-3-3-1 network on the moons data, one full batch, gradients at initialisation. "
        "Backpropagation multiplies by the activation's slope once per layer. Sigmoid's slope is at most "
        "0.25, so after four hidden layers the first layer receives only a tiny fraction of the signal: it "
        "barely learns. ReLU's slope is 1 wherever a unit is active, so the gradient arrives almost intact.",
        "The sigmoid line falls steeply towards the input (left); the ReLU line stays roughly flat. "
        "(With only 3 units per layer some seeds leave a whole ReLU layer inactive: try seed 0.)",
        "seed 003", GradientState(selected=["sigmoid", "relu"], **_TINY), _check_vanishing),
    GradientPreset(
        "dead_relu", "Dead ReLU",
        "The same network with every bias set to −8 (seed 003). Every pre-activation is negative, so each "
        "ReLU outputs 0 and has slope 0: no gradient reaches any weight, and training cannot even start. "
        "LeakyReLU keeps a small slope a for negative inputs, so gradients flow again; a larger slope lets "
        "more through (each layer multiplies by about a).",
        "ReLU: crosses on the 'exactly 0' line in every layer. LeakyReLU: lines again, higher for a "
        "larger slope.",
        "seed 003",
        GradientState(selected=["relu", "leaky_relu", "leaky_relu(negative_slope=0.1)",
                                "leaky_relu(negative_slope=0.3)"], bias=-8.0, **_TINY),
        _check_dead_relu),
    GradientPreset(
        "zero_init", "Zero init symmetry",
        "Seed 003's 2-5-1 sigmoid network with every weight and bias set to 0, trained with plain SGD "
        "(lr 0.2, full batch). All hidden units compute the same value and receive the same gradient, so "
        "they stay identical however long you train: the layer behaves like a single unit, and accuracy "
        "stays near 50 %. Random initialisation breaks the symmetry.",
        "Left heatmap: every row (hidden unit) the same. Right heatmap, default init: rows differ.",
        "seed 003",
        GradientState(dataset="moons", selected=["sigmoid"], hidden="5", init="zeros", bias=0.0, batch_size=1000,
                      seed=1, sym_steps=200, sym_lr=0.2),
        _check_symmetry),
    GradientPreset(
        "fashion_init", "FashionMNIST net at init",
        "Seed 002's network 784-512-256-256-128-10, the same seed (42) and therefore the same initial "
        "weights for every activation, one batch of 256, one backward pass. With sigmoid the input "
        "layer's gradients are orders of magnitude smaller than the output layer's; with every other "
        "activation they are of similar size in all layers.",
        "Norm chart: the sigmoid line drops by two to three orders of magnitude from right to left; the "
        "other lines stay within a factor of a few. Histograms: sigmoid's rows shift left layer by layer.",
        "seed 002",
        GradientState(selected=["sigmoid", "tanh", "relu", "leaky_relu(negative_slope=0.1)", "prelu(init=0.1)",
                                "elu", "gelu_tanh", "swish", "mish"]),
        _check_fashion, prefer="fashion_mnist"),
    GradientPreset(
        "deep_relu_swish", "Deep ReLU vs Swish",
        "Seed 002's deep network, hidden sizes 256×5 then 128×5, at initialisation. A ReLU unit is dead "
        "when its input is negative for every training sample: it outputs exactly 0 and passes no "
        "gradient. Deep in the ReLU net many units are dead before training starts; Swish is never "
        "exactly 0 for a non-zero input, so none of its units is dead.",
        "Dead-unit bars for ReLU grow in the deeper layers (seed 002 found up to 55 %); Swish has none.",
        "seed 002",
        GradientState(selected=["relu", "swish"], hidden="256x5,128x5"),
        _check_deep, prefer="fashion_mnist"),
)}


def presets() -> dict[str, GradientPreset]:
    return PRESETS


def run_preset(key: str, data_dir: str | None = None):
    """Build the page's view for a preset: ``(view, (ok, outcome), note)``."""
    from actviz.gradient_view import build_view

    preset = PRESETS[key]
    state, note = preset.resolve(data_dir)
    view = build_view(state, data_dir)
    return view, preset.check(view.comparison, view.symmetry), note
