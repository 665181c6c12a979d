"""The activation catalogue: one :func:`register` call per activation.

Each entry is plain data (name, label, LaTeX formula, parameters with ranges, a short teaching note)
plus a torch callable ``fn(x, **params)``.  Adding an activation is adding one entry here; the
gallery, gradient flow, training lab and CLI pick it up.

The callables must be element-wise, autograd-friendly to second order (the gallery differentiates
them twice) and finite for every finite ``x`` (the gallery evaluates them on [-1000, 1000]).  Where a
``torch.nn.functional`` op fails one of those, the entry composes an equivalent from stable pieces and
says why.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from actviz.activations.registry import Activation, Param, ParamValue, Tensor, register

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

register(Activation(
    "sigmoid", "Sigmoid", r"\sigma(x) = \frac{1}{1 + e^{-x}}",
    lambda x: torch.sigmoid(x),
    "Squashes to (0, 1); the classic 'firing rate'. Its slope is at most 0.25, so stacking many "
    "sigmoid layers multiplies small numbers together: gradients vanish towards the input.",
    aliases=("logistic",)))
register(Activation(
    "logsigmoid", "LogSigmoid", r"\log \sigma(x) = -\log(1 + e^{-x})",
    lambda x: F.logsigmoid(x),
    "The log of the sigmoid, always negative; used inside losses more than as a hidden activation. "
    "Saturates on the right only."))
register(Activation(
    "tanh", "Tanh", r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
    lambda x: torch.tanh(x),
    "A rescaled sigmoid, 2σ(2x) − 1: zero-centred with slope 1 at the origin, yet it still "
    "saturates on both sides."))
register(Activation(
    "relu", "ReLU", r"\mathrm{ReLU}(x) = \max(0, x)",
    lambda x: F.relu(x),
    "Passes positives unchanged, zeroes negatives. Gradient 1 or 0: no vanishing on the right, "
    "but a unit whose input is always negative is 'dead' and never learns again."))
register(Activation(
    "relu6", "ReLU6", r"\mathrm{ReLU6}(x) = \min(\max(0, x), 6)",
    lambda x: F.relu6(x),
    "ReLU capped at 6, popular on mobile networks for low-precision arithmetic; saturates on both "
    "sides (flat below 0 and above 6)."))
register(Activation(
    "leaky_relu", "LeakyReLU",
    r"\mathrm{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}",
    lambda x, negative_slope: F.leaky_relu(x, negative_slope),
    "ReLU with a small slope a on the negative side, so every unit keeps some gradient and cannot "
    "die completely.",
    params=(Param("negative_slope", 0.01, 0.0, 1.0, 0.01, "slope a for x < 0"),),
    aliases=("leakyrelu", "lrelu")))
register(Activation(
    "prelu", "PReLU",
    r"\mathrm{PReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases},\ a \text{ learned}",
    _prelu,
    "LeakyReLU whose negative slope a is a weight the network learns; 'init' is its starting value "
    "(torch's default 0.25).",
    params=(Param("init", 0.25, 0.0, 1.0, 0.01, "initial negative slope a", learnable=True),)))
register(Activation(
    "elu", "ELU",
    r"\mathrm{ELU}(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}",
    lambda x, alpha: F.elu(x, alpha),
    "Smooth exponential bend for negatives, saturating at −α: mean activations closer to zero than "
    "ReLU's. Its derivative is continuous only when α = 1.",
    params=(Param("alpha", 1.0, 0.0, 3.0, 0.05, "negative saturation value −α"),)))
register(Activation(
    "selu", "SELU",
    r"\mathrm{SELU}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases},"
    r"\ \lambda \approx 1.0507,\ \alpha \approx 1.6733",
    lambda x: F.selu(x),
    "ELU with constants chosen so that activations keep zero mean and unit variance through many "
    "layers (self-normalising networks)."))
register(Activation(
    "celu", "CELU", r"\mathrm{CELU}(x) = \max(0, x) + \min\!\big(0, \alpha (e^{x/\alpha} - 1)\big)",
    lambda x, alpha: F.celu(x, alpha),
    "A version of ELU that is continuously differentiable for every α (its slope at 0 is always 1).",
    params=(Param("alpha", 1.0, 0.05, 3.0, 0.05, "negative saturation value −α (must be > 0)"),)))
register(Activation(
    "softplus", "Softplus",
    r"\mathrm{Softplus}(x) = \tfrac{1}{\beta} \log(1 + e^{\beta x})\ "
    r"(\text{linear once } \beta x > \text{threshold})",
    lambda x, beta, threshold: F.softplus(x, beta, threshold),
    "A smooth ReLU: always positive, derivative is the sigmoid. Larger β makes the corner sharper; "
    "above the threshold torch switches to x for numerical stability.",
    params=(Param("beta", 1.0, 0.1, 10.0, 0.1, "sharpness β"),
            Param("threshold", 20.0, 1.0, 50.0, 1.0, "β·x above which the output is x"))))
register(Activation(
    "silu", "SiLU", r"\mathrm{SiLU}(x) = x\,\sigma(x)",
    lambda x: F.silu(x),
    "The sigmoid-weighted linear unit (Swish with β = 1). Smooth and non-monotonic: it dips slightly "
    "below zero before rising."))
register(Activation(
    "swish", "Swish", r"\mathrm{Swish}(x) = x\,\sigma(\beta x)",
    _swish,
    "Interpolates between x/2 (β = 0) and ReLU (β → ∞); β can be fixed or learned. Found by an "
    "automated search (Ramachandran et al., 2017).",
    params=(Param("beta", 1.0, 0.0, 10.0, 0.05, "sharpness β", learnable=True),)))
register(Activation(
    "mish", "Mish", r"\mathrm{Mish}(x) = x \tanh(\mathrm{softplus}(x))",
    _mish,
    "Smooth, non-monotonic and unbounded above, much like Swish; whether it beats Swish depends on "
    "the task (check it in the training lab rather than take it on trust)."))
register(Activation(
    "gelu", "GELU", r"\mathrm{GELU}(x) = x\,\Phi(x) = \tfrac{x}{2}\big(1 + \mathrm{erf}(x/\sqrt{2})\big)",
    lambda x: F.gelu(x),
    "Weights the input by the probability that a standard normal is below it; the default in "
    "Transformers (BERT, GPT)."))
register(Activation(
    "gelu_tanh", "GELU (tanh approx.)",
    r"\mathrm{GELU}_{\tanh}(x) = \tfrac{x}{2}\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715 x^{3})\big)\Big)",
    lambda x: F.gelu(x, approximate="tanh"),
    "The tanh approximation of GELU used by the original BERT and GPT-2 code; within about 1e-3 of "
    "the exact GELU everywhere."))
register(Activation(
    "hardtanh", "Hardtanh", r"\mathrm{Hardtanh}(x) = \min(\max(x, a_{\min}), a_{\max})",
    lambda x, min_val, max_val: F.hardtanh(x, min_val, max_val),
    "A piecewise-linear tanh: identity between min_val and max_val, flat outside. Cheap, but its "
    "gradient is exactly zero once saturated.",
    params=(Param("min_val", -1.0, -10.0, 10.0, 0.1, "lower clip value"),
            Param("max_val", 1.0, -10.0, 10.0, 0.1, "upper clip value")),
    check=_hardtanh_check))
register(Activation(
    "hardsigmoid", "Hardsigmoid",
    r"\mathrm{Hardsigmoid}(x) = \begin{cases} 0 & x \le -3 \\ 1 & x \ge 3 \\ x/6 + 1/2 & \text{otherwise} \end{cases}",
    _hardsigmoid,
    "A piecewise-linear sigmoid (MobileNetV3): no exponentials, so it is cheap on any hardware."))
register(Activation(
    "hardswish", "Hardswish", r"\mathrm{Hardswish}(x) = x \cdot \frac{\mathrm{ReLU6}(x + 3)}{6}",
    lambda x: F.hardswish(x),
    "Swish with the sigmoid replaced by a hard sigmoid (MobileNetV3): similar shape, cheaper."))
register(Activation(
    "softsign", "Softsign", r"\mathrm{Softsign}(x) = \frac{x}{1 + |x|}",
    lambda x: F.softsign(x),
    "Like tanh but approaches ±1 polynomially rather than exponentially, so it saturates more gently."))
register(Activation(
    "tanhshrink", "Tanhshrink", r"\mathrm{Tanhshrink}(x) = x - \tanh(x)",
    lambda x: F.tanhshrink(x),
    "What is left of x after removing tanh: flat near zero, linear far from it."))
register(Activation(
    "softshrink", "Softshrink",
    r"\mathrm{Softshrink}(x) = \begin{cases} x - \lambda & x > \lambda \\ x + \lambda & x < -\lambda \\ "
    r"0 & \text{otherwise} \end{cases}",
    lambda x, lambd: F.softshrink(x, lambd),
    "Soft thresholding: shrinks every value towards zero by λ and zeroes the small ones (used in "
    "sparse coding).",
    params=(Param("lambd", 0.5, 0.0, 5.0, 0.05, "threshold λ (torch spells it lambd)"),)))
register(Activation(
    "hardshrink", "Hardshrink",
    r"\mathrm{Hardshrink}(x) = \begin{cases} x & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
    lambda x, lambd: F.hardshrink(x, lambd),
    "Hard thresholding: keeps values beyond ±λ unchanged and zeroes the rest; the function itself "
    "jumps at ±λ.",
    params=(Param("lambd", 0.5, 0.0, 5.0, 0.05, "threshold λ (torch spells it lambd)"),)))
register(Activation(
    "identity", "Identity", r"f(x) = x",
    lambda x: x,
    "No activation at all: a stack of linear layers collapses into one linear map, whatever its "
    "depth.", aliases=("linear", "none")))
