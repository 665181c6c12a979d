"""Page state <-> URL query parameters, so a shared link reproduces a view exactly.

Query parameters are untrusted: anyone can hand-edit a link.  ``decode_*`` never raises; every value
that is missing, malformed, non-finite or out of range falls back to its default and adds a warning
the page shows.  ``encode_*`` writes only what differs from the defaults, so links stay short.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from actviz import activations, curves, expr
from actviz.errors import InputError

QueryParams = Mapping[str, Any]

LAYOUTS = ("overlay", "grid")
DEFAULT_SELECTION = ("sigmoid", "tanh", "relu")
MAX_SELECTED = 12
EPS_MAX = 0.5  # saturation threshold slider range [0, EPS_MAX]
CUSTOM_PARAM_RANGE = (-10.0, 10.0)  # slider range for a custom expression's parameters
DEFAULT_CUSTOM = "x * sigmoid(beta * x)"
DEFAULT_CUSTOM_PARAMS = "beta=1"  # as format_assignments writes it, so the default round-trips


def _first(value: Any) -> str | None:
    """Streamlit hands repeated keys as lists; we only ever write one value per key."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return None if value is None else str(value)


def _number(qp: QueryParams, key: str, default: float, lo: float, hi: float,
            warnings: list[str]) -> float:
    raw = _first(qp.get(key))
    if raw is None:
        return default
    try:
        value = activations.parse_number(raw, key)
    except InputError as exc:
        warnings.append(f"{exc}; using {default:g}")
        return default
    if not lo <= value <= hi:
        warnings.append(f"{key}={value:g} is outside [{lo:g}, {hi:g}]; using {default:g}")
        return default
    return value


def _flag(qp: QueryParams, key: str, default: bool, warnings: list[str]) -> bool:
    raw = _first(qp.get(key))
    if raw is None:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    warnings.append(f"{key}={raw[:20]!r} should be 0 or 1; using {int(default)}")
    return default


def _choice_of(qp: QueryParams, key: str, options: tuple[str, ...], default: str,
               warnings: list[str]) -> str:
    raw = _first(qp.get(key))
    if raw is None:
        return default
    if raw in options:
        return raw
    warnings.append(f"{key}={raw[:20]!r} is not one of {', '.join(options)}; using {default}")
    return default


def decode_activation_params(qp: QueryParams, warnings: list[str]) -> dict[str, dict[str, float]]:
    """``swish.beta=1.5``-style keys: per activation, the valid values that differ from the defaults."""
    params: dict[str, dict[str, float]] = {}
    for key in qp:
        if "." not in str(key):
            continue
        name, _, pname = str(key).partition(".")
        try:
            act = activations.get(name)
            spec = act.param(pname)
        except InputError:
            warnings.append(f"unknown parameter {str(key)[:40]!r} in the link was ignored")
            continue
        value = _number(qp, key, spec.default, spec.min, spec.max, warnings)
        if value != spec.default:
            params.setdefault(act.name, {})[pname] = value
    for name, values in list(params.items()):
        try:
            activations.get(name).resolve_params(values)
        except InputError as exc:  # each value in range, but not together (hardtanh's min >= max)
            warnings.append(f"{exc}; using the defaults")
            del params[name]
    return params


def _fmt(value: float) -> str:
    # 15 significant digits: short for slider values, exact for any number a person types.
    return f"{value:.15g}" if math.isfinite(value) else "0"


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

    def param_values(self, name: str) -> dict[str, float]:
        """All parameter values of ``name``: defaults overlaid with this state's."""
        values = activations.get(name).defaults()
        values.update(self.params.get(name, {}))
        return values


def decode_gallery(qp: QueryParams) -> tuple[GalleryState, list[str]]:
    warnings: list[str] = []
    state = GalleryState()
    raw_sel = _first(qp.get("act"))
    if raw_sel is not None:
        selected: list[str] = []
        for token in raw_sel.split(",")[:MAX_SELECTED * 2]:
            token = token.strip()
            if not token:
                continue
            try:
                name = activations.get(token).name
            except InputError:
                warnings.append(f"unknown activation {token[:30]!r} in the link was skipped")
                continue
            if name not in selected:
                selected.append(name)
        state.selected = selected[:MAX_SELECTED]

    state.params = decode_activation_params(qp, warnings)

    lim = curves.X_LIMIT
    xmin = _number(qp, "xmin", state.xmin, -lim, lim, warnings)
    xmax = _number(qp, "xmax", state.xmax, -lim, lim, warnings)
    if xmin < xmax:
        state.xmin, state.xmax = xmin, xmax
    else:
        warnings.append(f"xmin={xmin:g} must be below xmax={xmax:g}; using [-5, 5]")
    state.show_d2 = _flag(qp, "d2", state.show_d2, warnings)
    state.layout = _choice_of(qp, "layout", LAYOUTS, state.layout, warnings)
    state.shade = _flag(qp, "shade", state.shade, warnings)
    state.saturation_eps = _number(qp, "eps", state.saturation_eps, 0.0, EPS_MAX, warnings)

    decode_custom(qp, state, warnings)
    return state, warnings


def decode_custom(qp: QueryParams, state: Any, warnings: list[str]) -> None:
    """The custom formula keys (custom, expr, eparams) into any page state that has those fields."""
    raw_expr = _first(qp.get("expr"))
    raw_eparams = _first(qp.get("eparams"))
    state.custom_on = _flag(qp, "custom", raw_expr is not None, warnings)
    if raw_expr is not None:
        # Kept even when invalid: the page shows the expression with its error so it can be fixed.
        state.custom_expr = raw_expr[: expr.MAX_LENGTH]
        if len(raw_expr) > expr.MAX_LENGTH:
            warnings.append(f"the custom expression in the link was cut to {expr.MAX_LENGTH} characters")
    if raw_eparams is not None:
        state.custom_params = _custom_params(raw_eparams, warnings)


def _custom_params(raw: str, warnings: list[str]) -> str:
    """Custom-expression parameters from the link, each within the slider range."""
    try:
        values = expr.parse_param_assignments(raw[:400])
    except InputError as exc:
        warnings.append(f"custom parameters: {exc}")
        return DEFAULT_CUSTOM_PARAMS
    lo, hi = CUSTOM_PARAM_RANGE
    kept = {}
    for name, value in values.items():
        if lo <= value <= hi:
            kept[name] = value
        else:
            warnings.append(f"custom parameter {name}={value:g} is outside [{lo:g}, {hi:g}]; using 1")
            kept[name] = 1.0
    return format_assignments(kept)


def format_assignments(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def encode_gallery(state: GalleryState) -> dict[str, str]:
    default = GalleryState()
    out: dict[str, str] = {}
    if state.selected != default.selected:
        out["act"] = ",".join(state.selected)
    for name in state.selected:
        for pname, value in sorted(state.params.get(name, {}).items()):
            out[f"{name}.{pname}"] = _fmt(value)
    if (state.xmin, state.xmax) != (default.xmin, default.xmax):
        out["xmin"], out["xmax"] = _fmt(state.xmin), _fmt(state.xmax)
    if state.show_d2 != default.show_d2:
        out["d2"] = str(int(state.show_d2))
    if state.layout != default.layout:
        out["layout"] = state.layout
    if state.shade != default.shade:
        out["shade"] = str(int(state.shade))
    if state.saturation_eps != default.saturation_eps:
        out["eps"] = _fmt(state.saturation_eps)
    if state.custom_on:
        out["custom"] = "1"
        out["expr"] = state.custom_expr
        # Written even when empty: a missing key would decode to the default "beta=1".
        out["eparams"] = state.custom_params
    return out


StateT = TypeVar("StateT", bound=Any)


def with_params(state: StateT, name: str, values: Mapping[str, float]) -> StateT:
    """``state`` (any page state with a ``params`` field) with ``name``'s parameters set, storing only
    non-default values."""
    defaults = activations.get(name).defaults()
    changed = {k: float(v) for k, v in values.items() if defaults.get(k) != float(v)}
    params = {k: dict(v) for k, v in state.params.items() if k != name}
    if changed:
        params[name] = changed
    return replace(state, params=params)
