"""The activation catalogue: one registry entry per activation.

Each entry is plain data (name, label, LaTeX formula, parameters with ranges, a short teaching note)
plus a torch callable ``fn(x, **params)``.  Adding an activation is adding one ``_register(...)`` call.

The callables must be element-wise, autograd-friendly to second order (the gallery differentiates
them twice) and finite for every finite ``x`` (the gallery evaluates them on [-1000, 1000]).  Where a
``torch.nn.functional`` op fails one of those, the entry composes an equivalent from stable pieces and
says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

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


@dataclass(frozen=True)
class Activation:
    """A registry entry.  ``fn`` is called as ``fn(x, **params)`` and must be element-wise."""

    name: str
    label: str
    formula: str  # LaTeX, rendered with st.latex
    fn: Callable[..., Tensor]
    description: str
    params: tuple[Param, ...] = ()
    # Cross-parameter rule the per-parameter ranges cannot express, e.g. hardtanh's min < max.
    check: Callable[[Mapping[str, float]], str | None] | None = None
    aliases: tuple[str, ...] = field(default=())

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
            value = parse_number(raw, f"{self.name}.{key}")
            if not spec.min <= value <= spec.max:
                raise InputError(f"{self.name}.{key}={value:g} is out of range; "
                                 f"choose a value in [{spec.min:g}, {spec.max:g}]")
            values[key] = value
        if self.check is not None:
            problem = self.check(values)
            if problem:
                raise InputError(f"{self.name}: {problem}")
        return values

    def __call__(self, x: Tensor, **params: ParamValue) -> Tensor:
        return self.fn(x, **params)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "formula": self.formula,
                "description": self.description, "params": [p.as_dict() for p in self.params]}


def parse_number(raw: Any, what: str) -> float:
    """A finite float from a number or a string, or InputError saying what was wrong."""
    if isinstance(raw, bool):
        raise InputError(f"{what} must be a number, not {raw!r}")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str) and len(raw) <= 64:
        try:
            value = float(raw.strip())
        except ValueError:
            raise InputError(f"{what} must be a number, got {raw!r}") from None
    else:
        raise InputError(f"{what} must be a number")
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {raw!r}")
    return value


REGISTRY: dict[str, Activation] = {}


def _register(act: Activation) -> None:
    if act.name in REGISTRY:
        raise ValueError(f"duplicate activation {act.name}")
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


def names() -> list[str]:
    return list(REGISTRY)


# --- callables that need more than a torch.nn.functional call ------------------------------------


def _prelu(x: Tensor, init: ParamValue) -> Tensor:
    if isinstance(init, Tensor):  # a learnable slope during training
        return F.prelu(x, init.reshape(1))
    # With a fixed slope PReLU is LeakyReLU (same value, same gradient convention at 0) and that
    # kernel is ~40x faster than a torch.where on this CPU build.
    return F.leaky_relu(x, init)


def _swish(x: Tensor, beta: ParamValue) -> Tensor:
    # A Python float keeps torch's fast scalar path; a learnable beta arrives as a 0-d tensor.
    return x * torch.sigmoid(beta * x)


def _mish(x: Tensor) -> Tensor:
    # F.mish's double backward returns NaN for x > ~709 (exp overflow inside its fused formula);
    # composing through the thresholded softplus keeps f, f' and f'' finite everywhere.
    return x * torch.tanh(F.softplus(x))


def _hardsigmoid(x: Tensor) -> Tensor:
    # torch has no double backward for hardsigmoid_backward.  Same values, and the same gradient
    # convention as F.hardsigmoid (zero at the corners x = +-3).
    inside = (x > -3) & (x < 3)
    return torch.where(inside, x / 6 + 0.5, (x >= 3).to(x.dtype))


def _hardtanh_check(p: Mapping[str, float]) -> str | None:
    return None if p["min_val"] < p["max_val"] else "min_val must be below max_val"


# --- the catalogue --------------------------------------------------------------------------------

_register(Activation(
    "sigmoid", "Sigmoid", r"\sigma(x) = \frac{1}{1 + e^{-x}}",
    lambda x: torch.sigmoid(x),
    "Squashes to (0, 1); the classic 'firing rate'. Its slope is at most 0.25, so stacking many "
    "sigmoid layers multiplies small numbers together: gradients vanish towards the input.",
    aliases=("logistic",)))
_register(Activation(
    "logsigmoid", "LogSigmoid", r"\log \sigma(x) = -\log(1 + e^{-x})",
    lambda x: F.logsigmoid(x),
    "The log of the sigmoid, always negative; used inside losses more than as a hidden activation. "
    "Saturates on the right only."))
_register(Activation(
    "tanh", "Tanh", r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
    lambda x: torch.tanh(x),
    "A rescaled sigmoid, 2σ(2x) − 1: zero-centred with slope 1 at the origin, yet it still "
    "saturates on both sides."))
_register(Activation(
    "relu", "ReLU", r"\mathrm{ReLU}(x) = \max(0, x)",
    lambda x: F.relu(x),
    "Passes positives unchanged, zeroes negatives. Gradient 1 or 0: no vanishing on the right, "
    "but a unit whose input is always negative is 'dead' and never learns again."))
_register(Activation(
    "relu6", "ReLU6", r"\mathrm{ReLU6}(x) = \min(\max(0, x), 6)",
    lambda x: F.relu6(x),
    "ReLU capped at 6, popular on mobile networks for low-precision arithmetic; saturates on both "
    "sides (flat below 0 and above 6)."))
_register(Activation(
    "leaky_relu", "LeakyReLU",
    r"\mathrm{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}",
    lambda x, negative_slope: F.leaky_relu(x, negative_slope),
    "ReLU with a small slope a on the negative side, so every unit keeps some gradient and cannot "
    "die completely.",
    params=(Param("negative_slope", 0.01, 0.0, 1.0, 0.01, "slope a for x < 0"),),
    aliases=("leakyrelu", "lrelu")))
_register(Activation(
    "prelu", "PReLU",
    r"\mathrm{PReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases},\ a \text{ learned}",
    _prelu,
    "LeakyReLU whose negative slope a is a weight the network learns; 'init' is its starting value "
    "(torch's default 0.25).",
    params=(Param("init", 0.25, 0.0, 1.0, 0.01, "initial negative slope a", learnable=True),)))
_register(Activation(
    "elu", "ELU",
    r"\mathrm{ELU}(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}",
    lambda x, alpha: F.elu(x, alpha),
    "Smooth exponential bend for negatives, saturating at −α: mean activations closer to zero than "
    "ReLU's. Its derivative is continuous only when α = 1.",
    params=(Param("alpha", 1.0, 0.0, 3.0, 0.05, "negative saturation value −α"),)))
_register(Activation(
    "selu", "SELU",
    r"\mathrm{SELU}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases},"
    r"\ \lambda \approx 1.0507,\ \alpha \approx 1.6733",
    lambda x: F.selu(x),
    "ELU with constants chosen so that activations keep zero mean and unit variance through many "
    "layers (self-normalising networks)."))
_register(Activation(
    "celu", "CELU", r"\mathrm{CELU}(x) = \max(0, x) + \min\!\big(0, \alpha (e^{x/\alpha} - 1)\big)",
    lambda x, alpha: F.celu(x, alpha),
    "A version of ELU that is continuously differentiable for every α (its slope at 0 is always 1).",
    params=(Param("alpha", 1.0, 0.05, 3.0, 0.05, "negative saturation value −α (must be > 0)"),)))
_register(Activation(
    "softplus", "Softplus",
    r"\mathrm{Softplus}(x) = \tfrac{1}{\beta} \log(1 + e^{\beta x})\ "
    r"(\text{linear once } \beta x > \text{threshold})",
    lambda x, beta, threshold: F.softplus(x, beta, threshold),
    "A smooth ReLU: always positive, derivative is the sigmoid. Larger β makes the corner sharper; "
    "above the threshold torch switches to x for numerical stability.",
    params=(Param("beta", 1.0, 0.1, 10.0, 0.1, "sharpness β"),
            Param("threshold", 20.0, 1.0, 50.0, 1.0, "β·x above which the output is x"))))
_register(Activation(
    "silu", "SiLU", r"\mathrm{SiLU}(x) = x\,\sigma(x)",
    lambda x: F.silu(x),
    "The sigmoid-weighted linear unit (Swish with β = 1). Smooth and non-monotonic: it dips slightly "
    "below zero before rising."))
_register(Activation(
    "swish", "Swish", r"\mathrm{Swish}(x) = x\,\sigma(\beta x)",
    _swish,
    "Interpolates between x/2 (β = 0) and ReLU (β → ∞); β can be fixed or learned. Found by an "
    "automated search (Ramachandran et al., 2017).",
    params=(Param("beta", 1.0, 0.0, 10.0, 0.05, "sharpness β", learnable=True),)))
_register(Activation(
    "mish", "Mish", r"\mathrm{Mish}(x) = x \tanh(\mathrm{softplus}(x))",
    _mish,
    "Smooth, non-monotonic and unbounded above, much like Swish; whether it beats Swish depends on "
    "the task (check it in the training lab rather than take it on trust)."))
_register(Activation(
    "gelu", "GELU", r"\mathrm{GELU}(x) = x\,\Phi(x) = \tfrac{x}{2}\big(1 + \mathrm{erf}(x/\sqrt{2})\big)",
    lambda x: F.gelu(x),
    "Weights the input by the probability that a standard normal is below it; the default in "
    "Transformers (BERT, GPT)."))
_register(Activation(
    "gelu_tanh", "GELU (tanh approx.)",
    r"\mathrm{GELU}_{\tanh}(x) = \tfrac{x}{2}\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715 x^{3})\big)\Big)",
    lambda x: F.gelu(x, approximate="tanh"),
    "The tanh approximation of GELU used by the original BERT and GPT-2 code; within about 1e-3 of "
    "the exact GELU everywhere."))
_register(Activation(
    "hardtanh", "Hardtanh", r"\mathrm{Hardtanh}(x) = \min(\max(x, a_{\min}), a_{\max})",
    lambda x, min_val, max_val: F.hardtanh(x, min_val, max_val),
    "A piecewise-linear tanh: identity between min_val and max_val, flat outside. Cheap, but its "
    "gradient is exactly zero once saturated.",
    params=(Param("min_val", -1.0, -10.0, 10.0, 0.1, "lower clip value"),
            Param("max_val", 1.0, -10.0, 10.0, 0.1, "upper clip value")),
    check=_hardtanh_check))
_register(Activation(
    "hardsigmoid", "Hardsigmoid",
    r"\mathrm{Hardsigmoid}(x) = \begin{cases} 0 & x \le -3 \\ 1 & x \ge 3 \\ x/6 + 1/2 & \text{otherwise} \end{cases}",
    _hardsigmoid,
    "A piecewise-linear sigmoid (MobileNetV3): no exponentials, so it is cheap on any hardware."))
_register(Activation(
    "hardswish", "Hardswish", r"\mathrm{Hardswish}(x) = x \cdot \frac{\mathrm{ReLU6}(x + 3)}{6}",
    lambda x: F.hardswish(x),
    "Swish with the sigmoid replaced by a hard sigmoid (MobileNetV3): similar shape, cheaper."))
_register(Activation(
    "softsign", "Softsign", r"\mathrm{Softsign}(x) = \frac{x}{1 + |x|}",
    lambda x: F.softsign(x),
    "Like tanh but approaches ±1 polynomially rather than exponentially, so it saturates more gently."))
_register(Activation(
    "tanhshrink", "Tanhshrink", r"\mathrm{Tanhshrink}(x) = x - \tanh(x)",
    lambda x: F.tanhshrink(x),
    "What is left of x after removing tanh: flat near zero, linear far from it."))
_register(Activation(
    "softshrink", "Softshrink",
    r"\mathrm{Softshrink}(x) = \begin{cases} x - \lambda & x > \lambda \\ x + \lambda & x < -\lambda \\ "
    r"0 & \text{otherwise} \end{cases}",
    lambda x, lambd: F.softshrink(x, lambd),
    "Soft thresholding: shrinks every value towards zero by λ and zeroes the small ones (used in "
    "sparse coding).",
    params=(Param("lambd", 0.5, 0.0, 5.0, 0.05, "threshold λ (torch spells it lambd)"),)))
_register(Activation(
    "hardshrink", "Hardshrink",
    r"\mathrm{Hardshrink}(x) = \begin{cases} x & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
    lambda x, lambd: F.hardshrink(x, lambd),
    "Hard thresholding: keeps values beyond ±λ unchanged and zeroes the rest; the function itself "
    "jumps at ±λ.",
    params=(Param("lambd", 0.5, 0.0, 5.0, 0.05, "threshold λ (torch spells it lambd)"),)))
_register(Activation(
    "identity", "Identity", r"f(x) = x",
    lambda x: x,
    "No activation at all: a stack of linear layers collapses into one linear map, whatever its "
    "depth.", aliases=("linear", "none")))
