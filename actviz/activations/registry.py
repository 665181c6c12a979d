"""The activation registry: what an entry is (:class:`Activation`, :class:`Param`) and how to find one.

The entries themselves are data in :mod:`actviz.activations.catalogue`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from actviz import validate
from actviz.errors import InputError

Tensor = torch.Tensor
# A parameter arrives as a Python float (gallery, frozen activations) or as a 0-d tensor (a
# learnable parameter during training); callables marked ``tensor_params`` accept both.
ParamValue = float | Tensor


@dataclass(frozen=True)
class Param:
    """One numeric parameter of an activation, with the range the UI and the CLI accept."""

    name: str
    default: float
    min: float
    max: float
    step: float
    help: str = ""
    # True when training may turn this parameter into a learned nn.Parameter (PReLU's slope).
    learnable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default, "min": self.min, "max": self.max,
                "step": self.step, "learnable": self.learnable, "help": self.help}


ELEMENTWISE = "elementwise"
GATED = "gated"
KINDS = (ELEMENTWISE, GATED)


@dataclass(frozen=True)
class Activation:
    """A registry entry.

    An element-wise entry's ``fn`` is called as ``fn(x, **params)``.  A *gated* entry (GLU, SwiGLU …)
    takes two inputs of the same shape, ``fn(a, b, **params) = act(a) · b``: in a network each hidden
    layer then computes both ``a`` and ``b`` (two projections, one gated by the other).
    """

    name: str
    label: str
    formula: str  # LaTeX, rendered with st.latex
    fn: Callable[..., Tensor]
    description: str  # a teacher's note, ending with the source (authors, year) for modern entries
    params: tuple[Param, ...] = ()
    # Cross-parameter rule the per-parameter ranges cannot express, e.g. hardtanh's min < max.
    check: Callable[[Mapping[str, float]], str | None] | None = None
    aliases: tuple[str, ...] = field(default=())
    kind: str = ELEMENTWISE
    # Training-mode behaviour when it differs from ``fn`` (RReLU draws a random negative slope per
    # element while training; ``fn`` is the deterministic eval-mode curve).
    train_fn: Callable[..., Tensor] | None = None
    # The band of values training mode can produce, as (lower, upper) curves over x (RReLU's slopes).
    band: Callable[..., tuple[Tensor, Tensor]] | None = None
    # How hidden weights start under the "default" init when this activation is trained ("siren").
    weight_init: str | None = None

    @property
    def gated(self) -> bool:
        return self.kind == GATED

    @property
    def learnable(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.learnable)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise InputError(f"{self.name} has no parameter {name!r}; "
                         f"it takes {', '.join(p.name for p in self.params) or 'no parameters'}")

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Defaults overlaid with ``given``, every value checked against its range.

        Raises InputError naming the parameter and its allowed range; values may come from a URL or
        the CLI, so NaN, inf and non-numbers are refused here rather than trusted to the widgets.
        """
        values = self.defaults()
        for key, raw in (given or {}).items():
            spec = self.param(key)
            value = validate.number(raw, f"{self.name}.{key}")
            if not spec.min <= value <= spec.max:
                raise InputError(f"{self.name}.{key}={value:g} is out of range; "
                                 f"choose a value in [{spec.min:g}, {spec.max:g}]")
            values[key] = value
        if self.check is not None:
            problem = self.check(values)
            if problem:
                raise InputError(f"{self.name}: {problem}")
        return values

    def __call__(self, *inputs: Tensor, **params: ParamValue) -> Tensor:
        return self.fn(*inputs, **params)


REGISTRY: dict[str, Activation] = {}


def register(act: Activation) -> None:
    """Add one entry (names are unique)."""
    if act.name in REGISTRY:
        raise ValueError(f"duplicate activation {act.name}")
    if act.kind not in KINDS:
        raise ValueError(f"{act.name}: unknown kind {act.kind!r}")
    REGISTRY[act.name] = act


def get(name: str) -> Activation:
    """The registry entry for ``name`` (case-insensitive; aliases such as ``leakyrelu`` accepted)."""
    key = str(name).strip().lower()
    if key in REGISTRY:
        return REGISTRY[key]
    for act in REGISTRY.values():
        if key in act.aliases:
            return act
    raise InputError(f"unknown activation {str(name)[:40]!r}; known: {', '.join(REGISTRY)}")


def names(kind: str | None = None) -> list[str]:
    """Every registered name (or only those of one ``kind``): element-wise entries in catalogue order,
    then the gated units."""
    if kind is None:
        return names(ELEMENTWISE) + names(GATED)
    return [n for n, a in REGISTRY.items() if a.kind == kind]
