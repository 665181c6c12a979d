"""Gradient-flow page state <-> URL query parameters (same rules as :mod:`actviz.viewstate`).

``decode_gradient`` never raises: every missing, malformed, non-finite or out-of-range value falls back
to its default and adds a warning.  ``encode_gradient`` writes only what differs from the defaults.

Activations are a comma-separated list of tokens: a catalogue name (its slider values in
``name.param`` keys, as in the gallery) or a fixed variant ``name(param=value,...)``, so that one link
can compare LeakyReLU with two different slopes.  The data directory is never read from a link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from actviz import activations, datasets, diagnostics, expr, models
from actviz.errors import InputError
from actviz.viewstate import (
    CUSTOM_PARAM_RANGE,
    DEFAULT_CUSTOM,
    DEFAULT_CUSTOM_PARAMS,
    QueryParams,
    _choice_of,
    _first,
    _fmt,
    _number,
    decode_activation_params,
    decode_custom,
    format_assignments,
    with_params,
)

DATASETS = tuple(n for n in datasets.NAMES if n != "csv")  # an upload cannot live in a link
DEFAULT_SELECTION = ("sigmoid", "tanh", "relu")
MAX_SELECTED = diagnostics.MAX_COMPARE
MAX_SEED = models.MAX_SEED
MAX_SYM_STEPS = diagnostics.MAX_SYMMETRY_STEPS
_VARIANT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")

__all__ = ["GradientState", "decode_gradient", "encode_gradient", "parse_token", "variant_token", "with_params",
           "CUSTOM_PARAM_RANGE", "DEFAULT_CUSTOM", "DEFAULT_CUSTOM_PARAMS", "format_assignments"]


@dataclass
class GradientState:
    dataset: str = "digits"
    n_samples: int = 1000
    noise: float = 0.2
    data_seed: int = 0
    selected: list[str] = field(default_factory=lambda: list(DEFAULT_SELECTION))  # tokens
    params: dict[str, dict[str, float]] = field(default_factory=dict)  # plain-name tokens' non-defaults
    custom_on: bool = False
    custom_expr: str = DEFAULT_CUSTOM
    custom_params: str = DEFAULT_CUSTOM_PARAMS
    hidden: str = "512,256,256,128"
    init: str = "default"
    init_std: float = 1.0
    init_low: float = -1.0
    init_high: float = 1.0
    init_value: float = 0.0
    bias: float | None = None
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

    def init_spec(self) -> models.InitSpec:
        return models.InitSpec(self.init, self.init_std, self.init_low, self.init_high, self.init_value, self.bias)

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
    inner = ",".join(f"{p.name}={_fmt(float(values[p.name]))}" for p in act.params if p.name in values)
    return f"{act.name}({inner})" if inner else act.name


def _split_tokens(raw: str) -> list[str]:
    """Split on commas outside parentheses."""
    out, depth, cur = [], 0, []
    for ch in raw:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [t.strip() for t in out if t.strip()]


def token_label(token: str) -> str:
    try:
        name, values = parse_token(token)
    except InputError:
        return token
    label = activations.get(name).label
    if values:
        label += " (" + ", ".join(f"{k}={v:g}" for k, v in values.items()) + ")"
    return label


# --- decode / encode ----------------------------------------------------------------------------------

def _int(qp: QueryParams, key: str, default: int, lo: int, hi: int, warnings: list[str]) -> int:
    value = _number(qp, key, float(default), lo, hi, warnings)
    if value != int(value):
        warnings.append(f"{key}={value:g} must be a whole number; using {default}")
        return default
    return int(value)


def decode_gradient(qp: QueryParams) -> tuple[GradientState, list[str]]:
    warnings: list[str] = []
    state = GradientState()
    state.dataset = _choice_of(qp, "data", DATASETS, state.dataset, warnings)
    lo, hi = datasets.N_SAMPLES_RANGE
    state.n_samples = _int(qp, "n", state.n_samples, lo, hi, warnings)
    state.noise = _number(qp, "noise", state.noise, *datasets.NOISE_RANGE, warnings)
    state.data_seed = _int(qp, "dseed", state.data_seed, 0, MAX_SEED, warnings)

    raw_sel = _first(qp.get("act"))
    if raw_sel is not None:
        selected: list[str] = []
        for token in _split_tokens(raw_sel[:2000])[:MAX_SELECTED * 2]:
            try:
                name, values = parse_token(token)
            except InputError as exc:
                warnings.append(f"activation {token[:40]!r} in the link was skipped: {exc}")
                continue
            canonical = variant_token(name, values) if values else name
            if canonical not in selected:
                selected.append(canonical)
        state.selected = selected[:MAX_SELECTED]
    state.params = decode_activation_params(qp, warnings)

    decode_custom(qp, state, warnings)

    raw_hidden = _first(qp.get("hidden"))
    if raw_hidden is not None:
        try:
            models.parse_hidden(raw_hidden)
            state.hidden = raw_hidden.strip()
        except InputError as exc:
            warnings.append(f"hidden sizes: {exc}; using {state.hidden}")
    state.init = _choice_of(qp, "init", models.INIT_NAMES, state.init, warnings)
    lim = models.INIT_VALUE_LIMIT
    state.init_std = _number(qp, "std", state.init_std, 1e-6, lim, warnings)
    state.init_low = _number(qp, "a", state.init_low, -lim, lim, warnings)
    state.init_high = _number(qp, "b", state.init_high, -lim, lim, warnings)
    if state.init_low >= state.init_high:
        warnings.append(f"a={state.init_low:g} must be below b={state.init_high:g}; using a=-1, b=1")
        state.init_low, state.init_high = -1.0, 1.0
    state.init_value = _number(qp, "value", state.init_value, -lim, lim, warnings)
    if _first(qp.get("bias")) is not None:
        state.bias = _number(qp, "bias", 0.0, -lim, lim, warnings)
    state.batch_size = _int(qp, "batch", state.batch_size, 1, diagnostics.MAX_BATCH, warnings)
    state.seed = _int(qp, "seed", state.seed, 0, MAX_SEED, warnings)
    state.eps = _number(qp, "eps", state.eps, 0.0, diagnostics.EPS_MAX, warnings)
    state.sym_steps = _int(qp, "steps", state.sym_steps, 1, MAX_SYM_STEPS, warnings)
    state.sym_lr = _number(qp, "lr", state.sym_lr, 1e-4, 10.0, warnings)

    raw_preset = _first(qp.get("preset"))
    if raw_preset is not None:
        from actviz import gradient_presets

        if raw_preset in gradient_presets.PRESETS:
            state.preset = raw_preset
        else:
            warnings.append(f"unknown preset {raw_preset[:30]!r} in the link was ignored")
    return state, warnings


def encode_gradient(state: GradientState) -> dict[str, str]:
    d = GradientState()
    out: dict[str, str] = {}
    if state.preset:
        out["preset"] = state.preset
    if state.dataset != d.dataset:
        out["data"] = state.dataset
    if state.dataset in datasets.SYNTHETIC:
        if state.n_samples != d.n_samples:
            out["n"] = str(state.n_samples)
        if state.noise != d.noise:
            out["noise"] = _fmt(state.noise)
    if state.data_seed != d.data_seed:
        out["dseed"] = str(state.data_seed)
    if state.selected != d.selected:
        out["act"] = ",".join(state.selected)
    for name in state.selected:
        if "(" in name:
            continue
        for pname, value in sorted(state.params.get(name, {}).items()):
            out[f"{name}.{pname}"] = _fmt(value)
    if state.custom_on:
        out["custom"] = "1"
        out["expr"] = state.custom_expr
        out["eparams"] = state.custom_params
    if state.hidden != d.hidden:
        out["hidden"] = state.hidden
    if state.init != d.init:
        out["init"] = state.init
    if state.init == "normal" and state.init_std != d.init_std:
        out["std"] = _fmt(state.init_std)
    if state.init == "uniform" and (state.init_low, state.init_high) != (d.init_low, d.init_high):
        out["a"], out["b"] = _fmt(state.init_low), _fmt(state.init_high)
    if state.init == "constant" and state.init_value != d.init_value:
        out["value"] = _fmt(state.init_value)
    if state.bias is not None:
        out["bias"] = _fmt(state.bias)
    for key, attr in (("batch", "batch_size"), ("seed", "seed")):
        if getattr(state, attr) != getattr(d, attr):
            out[key] = str(getattr(state, attr))
    if state.eps != d.eps:
        out["eps"] = _fmt(state.eps)
    if state.init in ("zeros", "constant"):
        if state.sym_steps != d.sym_steps:
            out["steps"] = str(state.sym_steps)
        if state.sym_lr != d.sym_lr:
            out["lr"] = _fmt(state.sym_lr)
    return out


def same_settings(a: GradientState, b: GradientState) -> bool:
    """Equal apart from the preset marker (used to tell whether a preset is still what is shown)."""
    return encode_gradient(replace(a, preset=None)) == encode_gradient(replace(b, preset=None))
