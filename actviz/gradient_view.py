"""What the gradient-flow page shows for a :class:`GradientState` (UI-free, like :mod:`actviz.gallery`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from actviz import choice as choice_mod
from actviz import datasets, diagnostics, models
from actviz import figures_diagnostics as fd
from actviz.choice import ActivationChoice
from actviz.errors import InputError
from actviz.gradient_state import GradientState, parse_token

MAX_SYMMETRY_RUNS = 4  # zero/constant init: symmetry training for at most this many activations


@dataclass
class GradientView:
    state: GradientState
    dataset: str                                   # description
    choices: list[ActivationChoice]
    comparison: diagnostics.Comparison
    symmetry: list[diagnostics.SymmetryReport] = field(default_factory=list)
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


def summary_table(comparison: diagnostics.Comparison) -> pd.DataFrame:
    rows = []
    for i, r in enumerate(comparison.reports):
        ratio = r.first_to_last()
        dead = comparison.dead[i] if comparison.dead is not None else None
        hidden = r.hidden
        rows.append({
            "activation": r.label,
            "loss": r.loss,
            "‖∇W‖ input layer": r.layers[0].grad_norm,
            "‖∇W‖ output layer": r.layers[-1].grad_norm,
            "input / output": ratio if ratio is not None else math.nan,
            "dead units": dead.total if dead is not None else None,
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
    ds = datasets.load(state.dataset_spec(data_dir))
    hidden = models.parse_hidden(state.hidden)
    init = state.init_spec()
    comparison = diagnostics.compare_at_init(ds, hidden, choices, init, state.seed, state.batch_size, state.eps,
                                             dead=count_dead)
    notes = []
    if comparison.batch_size < state.batch_size:
        notes.append(f"The training split has only {comparison.batch_size:,} samples: the whole of it is the batch.")
    symmetry: list[diagnostics.SymmetryReport] = []
    if init.name in ("zeros", "constant") and hidden:
        runs = choices[:MAX_SYMMETRY_RUNS]
        if len(choices) > len(runs):
            notes.append(f"Symmetry training is shown for the first {len(runs)} activations only.")
        batch = 0 if state.batch_size >= len(ds.x_train) else state.batch_size
        for c in runs:
            symmetry.append(diagnostics.zero_init_symmetry(ds, hidden, c, init, state.seed, state.sym_steps,
                                                           state.sym_lr, batch))
        contrast = models.InitSpec("default")
        symmetry.append(diagnostics.zero_init_symmetry(ds, hidden, runs[0], contrast, state.seed, state.sym_steps,
                                                       state.sym_lr, batch))
    view = GradientView(state, ds.description, choices, comparison, symmetry, errors, notes)
    view.figures = {
        "norms": fd.grad_norm_figure(comparison.reports, comparison.layer_names),
        "grad_hist": fd.grad_hist_figure(comparison.reports, comparison.layer_names),
    }
    if hidden:
        view.figures["act_hist"] = fd.activation_hist_figure(comparison.reports, comparison.hidden_names)
        view.figures["neurons"] = fd.neuron_figure(comparison.reports, comparison.hidden_names, comparison.dead)
    if symmetry:
        view.figures["symmetry"] = fd.symmetry_figure(symmetry)
    view.table = summary_table(comparison)
    return view


def view_json(view: GradientView) -> str:
    return json.dumps(view.to_json(), allow_nan=False, default=lambda v: None)
