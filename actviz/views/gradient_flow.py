"""The gradient-flow page: its state (what the link carries) and everything it shows, computed UI-free.

Activations are a comma-separated list of tokens: a catalogue name (its slider values in
``name.param`` keys, as in the gallery) or a fixed variant ``name(param=value,...)``, so that one link
can compare LeakyReLU with two different slopes.  The data directory is never read from a link.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from actviz import activations, budget, limits
from actviz.activations import choice as choice_mod
from actviz.activations import expr
from actviz.activations.choice import ActivationChoice
from actviz.cache import memo
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import diagnostics, models, perlayer
from actviz.network.symmetry import SymmetryReport, zero_init_symmetry
from actviz.plots import network_figures
from actviz.views.urlstate import (
    DEFAULT_CUSTOM,
    DEFAULT_CUSTOM_PARAMS,
    ActivationParams,
    CustomFormula,
    Field,
    Flag,
    Identifier,
    NetworkSetup,
    Number,
    PageState,
    QueryParams,
    Text,
    Whole,
    check_uniform_bounds,
    data_fields,
    first,
    fmt,
    init_fields,
    limit_selection,
    same_except,
)

DATASETS = tuple(n for n in datasets.NAMES if n != "csv")  # an upload cannot live in a link
DEFAULT_SELECTION = ("sigmoid", "tanh", "relu")
MAX_SELECTED = limits.MAX_COMPARED
MAX_SYMMETRY_RUNS = 4  # zero/constant init: symmetry training for at most this many activations
_VARIANT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")


@dataclass
class GradientState(NetworkSetup):
    selected: list[str] = field(default_factory=lambda: list(DEFAULT_SELECTION))  # tokens
    params: dict[str, dict[str, float]] = field(default_factory=dict)  # plain-name tokens' non-defaults
    custom_on: bool = False
    custom_expr: str = DEFAULT_CUSTOM
    custom_params: str = DEFAULT_CUSTOM_PARAMS
    batch_size: int = 256
    seed: int = 42
    eps: float = diagnostics.EPS
    sym_steps: int = 100
    sym_lr: float = 0.2
    preset: str | None = None

    def param_values(self, name: str) -> dict[str, float]:
        values = activations.get(name).defaults()
        values.update(self.params.get(name, {}))
        return values

    def dataset_spec(self, data_dir: str | None = None) -> datasets.DatasetSpec:
        return datasets.DatasetSpec(self.dataset, n_samples=self.n_samples, noise=self.noise, seed=self.data_seed,
                                    data_dir=data_dir or None)


# --- activation tokens ------------------------------------------------------------------------------

def parse_token(token: str) -> tuple[str, dict[str, float] | None]:
    """``"relu"`` -> ``("relu", None)``; ``"leaky_relu(negative_slope=0.3)"`` -> name and fixed values.

    InputError for unknown names, parameters or values out of range.
    """
    token = token.strip()
    m = _VARIANT.match(token)
    if m is None:
        return activations.get(token).name, None
    act = activations.get(m.group(1))
    values = expr.parse_param_assignments(m.group(2)) if m.group(2).strip() else {}
    resolved = act.resolve_params(values)
    return act.name, {k: v for k, v in resolved.items() if k in values}


def variant_token(name: str, values: Mapping[str, float]) -> str:
    """Canonical token for a fixed variant (parameters in the registry's order)."""
    act = activations.get(name)
    inner = ",".join(f"{p.name}={fmt(float(values[p.name]))}" for p in act.params if p.name in values)
    return f"{act.name}({inner})" if inner else act.name


def token_label(token: str) -> str:
    try:
        name, values = parse_token(token)
    except InputError:
        return token
    label = activations.get(name).label
    if values:
        label += " (" + ", ".join(f"{k}={v:g}" for k, v in values.items()) + ")"
    return label


# --- the link -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenSelection:
    """``act=relu,leaky_relu(negative_slope=0.3)``: catalogue names and fixed variants."""

    def decode(self, qp: QueryParams, state: GradientState, warnings: list[str]) -> None:
        raw = first(qp.get("act"))
        if raw is None:
            return
        selected: list[str] = []
        tokens = perlayer.split_items(raw[:2000])
        if len(raw) > 2000:
            warnings.append("the activation list in the link was cut to its first 2,000 characters")
        for token in tokens[:MAX_SELECTED * 2]:
            try:
                name, values = parse_token(token)
            except InputError as exc:
                warnings.append(f"activation {token[:40]!r} in the link was skipped: {exc}")
                continue
            canonical = variant_token(name, values) if values else name
            if canonical not in selected:
                selected.append(canonical)
        state.selected = limit_selection(selected, len(tokens), warnings)

    def encode(self, state: GradientState, out: dict[str, str]) -> None:
        if state.selected != list(DEFAULT_SELECTION):
            out["act"] = ",".join(state.selected)


def _symmetry_run(attr: str):
    return lambda s, d: s.init in ("zeros", "constant") and getattr(s, attr) != getattr(d, attr)


GRADIENT_FLOW = PageState(
    make=GradientState, prefix="gf_",
    fields=(
        Field("preset", "preset", Identifier(), widget=False),
        *data_fields(DATASETS),
        Field("selected", "act", Text(), link=False),
        Field("custom_on", "custom", Flag(), link=False),
        Field("custom_expr", "expr", Text(), link=False),
        *init_fields(),
        Field("batch_size", "batch", Whole(1, limits.MAX_BATCH)),
        Field("seed", "seed", Whole(0, limits.MAX_SEED)),
        Field("eps", "eps", Number(0.0, limits.SATURATION_EPS_MAX)),
        Field("sym_steps", "steps", Whole(1, limits.MAX_SYMMETRY_STEPS), write=_symmetry_run("sym_steps")),
        Field("sym_lr", "lr", Number(1e-4, 10.0), write=_symmetry_run("sym_lr")),
    ),
    parts=(TokenSelection(), ActivationParams(), CustomFormula()),
    checks=(check_uniform_bounds,),
)


def decode_gradient(qp: QueryParams, presets: Collection[str] = ()) -> tuple[GradientState, list[str]]:
    """The state a link describes; ``presets`` are the preset names a link may name (see lessons)."""
    state, warnings = GRADIENT_FLOW.decode(qp)
    if state.preset is not None and state.preset not in presets:
        warnings.append(f"unknown preset {state.preset[:30]!r} in the link was ignored")
        state.preset = None
    return state, warnings


def encode_gradient(state: GradientState) -> dict[str, str]:
    return GRADIENT_FLOW.encode(state)


def same_settings(a: GradientState, b: GradientState) -> bool:
    """Equal apart from the preset marker (used to tell whether a preset is still what is shown)."""
    return same_except(GRADIENT_FLOW, a, b, "preset")


# --- the view --------------------------------------------------------------------------------------

@dataclass
class GradientView:
    state: GradientState
    dataset: str                                   # description
    choices: list[ActivationChoice]
    comparison: diagnostics.Comparison
    symmetry: list[SymmetryReport] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)   # activation token -> message
    notes: list[str] = field(default_factory=list)
    figures: dict[str, go.Figure] = field(default_factory=dict)
    table: pd.DataFrame | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.comparison.to_json()
        if self.symmetry:
            out["symmetry"] = [s.to_json() for s in self.symmetry]
        return out


def choices_from_state(state: GradientState) -> tuple[list[ActivationChoice], dict[str, str]]:
    """Validated choices for the selected tokens (plus the custom formula); problems per token."""
    choices: list[ActivationChoice] = []
    errors: dict[str, str] = {}
    for token in state.selected:
        try:
            name, values = parse_token(token)
            choices.append(choice_mod.choose(name, values if values is not None else state.params.get(name)))
        except InputError as exc:
            errors[token] = str(exc)
    if state.custom_on:
        try:
            choices.append(choice_mod.custom_from_text(state.custom_expr, state.custom_params))
        except InputError as exc:
            errors["custom"] = str(exc)
    unique: dict[str, ActivationChoice] = {}
    for c in choices:
        unique.setdefault(c.key, c)
    return list(unique.values()), errors


# Column -> printf-style format of the numbers in the summary table (the page shows them so).
SUMMARY_FORMATS = {"loss": "%.4f", "‖∇W‖ input layer": "%.3e", "‖∇W‖ output layer": "%.3e", "input / output": "%.2e",
                   "dead units": "%d", "dead %": "%.1f", "saturated %": "%.1f", "exactly 0 %": "%.1f"}

# What each figure is called on the page and how to read it ({batch}, {samples}: the view's numbers).
FIGURE_TEXT = {
    "norms": ("Weight-gradient norm per layer",
              "One batch, at initialisation. Read it from right (output) to left (input): a line that falls towards "
              "the input means vanishing gradients; × on the dotted line means no gradient at all (exactly 0)."),
    "dead_zero": ("Dead units and exactly-zero gradients",
                  "Dead: the unit outputs exactly 0 for all {samples:,} training samples, so it passes no gradient. "
                  "Right: share of each Linear layer's weights whose gradient is exactly 0 for this batch of "
                  "{batch:,}; those weights cannot change in this step. Bars labelled 0 are exactly 0."),
    "grad_hist": ("Gradient distribution per layer",
                  "Share of the layer's weights whose gradient magnitude falls in each bin; the bins are powers of 2 "
                  "on a shared log axis, so a shift to the left is a shrinking gradient (the figure of the UvA Deep "
                  "Learning tutorial 3, on log-spaced bins)."),
    "act_hist": ("Activation outputs", "Share of this batch's outputs f(z) in each bin, one panel per hidden layer."),
    "neurons": ("Dead, saturated and silent units",
                "Dead: exactly 0 for all {samples:,} training samples (a count). Saturated: the activation's slope "
                "|f′(z)| (autograd) is below ε = {eps:g} for that sample and unit. Exactly 0: share of this batch's "
                "outputs that are exactly 0."),
    "symmetry": ("Hidden units after training",
                 "The first hidden layer's weights after {steps} SGD steps: rows are hidden units, columns are inputs, "
                 "each panel on its own colour scale. Identical rows are identical units."),
}


def figure_text(view: GradientView, key: str) -> tuple[str, str]:
    """Heading and caption of one of the view's figures."""
    title, caption = FIGURE_TEXT[key]
    steps = view.symmetry[0].steps if view.symmetry else 0
    return title, caption.format(batch=view.comparison.batch_size, samples=view.comparison.train_samples,
                                 eps=view.state.eps, steps=steps)


def summary_table(comparison: diagnostics.Comparison) -> pd.DataFrame:
    rows = []
    for i, r in enumerate(comparison.reports):
        ratio = r.first_to_last()
        hidden = r.hidden
        dead = comparison.dead[i] if comparison.dead is not None and hidden else None  # no units: nothing to count
        rows.append({
            "activation": r.label + (" — gated layers: act(a)·b" if r.activation.is_gated else ""),
            "loss": r.loss,
            "‖∇W‖ input layer": r.layers[0].grad_norm,
            "‖∇W‖ output layer": r.layers[-1].grad_norm,
            "input / output": ratio if ratio is not None else math.nan,
            "dead units": dead.total if dead is not None else None,  # shown as "—" when not counted
            "dead %": 100 * dead.total_fraction if dead is not None else None,
            "saturated %": 100 * sum(h.saturated_fraction for h in hidden) / len(hidden) if hidden else None,
            "exactly 0 %": 100 * sum(h.zero_fraction for h in hidden) / len(hidden) if hidden else None,
        })
    return pd.DataFrame(rows)


def build_view(state: GradientState, data_dir: str | None = None, count_dead: bool = True) -> GradientView:
    """Everything the page draws.  InputError for problems that leave nothing to show (bad dataset, sizes)."""
    choices, errors = choices_from_state(state)
    if not choices:
        raise InputError("choose at least one activation" + (" that works" if errors else ""))
    budget.check(estimate_view(state, data_dir))  # before the data are loaded or any net is built
    ds = datasets.load(state.dataset_spec(data_dir))
    hidden = models.parse_hidden(state.hidden)
    init = state.init_spec()
    comparison = diagnostics.compare_at_init(ds, hidden, choices, init, state.seed, state.batch_size, state.eps,
                                             dead=count_dead)
    notes = []
    if comparison.batch_size < state.batch_size:
        notes.append(f"The training split has only {comparison.batch_size:,} samples: the whole of it is the batch.")
    sym_reports: list[SymmetryReport] = []
    if init.name in ("zeros", "constant") and hidden:
        runs = choices[:MAX_SYMMETRY_RUNS]
        if len(choices) > len(runs):
            notes.append(f"Symmetry training is shown for the first {len(runs)} activations only.")
        batch = 0 if state.batch_size >= len(ds.x_train) else state.batch_size
        for c in runs:
            sym_reports.append(zero_init_symmetry(ds, hidden, c, init, state.seed, state.sym_steps,
                                                           state.sym_lr, batch))
        contrast = models.InitSpec("default")
        sym_reports.append(zero_init_symmetry(ds, hidden, runs[0], contrast, state.seed, state.sym_steps,
                                                       state.sym_lr, batch))
    view = GradientView(state, ds.description, choices, comparison, sym_reports, errors, notes)
    view.figures = {
        "norms": network_figures.grad_norm_figure(comparison.reports, comparison.layer_names),
        "grad_hist": network_figures.grad_hist_figure(comparison.reports, comparison.layer_names),
    }
    if hidden and comparison.dead is not None:
        view.figures["dead_zero"] = network_figures.lesson_dead_figure(
            comparison.reports, comparison.hidden_names, comparison.layer_names, comparison.dead)
    if hidden:
        # Titles are the page's headings (FIGURE_TEXT): they wrap, a plotly title does not.
        view.figures["act_hist"] = network_figures.activation_hist_figure(comparison.reports, comparison.hidden_names,
                                                                          title=None)
        view.figures["neurons"] = network_figures.neuron_figure(comparison.reports, comparison.hidden_names,
                                                                comparison.dead, title=None)
    if sym_reports:
        view.figures["symmetry"] = network_figures.symmetry_figure(sym_reports)
    view.table = summary_table(comparison)
    return view


def view_json(view: GradientView) -> str:
    return json.dumps(view.to_json(), allow_nan=False, default=lambda v: None)


def estimate_view(state: GradientState, data_dir: str | None = None) -> budget.Estimate:
    """Peak memory and work of :func:`build_view` for ``state``, from sizes alone (see actviz.budget)."""
    choices, _ = choices_from_state(state)
    hidden = models.parse_hidden(state.hidden)
    shape = datasets.shape(state.dataset_spec(data_dir))
    symmetry = state.init in ("zeros", "constant") and bool(hidden)
    runs = min(len(choices), MAX_SYMMETRY_RUNS) + 1 if symmetry else 0
    sym_batch = 0 if state.batch_size >= shape.n_train else state.batch_size
    return budget.diagnostics(shape, hidden, choices, state.batch_size, True, runs, state.sym_steps, sym_batch)


@memo(maxsize=16, key=lambda state, data_dir=None, run=None: (repr(sorted(encode_gradient(state).items())), data_dir))
def cached_view(state: GradientState, data_dir: str | None = None, run=None) -> GradientView:
    """:func:`build_view`, shared across sessions: the same settings give the same numbers (views are
    never modified after they are built).  ``run(fn, args, estimate)`` computes it elsewhere (the server
    runs it in a worker process, cancelled if the tab goes away)."""
    if run is None:
        return build_view(state, data_dir)
    return run(build_view, (state, data_dir), estimate_view(state, data_dir))
