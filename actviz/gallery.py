"""Everything the Gallery page shows, computed from a :class:`GalleryState` (UI-free)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from actviz import choice as choice_mod
from actviz import curves, figures
from actviz.choice import ActivationChoice
from actviz.errors import InputError
from actviz.viewstate import GalleryState


@dataclass
class GalleryView:
    choices: list[ActivationChoice]
    curves: list[curves.Curve]
    figure: go.Figure
    table: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)  # activation (or "custom") -> message


def choices_for(state: GalleryState) -> tuple[list[ActivationChoice], dict[str, str]]:
    """The validated choices of a state; invalid ones are reported, not raised."""
    out: list[ActivationChoice] = []
    errors: dict[str, str] = {}
    for name in state.selected:
        try:
            out.append(choice_mod.choose(name, state.param_values(name)))
        except InputError as exc:
            errors[name] = str(exc)
    if state.custom_on:
        try:
            out.append(choice_mod.custom_from_text(state.custom_expr, state.custom_params))
        except InputError as exc:
            errors["custom"] = str(exc)
    return out, errors


def build_view(state: GalleryState, measure_cost: bool = True, points: int = curves.DEFAULT_POINTS
               ) -> GalleryView:
    chosen, errors = choices_for(state)
    computed: list[curves.Curve] = []
    kept: list[ActivationChoice] = []
    for c in chosen:
        try:
            computed.append(curves.compute_curve(c, state.xmin, state.xmax, points))
            kept.append(c)
        except InputError as exc:
            errors["custom" if c.is_custom else c.name] = str(exc)
    fig = figures.activation_figure(computed, state.show_d2, state.layout,
                                    state.saturation_eps if state.shade else 0.0)
    table = properties_table(kept, costs=cached_costs(kept) if measure_cost else None)
    return GalleryView(kept, computed, fig, table, errors)


_COST_CACHE: dict[tuple[str, str | None], float] = {}


def cached_costs(chosen: list[ActivationChoice]) -> dict[ActivationChoice, float]:
    """Relative costs, measured once per activation (or formula) per process.

    Parameter values do not change the operations an activation runs, so a slider drag reuses the
    first measurement instead of re-timing 2^20 elements on every rerun (and jittering the table).
    """
    def key(c: ActivationChoice) -> tuple[str, str | None]:
        return c.name, c.expression

    missing = {key(c): c for c in chosen if key(c) not in _COST_CACHE}
    if missing:
        if len(_COST_CACHE) > 512:  # many different formulas; keep memory bounded
            _COST_CACHE.clear()
        measured = curves.measure_costs(list(missing.values()))
        _COST_CACHE.update({k: measured[c] for k, c in missing.items()})
    return {c: _COST_CACHE[key(c)] for c in chosen}


def _num(v: float, digits: int = 4) -> str:
    if math.isinf(v):
        return "∞"
    if not math.isfinite(v):
        return "n/a"
    if abs(v) < 1e-9:
        return "0"
    return f"{v:.{digits}g}"


def properties_table(chosen: list[ActivationChoice],
                     costs: dict[ActivationChoice, float] | None = None) -> pd.DataFrame:
    rows = []
    for c in chosen:
        try:
            p = curves.properties(c)
        except InputError:
            continue
        zc = "n/a" if p.zero_centred is None else ("yes" if p.zero_centred else "no")
        rows.append({
            "activation": c.label,
            "output range": p.output_range,
            "monotonic": p.monotonic,
            "zero-centred": f"{zc} (E[f(z)] = {_num(p.mean_normal, 3)})",
            "smoothness": p.smoothness,
            "saturating": p.saturation,
            "f′(0)": _num(p.dy_at_0),
            "max |f′|": _num(p.max_abs_dy),
            "max |f′| at": p.max_abs_dy_at,
            "cost vs ReLU": (f"{costs[c]:.1f}×" if costs and c in costs else "—"),
        })
    return pd.DataFrame(rows)


def curves_frame(computed: list[curves.Curve]) -> pd.DataFrame:
    """Tidy table of every plotted point: one row per (activation, x)."""
    frames = []
    for c in computed:
        frames.append(pd.DataFrame({"activation": c.choice.key, "label": c.label, "x": c.x,
                                    "f": c.y, "df": c.dy, "d2f": c.d2y}))
    if not frames:
        return pd.DataFrame(columns=["activation", "label", "x", "f", "df", "d2f"])
    return pd.concat(frames, ignore_index=True)


def curves_csv(computed: list[curves.Curve]) -> str:
    buf = io.StringIO()
    curves_frame(computed).to_csv(buf, index=False, float_format="%.10g")
    return buf.getvalue()
