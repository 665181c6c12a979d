"""The Gallery page: its state (what the link carries) and everything it shows, computed UI-free."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from actviz import activations, limits
from actviz.activations import choice as choice_mod
from actviz.activations import costs, curves, surfaces
from actviz.activations import morph as morph_mod
from actviz.activations.choice import ActivationChoice
from actviz.activations.properties import properties
from actviz.cache import memo
from actviz.errors import InputError
from actviz.plots import curve_figures, surface_figures
from actviz.views.tables import MISSING
from actviz.views.urlstate import (
    DEFAULT_CUSTOM,
    DEFAULT_CUSTOM_PARAMS,
    ActivationParams,
    CatalogueNames,
    Choice,
    CustomFormula,
    Field,
    Flag,
    Number,
    PageState,
    QueryParams,
    Text,
)

LAYOUTS = ("overlay", "grid")
DEFAULT_SELECTION = ("sigmoid", "tanh", "relu")
MAX_SELECTED = limits.MAX_COMPARED
EPS_MAX = limits.SATURATION_EPS_MAX  # saturation threshold slider range [0, EPS_MAX]
COST_METHOD = costs.METHOD  # printed under the cost table


@dataclass
class GalleryState:
    selected: list[str] = field(default_factory=lambda: list(DEFAULT_SELECTION))
    # Per activation, the parameter values that differ from the registry defaults.
    params: dict[str, dict[str, float]] = field(default_factory=dict)
    xmin: float = -5.0
    xmax: float = 5.0
    show_d2: bool = False
    layout: str = "overlay"
    shade: bool = True
    saturation_eps: float = 0.05
    custom_on: bool = False
    custom_expr: str = DEFAULT_CUSTOM
    custom_params: str = DEFAULT_CUSTOM_PARAMS
    morph: str = ""  # "swish.beta": that parameter swept in the browser ("" = no morph chart)

    def param_values(self, name: str) -> dict[str, float]:
        """All parameter values of ``name``: defaults overlaid with this state's."""
        values = activations.get(name).defaults()
        values.update(self.params.get(name, {}))
        return values


@dataclass(frozen=True)
class MorphTarget:
    """``morph=swish.beta``: a catalogue activation's parameter, kept as its canonical ``name.param``."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        try:
            name, param = morph_mod.parse_target(raw[:80])
        except InputError as exc:
            warnings.append(f"{key}: {exc}; no morph chart")
            return default
        return f"{name}.{param}"

    def format(self, value: Any) -> str:
        return str(value)

    def widget(self, value: Any) -> Any:
        return value


def _check_morph(state: GalleryState, warnings: list[str]) -> None:
    """The morphed activation must be on the page: add it when there is room, else drop the morph."""
    if not state.morph:
        return
    name = state.morph.split(".", 1)[0]
    if name in state.selected:
        return
    if len(state.selected) < MAX_SELECTED:
        state.selected.append(name)
    else:
        warnings.append(f"morph={state.morph}: {name} is not among the {MAX_SELECTED} selected activations; "
                        "no morph chart")
        state.morph = ""


def morph_options(selected: list[str]) -> list[str]:
    """Every parameter of the selected catalogue activations, as ``name.param`` (what the morph picker lists)."""
    return [f"{n}.{p.name}" for n in selected for p in activations.get(n).params]


def _x_range_changed(state: GalleryState, default: GalleryState) -> bool:
    return (state.xmin, state.xmax) != (default.xmin, default.xmax)


def _check_x_range(state: GalleryState, warnings: list[str]) -> None:
    if not state.xmin < state.xmax:
        warnings.append(f"xmin={state.xmin:g} must be below xmax={state.xmax:g}; using [-5, 5]")
        state.xmin, state.xmax = GalleryState.xmin, GalleryState.xmax


GALLERY = PageState(
    make=GalleryState, prefix="g_",
    fields=(
        Field("selected", "act", Text(), link=False),
        Field("xmin", "xmin", Number(-limits.X_LIMIT, limits.X_LIMIT), write=_x_range_changed),
        Field("xmax", "xmax", Number(-limits.X_LIMIT, limits.X_LIMIT), write=_x_range_changed),
        Field("show_d2", "d2", Flag()),
        Field("layout", "layout", Choice(LAYOUTS)),
        Field("shade", "shade", Flag()),
        Field("saturation_eps", "eps", Number(0.0, EPS_MAX)),
        Field("custom_on", "custom", Flag(), link=False),
        Field("custom_expr", "expr", Text(), link=False),
        Field("morph", "morph", MorphTarget()),
    ),
    parts=(CatalogueNames(DEFAULT_SELECTION), ActivationParams(), CustomFormula()),
    checks=(_check_x_range, _check_morph),
)


def decode_gallery(qp: QueryParams) -> tuple[GalleryState, list[str]]:
    return GALLERY.decode(qp)


def encode_gallery(state: GalleryState) -> dict[str, str]:
    return GALLERY.encode(state)


@dataclass
class GatedView:
    """A gated unit as the gallery draws it: surface, gradient field and the slice b = 1."""

    choice: ActivationChoice
    surface: surfaces.Surface
    slice: curves.Curve
    figure: go.Figure


@dataclass
class GalleryView:
    choices: list[ActivationChoice]
    curves: list[curves.Curve]          # element-wise curves (the main chart)
    figure: go.Figure
    table: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)  # activation (or "custom") -> message
    gated: list[GatedView] = field(default_factory=list)
    morph: go.Figure | None = None      # the parameter sweep the browser plays (state.morph)
    costs: pd.DataFrame | None = None   # measured time and memory per element (None: not measured)

    @property
    def morph_only(self) -> bool:
        """The morph chart already shows every element-wise curve (one activation, morphed)."""
        return self.morph is not None and len(self.curves) == 1 and \
            self.curves[0].choice.name == (self.morph.data[0].meta or {}).get("activation")


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


def _view_key(state: GalleryState, measure_cost: bool = True, points: int = curves.DEFAULT_POINTS) -> tuple:
    return repr(state), measure_cost, points  # every field (lists, dicts of numbers and strings) is in its repr


@memo(maxsize=16, key=_view_key)
def build_view(state: GalleryState, measure_cost: bool = True, points: int = curves.DEFAULT_POINTS
               ) -> GalleryView:
    """Curves, charts and tables of one gallery state, shared by every session showing that state (a class
    opening the same link, or landing on the same slider value, costs one build; treat it as read-only)."""
    chosen, errors = choices_for(state)
    computed: list[curves.Curve] = []
    gated: list[GatedView] = []
    kept: list[ActivationChoice] = []
    for c in chosen:
        try:
            curve = curves.compute_curve(c, state.xmin, state.xmax, points)
            if c.is_gated:
                gated.append(gated_view(c, state.xmin, state.xmax))
            else:
                computed.append(curve)
            kept.append(c)
        except InputError as exc:
            errors["custom" if c.is_custom else c.name] = str(exc)
    fig = curve_figures.activation_figure(computed, state.show_d2, state.layout,
                                    state.saturation_eps if state.shade else 0.0)
    table = properties_table(kept)
    cost = cost_table(kept) if measure_cost else None
    return GalleryView(kept, computed, fig, table, errors, gated, morph_view(state, kept, errors), cost)


def morph_view(state: GalleryState, kept: list[ActivationChoice], errors: dict[str, str]) -> go.Figure | None:
    """The morph chart of ``state.morph`` (its activation at the page's other parameter values)."""
    if not state.morph:
        return None
    name, _, param = state.morph.partition(".")
    chosen = next((c for c in kept if not c.is_custom and c.name == name), None)
    if chosen is None:
        return None
    try:
        sweep = morph_mod.compute_morph(chosen, param, state.xmin, state.xmax)
    except InputError as exc:
        errors[name] = f"morph of {param}: {exc}"
        return None
    return curve_figures.morph_figure(sweep, state.show_d2)


def gated_view(choice: ActivationChoice, amin: float, amax: float) -> GatedView:
    """The surface over a in [amin, amax] and b in [-3, 3] (41 × 41), and the slice b = 1 on 401 points."""
    surface = surfaces.compute_surface(choice, amin, amax, *surfaces.DEFAULT_RANGE, surfaces.DEFAULT_POINTS)
    slice_curve = curves.compute_curve(choice, amin, amax, 401)
    return GatedView(choice, surface, slice_curve, surface_figures.gated_figure(surface, slice_curve))


def cost_table(chosen: list[ActivationChoice]) -> pd.DataFrame:
    """Measured cost of each activation (:mod:`actviz.activations.costs`; method in ``costs.METHOD``)."""
    rows = []
    for c, cost in costs.cached_costs(chosen).items():
        rows.append({
            "activation": c.label,
            "forward vs ReLU": f"{cost.forward:.2g}×",
            "forward+backward vs ReLU": f"{cost.forward_backward:.2g}×",
            "peak memory, bytes/element": f"{cost.peak_bytes:.3g}",
            "forward, ns/element": f"{cost.forward_ns:.2g}",
            "forward+backward, ns/element": f"{cost.forward_backward_ns:.2g}",
        })
    return pd.DataFrame(rows)


def _num(v: float, digits: int = 4) -> str:
    if math.isinf(v):
        return "∞"
    if not math.isfinite(v):
        return MISSING
    if abs(v) < 1e-9:
        return "0"
    return f"{v:.{digits}g}"


def properties_table(chosen: list[ActivationChoice]) -> pd.DataFrame:
    rows = []
    for c in chosen:
        try:
            p = properties(c)
        except InputError:
            continue
        # None: f is not finite for every z ~ N(0, 1) (log(x)), so E[f(z)] does not exist either.
        zc = MISSING if p.zero_centred is None else \
            f"{'yes' if p.zero_centred else 'no'} (E[f(z)] = {_num(p.mean_normal, 3)})"
        rows.append({
            "activation": c.label + (" (slice b = 1)" if c.is_gated else ""),
            "output range": p.output_range,
            "monotonic": p.monotonic,
            "zero-centred": zc,
            "smoothness": p.smoothness,
            "saturating": p.saturation,
            "f′(0)": _num(p.dy_at_0),
            "max |f′|": _num(p.max_abs_dy),
            "max |f′| at": p.max_abs_dy_at,
        })
    return pd.DataFrame(rows)


MAX_LATEX = 2500  # longer derivatives are not typeset (a 300-character formula can have a huge one)


@dataclass(frozen=True)
class FormulaMath:
    latex: str
    derivative_latex: str | None
    note: str


def custom_math(choice: ActivationChoice) -> FormulaMath | None:
    """A custom formula typeset from its checked tree, with f' where sympy can derive it (None if the
    formula cannot be typeset at all)."""
    from actviz.activations import symbolic  # sympy takes seconds to import: only when a formula is shown

    try:
        sym = symbolic.symbolic(choice.expression or "", tuple(choice.param_dict))
    except (InputError, ValueError, TypeError, RecursionError):
        return None
    d, note = sym.derivative_latex, sym.note
    if d is not None and len(d) > MAX_LATEX:
        d, note = None, "the symbolic derivative is too long to show"
    return FormulaMath(sym.latex, d, note)


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
