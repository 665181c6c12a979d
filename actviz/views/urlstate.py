"""Page state <-> the page address, declared once per page as a table of fields.

Every page keeps its settings in a dataclass; a :class:`PageState` lists, for each attribute, the
query key that carries it in a shareable link and the :class:`Codec` that reads and writes it (as
tensorflow/playground's ``state.ts`` does with its ``PROPS`` table).  The same table gives the session
key of the widget that edits the attribute: ``{prefix}{key}`` (``g_xmin`` edits ``xmin``), so decoding a
link, encoding one and seeding widgets cannot drift apart.

Settings that span several query keys (an activation list with ``swish.beta=2``-style parameters, a
custom formula with its ``expr`` and ``eparams``) are :class:`Part` objects with their own decode and
encode.

Query parameters are untrusted: anyone can hand-edit a link.  ``decode`` never raises; every value that
is missing, malformed, non-finite or out of range falls back to its default and adds a warning the page
shows.  ``encode`` writes only what differs from the defaults (and only fields that matter for the
current state), so links stay short.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from actviz import activations, limits, validate
from actviz.activations import expr
from actviz.data.spec import SYNTHETIC
from actviz.errors import InputError
from actviz.network import models

QueryParams = Mapping[str, Any]
S = TypeVar("S")


def first(value: Any) -> str | None:
    """Streamlit hands repeated keys as lists; we only ever write one value per key."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return None if value is None else str(value)


def fmt(value: float) -> str:
    # 15 significant digits: short for slider values, exact for any number a person types.
    return f"{value:.15g}" if math.isfinite(value) else "0"


# --- codecs: one query value <-> one attribute -----------------------------------------------------

class Codec(Protocol):
    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any: ...
    def format(self, value: Any) -> str: ...
    def widget(self, value: Any) -> Any: ...


@dataclass(frozen=True)
class Number:
    lo: float
    hi: float

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        try:
            value = validate.number(raw, key)
        except InputError as exc:
            warnings.append(f"{exc}; using {default:g}")
            return default
        if not self.lo <= value <= self.hi:
            warnings.append(f"{key}={value:g} is outside [{self.lo:g}, {self.hi:g}]; using {default:g}")
            return default
        return value

    def format(self, value: Any) -> str:
        return fmt(value)

    def widget(self, value: Any) -> Any:
        return float(value)


@dataclass(frozen=True)
class OptionalNumber(Number):
    """A number that may be absent (``None``: the setting is off), e.g. a constant bias."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        return Number.parse(self, raw, key, 0.0 if default is None else default, warnings)

    def widget(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Whole:
    lo: int
    hi: int

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        value = Number(self.lo, self.hi).parse(raw, key, float(default), warnings)
        if value != int(value):
            warnings.append(f"{key}={value:g} must be a whole number; using {default}")
            return default
        return int(value)

    def format(self, value: Any) -> str:
        return str(int(value))

    def widget(self, value: Any) -> Any:
        return int(value)


@dataclass(frozen=True)
class Flag:
    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        try:
            return validate.flag(raw, key)
        except InputError:
            warnings.append(f"{key}={raw[:20]!r} should be 0 or 1; using {int(default)}")
            return default

    def format(self, value: Any) -> str:
        return str(int(value))

    def widget(self, value: Any) -> Any:
        return bool(value)


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        if raw in self.options:
            return raw
        warnings.append(f"{key}={raw[:20]!r} is not one of {', '.join(self.options)}; using {default}")
        return default

    def format(self, value: Any) -> str:
        return str(value)

    def widget(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Text:
    """Free text (a formula, kept even when invalid so the page can show its error), or, for a field
    that only names a widget, whatever that widget holds (a list of names)."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        return raw

    def format(self, value: Any) -> str:
        return str(value)

    def widget(self, value: Any) -> Any:
        return list(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class HiddenSizes:
    """Hidden layer sizes as typed (``256x5,128x5``), kept as text once it parses within the limits."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        try:
            models.parse_hidden(raw)
        except InputError as exc:
            warnings.append(f"hidden sizes: {exc}; using {default}")
            return default
        return raw.strip()

    def format(self, value: Any) -> str:
        return str(value)

    def widget(self, value: Any) -> Any:
        return value


_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Identifier:
    """A short lower-case name (a preset key); which names exist is the caller's business."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        if _IDENTIFIER.match(raw):
            return raw
        warnings.append(f"unknown {key} {raw[:30]!r} in the link was ignored")
        return default

    def format(self, value: Any) -> str:
        return str(value)

    def widget(self, value: Any) -> Any:
        return value


# --- the table -------------------------------------------------------------------------------------

def _differs(attr: str) -> Callable[[Any, Any], bool]:
    return lambda state, default: getattr(state, attr) != getattr(default, attr)


@dataclass(frozen=True)
class Field:
    """One attribute of a page state, carried by one query key.

    ``write(state, defaults)`` decides whether a link includes it (default: when it differs from the
    default); use it to leave out settings that do not apply (the std of an init that has none).
    """

    attr: str
    key: str
    codec: Codec
    write: Callable[[Any, Any], bool] | None = None
    widget: bool = True
    link: bool = True   # False: only names the widget; a Part reads and writes the link

    def should_write(self, state: Any, default: Any) -> bool:
        return (self.write or _differs(self.attr))(state, default)


class Part(Protocol):
    """A setting carried by several query keys (decoded after the fields, encoded after them too)."""

    def decode(self, qp: QueryParams, state: Any, warnings: list[str]) -> None: ...
    def encode(self, state: Any, out: dict[str, str]) -> None: ...


Check = Callable[[Any, list[str]], None]


@dataclass(frozen=True)
class PageState(Generic[S]):
    """A page's state type, its widget-key prefix and the table of what its link carries."""

    make: Callable[[], S]
    prefix: str
    fields: tuple[Field, ...]
    parts: tuple[Part, ...] = ()
    checks: tuple[Check, ...] = ()   # cross-field rules applied after decoding (xmin < xmax)

    def decode(self, qp: QueryParams) -> tuple[S, list[str]]:
        warnings: list[str] = []
        state = self.make()
        for f in self.fields:
            raw = first(qp.get(f.key)) if f.link else None
            if raw is not None:
                setattr(state, f.attr, f.codec.parse(raw, f.key, getattr(state, f.attr), warnings))
        for part in self.parts:
            part.decode(qp, state, warnings)
        for check in self.checks:
            check(state, warnings)
        return state, warnings

    def encode(self, state: S) -> dict[str, str]:
        default = self.make()
        out: dict[str, str] = {}
        for f in self.fields:
            if f.link and f.should_write(state, default):
                value = getattr(state, f.attr)
                if value is not None:
                    out[f.key] = f.codec.format(value)
        for part in self.parts:
            part.encode(state, out)
        return out

    def widget_key(self, attr: str) -> str:
        """The session key of the widget that edits ``attr``."""
        for f in self.fields:
            if f.attr == attr:
                return self.prefix + f.key
        raise KeyError(attr)

    def widget_values(self, state: S) -> dict[str, Any]:
        """Session values for every widget-backed field of ``state`` (widget key -> value)."""
        return {self.prefix + f.key: f.codec.widget(getattr(state, f.attr)) for f in self.fields if f.widget}

    def from_widgets(self, values: Mapping[str, Any], base: S) -> S:
        """``base`` with every widget-backed field read from ``values`` (widgets absent there keep base's)."""
        changes = {f.attr: values[self.prefix + f.key] for f in self.fields
                   if f.widget and self.prefix + f.key in values}
        return replace(base, **changes)

    def attrs(self) -> set[str]:
        return {f.attr for f in self.fields}


def same_except(page: PageState[S], a: S, b: S, *attrs: str) -> bool:
    """Equal links apart from ``attrs`` (e.g. the preset marker)."""
    blank = {name: getattr(page.make(), name) for name in attrs}
    return page.encode(replace(a, **blank)) == page.encode(replace(b, **blank))


# --- shared parts ----------------------------------------------------------------------------------

def limit_selection(selected: list[str], given: int, warnings: list[str]) -> list[str]:
    """The first MAX_COMPARED of ``selected``, saying so when the link named more (``given`` names)."""
    top = limits.MAX_COMPARED
    if len(selected) > top or given > 2 * top:
        warnings.append(f"the link names {given:,} activations; at most {top} are compared at once, so only the "
                        f"first {top} are shown")
    return selected[:top]


@dataclass(frozen=True)
class CatalogueNames:
    """``act=elu,gelu`` into ``state.selected``: catalogue names in order, unknown ones skipped and a long
    list cut, each with a warning; written only when it differs from ``default``."""

    default: tuple[str, ...]

    def decode(self, qp: QueryParams, state: Any, warnings: list[str]) -> None:
        raw = first(qp.get("act"))
        if raw is None:
            return
        tokens = [token for token in (t.strip() for t in raw.split(",")) if token]
        selected: list[str] = []
        for token in tokens[:limits.MAX_COMPARED * 2]:
            try:
                name = activations.get(token).name
            except InputError:
                warnings.append(f"unknown activation {token[:30]!r} in the link was skipped")
                continue
            if name not in selected:
                selected.append(name)
        state.selected = limit_selection(selected, len(tokens), warnings)

    def encode(self, state: Any, out: dict[str, str]) -> None:
        if state.selected != list(self.default):
            out["act"] = ",".join(state.selected)


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
        raw = first(qp.get(key))
        value = Number(spec.min, spec.max).parse(raw, str(key), spec.default, warnings) if raw is not None \
            else spec.default
        if value != spec.default:
            params.setdefault(act.name, {})[pname] = value
    for name, values in list(params.items()):
        try:
            activations.get(name).resolve_params(values)
        except InputError as exc:  # each value in range, but not together (hardtanh's min >= max)
            warnings.append(f"{exc}; using the defaults")
            del params[name]
    return params


@dataclass(frozen=True)
class ActivationParams:
    """The non-default parameter values of the selected catalogue activations (``elu.alpha=0.5``).

    The state needs ``selected`` (names; ``name(...)`` variant tokens are skipped) and ``params``.
    """

    def decode(self, qp: QueryParams, state: Any, warnings: list[str]) -> None:
        state.params = decode_activation_params(qp, warnings)

    def encode(self, state: Any, out: dict[str, str]) -> None:
        for name in state.selected:
            if "(" in name:
                continue
            for pname, value in sorted(state.params.get(name, {}).items()):
                out[f"{name}.{pname}"] = fmt(value)


DEFAULT_CUSTOM = "x * sigmoid(beta * x)"
DEFAULT_CUSTOM_PARAMS = "beta=1"  # as format_assignments writes it, so the default round-trips
CUSTOM_PARAM_RANGE = limits.CUSTOM_PARAM_RANGE


def format_assignments(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())


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


@dataclass(frozen=True)
class CustomFormula:
    """``custom=1&expr=…&eparams=beta=1``: the state needs ``custom_on``, ``custom_expr``, ``custom_params``."""

    def decode(self, qp: QueryParams, state: Any, warnings: list[str]) -> None:
        raw_expr = first(qp.get("expr"))
        raw_eparams = first(qp.get("eparams"))
        raw_on = first(qp.get("custom"))
        state.custom_on = (raw_expr is not None if raw_on is None
                           else Flag().parse(raw_on, "custom", raw_expr is not None, warnings))
        if raw_expr is not None:
            # Kept even when invalid: the page shows the expression with its error so it can be fixed.
            state.custom_expr = raw_expr[: expr.MAX_LENGTH]
            if len(raw_expr) > expr.MAX_LENGTH:
                warnings.append(f"the custom expression in the link was cut to {expr.MAX_LENGTH} characters")
        if raw_eparams is not None:
            state.custom_params = _custom_params(raw_eparams, warnings)

    def encode(self, state: Any, out: dict[str, str]) -> None:
        if state.custom_on:
            out["custom"] = "1"
            out["expr"] = state.custom_expr
            # Written even when empty: a missing key would decode to the default "beta=1".
            out["eparams"] = state.custom_params


def with_params(state: S, name: str, values: Mapping[str, float]) -> S:
    """``state`` (any page state with a ``params`` field) with ``name``'s parameters set, storing only
    non-default values."""
    defaults = activations.get(name).defaults()
    changed = {k: float(v) for k, v in values.items() if defaults.get(k) != float(v)}
    params = {k: dict(v) for k, v in state.params.items() if k != name}  # type: ignore[attr-defined]
    if changed:
        params[name] = changed
    return replace(state, params=params)  # type: ignore[type-var]


# --- shared fields: data and initialisation ----------------------------------------------------------

@dataclass
class NetworkSetup:
    """Settings shared by the gradient-flow page and the training lab: the data and the initial weights."""

    dataset: str = "digits"
    n_samples: int = 1000
    noise: float = 0.2
    data_seed: int = 0
    hidden: str = "512,256,256,128"
    init: str = "default"
    init_std: float = 1.0
    init_low: float = -1.0
    init_high: float = 1.0
    init_value: float = 0.0
    bias: float | None = None

    def init_spec(self) -> models.InitSpec:
        return models.InitSpec(self.init, self.init_std, self.init_low, self.init_high, self.init_value, self.bias)


def _synthetic(state: Any) -> bool:
    return state.dataset in SYNTHETIC


def data_fields(options: Sequence[str]) -> tuple[Field, ...]:
    def synthetic_and(attr: str) -> Callable[[Any, Any], bool]:
        return lambda s, d: _synthetic(s) and getattr(s, attr) != getattr(d, attr)

    return (
        Field("dataset", "data", Choice(tuple(options))),
        Field("n_samples", "n", Whole(*limits.N_SAMPLES_RANGE), write=synthetic_and("n_samples")),
        Field("noise", "noise", Number(*limits.NOISE_RANGE), write=synthetic_and("noise")),
        Field("data_seed", "dseed", Whole(0, limits.MAX_SEED)),
    )


def init_fields() -> tuple[Field, ...]:
    lim = limits.INIT_VALUE_LIMIT

    def init_is(name: str, *attrs: str) -> Callable[[Any, Any], bool]:
        return lambda s, d: s.init == name and any(getattr(s, a) != getattr(d, a) for a in attrs)

    return (
        Field("hidden", "hidden", HiddenSizes()),
        Field("init", "init", Choice(models.INIT_NAMES)),
        Field("init_std", "std", Number(1e-6, lim), write=init_is("normal", "init_std")),
        Field("init_low", "a", Number(-lim, lim), write=init_is("uniform", "init_low", "init_high")),
        Field("init_high", "b", Number(-lim, lim), write=init_is("uniform", "init_low", "init_high")),
        Field("init_value", "value", Number(-lim, lim), write=init_is("constant", "init_value")),
        Field("bias", "bias", OptionalNumber(-lim, lim), write=lambda s, d: s.bias is not None, widget=False),
    )


def check_uniform_bounds(state: Any, warnings: list[str]) -> None:
    if state.init_low >= state.init_high:
        warnings.append(f"a={state.init_low:g} must be below b={state.init_high:g}; using a=-1, b=1")
        state.init_low, state.init_high = -1.0, 1.0
