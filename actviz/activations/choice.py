"""A chosen activation with its parameter values: a catalogue entry or a custom expression.

This is the one value every part of the app passes around (gallery curves, gradient diagnostics,
training jobs).  It is frozen and hashable, validated when built, and has a canonical ``key`` so that
caches and job de-duplication compare like with like.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from actviz import activations
from actviz.activations import expr
from actviz.errors import InputError

CUSTOM = "custom"


@dataclass(frozen=True)
class ActivationChoice:
    name: str  # a registry name, or "custom"
    params: tuple[tuple[str, float], ...] = ()
    expression: str | None = None
    # Parameters trained as nn.Parameters (only those the registry marks learnable).
    learnable: tuple[str, ...] = ()

    @property
    def is_custom(self) -> bool:
        return self.name == CUSTOM

    @property
    def is_gated(self) -> bool:
        """A gated unit f(a, b) = act(a)·b (two inputs); :meth:`function` is then its slice b = 1."""
        return not self.is_custom and activations.get(self.name).gated

    @property
    def param_dict(self) -> dict[str, float]:
        return dict(self.params)

    @property
    def label(self) -> str:
        if self.is_custom:
            base = f"f(x) = {self.expression}"
        else:
            base = activations.get(self.name).label
        non_default = self._non_default_params()
        if non_default:
            base += " (" + ", ".join(f"{k}={_fmt(v)}" for k, v in non_default) + ")"
        if self.learnable:
            base += " [learned " + ", ".join(self.learnable) + "]"
        return base

    @property
    def key(self) -> str:
        """Canonical identity: equal keys mean the same function with the same parameters."""
        inner = ",".join(f"{k}={v!r}" for k, v in self.params)
        head = f"custom[{self.expression}]" if self.is_custom else self.name
        learned = f"+learn({','.join(self.learnable)})" if self.learnable else ""
        return f"{head}({inner}){learned}"

    def _non_default_params(self) -> list[tuple[str, float]]:
        if self.is_custom:
            return list(self.params)
        defaults = activations.get(self.name).defaults()
        return [(k, v) for k, v in self.params if defaults.get(k) != v]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the compiled function (rebuilt on first use): choices travel to worker processes."""
        return {k: v for k, v in self.__dict__.items() if k != "_fn"}

    @cached_property
    def _fn(self) -> Callable[..., torch.Tensor]:
        if self.is_custom:
            return expr.parse_expression(self.expression or "", [k for k, _ in self.params])
        return activations.get(self.name).fn

    def function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """f(x) with the parameter values bound (for a gated unit: the slice b = 1, i.e. act(a))."""
        fn, params = self._fn, self.param_dict
        if self.is_gated:
            return lambda x: fn(x, torch.ones_like(x), **params)
        return lambda x: fn(x, **params)

    def gated_function(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """f(a, b) of a gated unit with the parameter values bound."""
        if not self.is_gated:
            raise InputError(f"{self.label} is element-wise (one input); gated units are "
                             f"{', '.join(activations.names(activations.GATED))}")
        fn, params = self._fn, self.param_dict
        return lambda a, b: fn(a, b, **params)

    def training_function(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """f in training mode when it differs from :meth:`function` (RReLU's random slopes), else None."""
        if self.is_custom:
            return None
        train_fn, params = activations.get(self.name).train_fn, self.param_dict
        return None if train_fn is None else (lambda x: train_fn(x, **params))

    def band(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(lowest, highest) values training mode can give at ``x`` (RReLU), or None."""
        band = None if self.is_custom else activations.get(self.name).band
        return None if band is None else band(x, **self.param_dict)

    def call_with(self, x: torch.Tensor, overrides: Mapping[str, Any]) -> torch.Tensor:
        """f(x) with some parameters replaced (e.g. by learnable tensors during training)."""
        values: dict[str, Any] = dict(self.param_dict)
        values.update(overrides)
        return self._fn(x, **values)

    def formula(self) -> str:
        if self.is_custom:
            return "f(x) = " + (self.expression or "")
        return activations.get(self.name).formula

    def description(self) -> str:
        if self.is_custom:
            return "Your own activation; its derivatives come from autograd like every other curve."
        return activations.get(self.name).description

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "params": self.param_dict}
        if self.is_custom:
            out["expression"] = self.expression
        if self.learnable:
            out["learnable"] = list(self.learnable)
        return out


def _fmt(value: float) -> str:
    return f"{value:g}"


def choose(name: str, params: Mapping[str, Any] | None = None,
           learnable: tuple[str, ...] | list[str] = ()) -> ActivationChoice:
    """A validated catalogue choice; raises InputError for unknown names or out-of-range values."""
    act = activations.get(name)
    values = act.resolve_params(params)
    learn = tuple(dict.fromkeys(learnable))
    for p in learn:
        if not act.param(p).learnable:
            raise InputError(f"{act.name}.{p} cannot be learned; learnable: "
                             f"{', '.join(q.name for q in act.params if q.learnable) or 'none'}")
    return ActivationChoice(act.name, tuple(sorted(values.items())), None, learn)


def custom(expression: str, params: Mapping[str, Any] | None = None) -> ActivationChoice:
    """A validated custom expression with a value for each parameter it declares."""
    params = dict(params or {})
    parsed = expr.parse_expression(expression, list(params))
    values = expr.resolve_expression_params(parsed, params)
    choice = ActivationChoice(CUSTOM, tuple(sorted(values.items())), parsed.source)
    _probe(choice)
    return choice


def custom_from_text(expression: str, assignments: str) -> ActivationChoice:
    """A custom choice from the pages' two text fields: the formula and ``beta=1, a=2``."""
    return custom(expression, expr.parse_param_assignments(assignments))


def _probe(choice: ActivationChoice) -> None:
    """Run a custom expression once so that errors inside its calls surface at validation time."""
    x = torch.linspace(-3.0, 3.0, 7, dtype=torch.float64)
    try:
        choice.function()(x)
    except InputError:
        raise
    except (RuntimeError, ValueError, TypeError) as exc:
        raise expr.ExpressionError(f"the expression cannot be evaluated: {str(exc)[:120]}") from None


def from_dict(data: Mapping[str, Any]) -> ActivationChoice:
    """Inverse of ``as_dict``; validates everything (the dict may come from a checkpoint or a URL)."""
    if not isinstance(data, Mapping):
        raise InputError("an activation must be given as a mapping with a 'name'")
    name = data.get("name")
    if not isinstance(name, str):
        raise InputError("an activation needs a 'name'")
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise InputError("activation 'params' must be a mapping of name to number")
    if name == CUSTOM:
        expression = data.get("expression")
        if not isinstance(expression, str):
            raise InputError("a custom activation needs an 'expression'")
        return custom(expression, params)
    learnable = data.get("learnable") or ()
    if not isinstance(learnable, (list, tuple)) or not all(isinstance(v, str) for v in learnable):
        raise InputError("'learnable' must be a list of parameter names")
    return choose(name, params, tuple(learnable))
