"""A different activation per hidden layer, written ``relu>tanh`` (TF Playground issue #50).

:class:`PerLayer` stands wherever one :class:`ActivationChoice` can stand in a race (it has the same
``name``/``label``/``key``/``as_dict`` surface), and :func:`layer_choices` turns either into one
choice per hidden layer.  :func:`parse_item` reads one race item of the command line or a link:
``relu``, ``swish(beta=2)``, ``leaky_relu(negative_slope=0.2)>tanh`` or ``relu>custom`` (the custom
formula given separately).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actviz.activations import choice as choice_mod
from actviz.activations.choice import ActivationChoice
from actviz.errors import InputError

SEPARATOR = ">"
MAX_ITEM_LENGTH = 400
_INLINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


@dataclass(frozen=True)
class PerLayer:
    """One activation per hidden layer, first layer first."""

    layers: tuple[ActivationChoice, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple) or len(self.layers) < 2:
            raise InputError("a per-layer activation needs at least two layers, e.g. relu>tanh")
        if not all(isinstance(c, ActivationChoice) for c in self.layers):
            raise InputError("every layer of a per-layer activation must be an activation choice")

    # The surface an ActivationChoice offers to races, tables and file names.
    @property
    def params(self) -> tuple:
        return ()

    @property
    def expression(self) -> None:
        return None

    @property
    def learnable(self) -> tuple:
        return ()

    @property
    def name(self) -> str:
        return SEPARATOR.join(c.name for c in self.layers)

    @property
    def is_custom(self) -> bool:
        return any(c.is_custom for c in self.layers)

    @property
    def is_gated(self) -> bool:
        """Is any of its layers a gated unit (a layer with two projections)?"""
        return any(c.is_gated for c in self.layers)

    @property
    def has_params(self) -> bool:
        return any(c.params or c.learnable for c in self.layers)

    @property
    def param_dict(self) -> dict[str, float]:
        return {}

    @property
    def label(self) -> str:
        return " > ".join(c.label for c in self.layers)

    @property
    def key(self) -> str:
        return SEPARATOR.join(c.key for c in self.layers)

    @property
    def text(self) -> str:
        """As ``--activations`` reads it: ``swish(beta=2)>tanh``."""
        return item_text(self)

    def as_dict(self) -> dict[str, Any]:
        return {"layers": [c.as_dict() for c in self.layers]}

    def formula(self) -> str:
        return " ; ".join(f"layer {i + 1}: {c.formula()}" for i, c in enumerate(self.layers))


Choice = ActivationChoice | PerLayer


def layer_choices(act: Choice, n_layers: int) -> tuple[ActivationChoice, ...]:
    """One choice per hidden layer; InputError when a per-layer item does not fit the network."""
    if isinstance(act, PerLayer):
        if len(act.layers) != n_layers:
            raise InputError(f"{act.name} gives {len(act.layers)} activations but the network has {n_layers} hidden "
                             f"layer{'s' if n_layers != 1 else ''}; give one per hidden layer")
        return act.layers
    return (act,) * n_layers


def from_dict(data: Any) -> Choice:
    """Inverse of ``as_dict`` for either kind (validated: the dict may come from a checkpoint)."""
    if isinstance(data, Mapping) and "layers" in data:
        layers = data["layers"]
        if not isinstance(layers, list) or not 2 <= len(layers) <= 64:
            raise InputError("a per-layer activation needs a list of at least two layers")
        return PerLayer(tuple(choice_mod.from_dict(d) for d in layers))
    return choice_mod.from_dict(data)


def split_items(text: str) -> list[str]:
    """Split a race list on commas that are not inside parentheses: ``swish(beta=2,),relu>tanh``."""
    items, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def _inline_params(text: str, token: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InputError(f"cannot read {token[:40]!r}: write parameters as name(key=value), e.g. swish(beta=2)")
        out[key.strip()] = value.strip()
    return out


def parse_layer(token: str, params: Mapping[str, Mapping[str, Any]] | None = None,
                learnable: Sequence[str] = (), custom: ActivationChoice | None = None) -> ActivationChoice:
    """One layer's activation: ``name``, ``name(k=v, ...)`` or ``custom`` (the separately given formula)."""
    m = _INLINE.match(token)
    if m is None:
        raise InputError(f"cannot read the activation {token.strip()[:40]!r}; write e.g. relu, swish(beta=2) "
                         "or relu>tanh")
    name, inline = m.group(1), m.group(2)
    if name.lower() == choice_mod.CUSTOM:
        if custom is None:
            raise InputError("'custom' in the activation list needs a formula (--expr 'x * sigmoid(x)')")
        if inline:
            raise InputError("give a custom formula's parameters with --param custom.NAME=VALUE")
        return custom
    values: dict[str, Any] = dict((params or {}).get(name, {}))
    if inline:
        values.update(_inline_params(inline, token))
    learn = [p.split(".", 1)[1] for p in learnable if p.startswith(name + ".")]
    return choice_mod.choose(name, values or None, learn)


def parse_item(token: str, params: Mapping[str, Mapping[str, Any]] | None = None, learnable: Sequence[str] = (),
               custom: ActivationChoice | None = None) -> Choice:
    """One race item: a single activation or ``a>b>...`` (one per hidden layer)."""
    if len(token) > MAX_ITEM_LENGTH:
        raise InputError(f"the activation item is too long (at most {MAX_ITEM_LENGTH} characters)")
    parts = [p for p in token.split(SEPARATOR)]
    if any(not p.strip() for p in parts):
        raise InputError(f"cannot read {token.strip()[:40]!r}: write one activation per hidden layer, e.g. relu>tanh")
    layers = tuple(parse_layer(p, params, learnable, custom) for p in parts)
    return layers[0] if len(layers) == 1 else PerLayer(layers)


def uses_custom(act: Choice) -> bool:
    return any(c.is_custom for c in (act.layers if isinstance(act, PerLayer) else (act,)))


def layer_text(choice: ActivationChoice) -> str:
    """One layer as :func:`parse_layer` reads it: ``relu``, ``swish(beta=2)`` or ``custom``."""
    if choice.is_custom:
        return choice_mod.CUSTOM
    params = ", ".join(f"{k}={v:g}" for k, v in choice._non_default_params())
    return f"{choice.name}({params})" if params else choice.name


def item_text(act: Choice) -> str:
    """A race item as :func:`parse_item` reads it (learnable flags and custom formulas travel separately)."""
    layers = act.layers if isinstance(act, PerLayer) else (act,)
    return SEPARATOR.join(layer_text(c) for c in layers)


def mentioned_names(items: Sequence[str]) -> set[str]:
    """Activation names used anywhere in race items (to check ``--param NAME.KEY`` refers to one)."""
    names: set[str] = set()
    for item in items:
        for part in item.split(SEPARATOR):
            m = _INLINE.match(part)
            if m:
                names.add(m.group(1))
    return names
