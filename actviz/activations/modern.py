"""The catalogue, part 2: element-wise activations of recent papers (one :func:`register` call each).

Same rules as :mod:`.catalogue`: element-wise, autograd-friendly to second order, finite for every
finite x (the gallery evaluates them on [-1000, 1000], f' and f'' included).  Parameters keep the
names of the authors' PyTorch code where there is one.  Learnable parameters arrive as 0-d tensors
during training, so the callables use tensor-safe operations on them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from actviz.activations.registry import Activation, Param, ParamValue, Tensor, register

# --- callables that need more than one torch call -------------------------------------------------


def _telu(x: Tensor) -> Tensor:
    # x * tanh(exp(x)) overflows exp for x > ~709 (float64; ~88 in float32), and its derivative then
    # multiplies sech^2(inf) = 0 by exp(x) = inf: NaN.  tanh(e^x) is exactly 1 in float64 once x > 4
    # (e^x > 36), so clamping the exponent at 20 changes no value and keeps f' and f'' finite.
    return x * torch.tanh(torch.exp(torch.clamp(x, max=20.0)))


def _serf(x: Tensor) -> Tensor:
    # erf(log(1 + e^x)) written naively overflows at x > ~709; F.softplus switches to x beyond 20,
    # where erf is exactly 1 anyway, and its derivative (a sigmoid) never overflows.
    return x * torch.erf(F.softplus(x))


def _smish(x: Tensor) -> Tensor:
    return x * torch.tanh(torch.log1p(torch.sigmoid(x)))


def _snake(x: Tensor, alpha: ParamValue) -> Tensor:
    return x + torch.sin(alpha * x) ** 2 / alpha


def _sine(x: Tensor, w0: ParamValue) -> Tensor:
    return torch.sin(w0 * x)


def _xielu(x: Tensor, alpha_p: ParamValue, alpha_n: ParamValue, beta: ParamValue, eps: ParamValue) -> Tensor:
    # The authors' form: min(x, eps) keeps expm1 away from 0 on the negative branch.  Both branches
    # are finite everywhere on [-1000, 1000], so torch.where's unused branch never poisons a gradient.
    positive = alpha_p * x * x + beta * x
    negative = alpha_n * (torch.expm1(torch.clamp(x, max=eps)) - x) + beta * x
    return torch.where(x > 0, positive, negative)


def _dyt(x: Tensor, alpha: ParamValue, gamma: ParamValue, beta: ParamValue) -> Tensor:
    return gamma * torch.tanh(alpha * x) + beta


def _star_relu(x: Tensor, scale: ParamValue, bias: ParamValue) -> Tensor:
    return scale * F.relu(x) ** 2 + bias


def _rrelu_eval(x: Tensor, lower: ParamValue, upper: ParamValue) -> Tensor:
    # F.rrelu(training=False) is LeakyReLU with the mean slope; leaky_relu has the double backward.
    return F.leaky_relu(x, (float(lower) + float(upper)) / 2)


def _rrelu_train(x: Tensor, lower: ParamValue, upper: ParamValue) -> Tensor:
    return F.rrelu(x, float(lower), float(upper), training=True)


def _rrelu_band(x: Tensor, lower: ParamValue, upper: ParamValue) -> tuple[Tensor, Tensor]:
    """Training draws a slope in [lower, upper] for each negative element: f lies between these."""
    return torch.where(x > 0, x, upper * x), torch.where(x > 0, x, lower * x)


def _rrelu_check(p: Mapping[str, float]) -> str | None:
    return None if p["lower"] <= p["upper"] else "lower must not be above upper"


# PAU 5/4 (the "safe" form, Molina et al. 2020, eq. 3): P(x) / (1 + |b1 x + ... + b4 x^4|).
RATIONAL_NUMERATOR = ("a0", "a1", "a2", "a3", "a4", "a5")
RATIONAL_DENOMINATOR = ("b1", "b2", "b3", "b4")
# Least-squares fit of this form to LeakyReLU(0.01) on [-3, 3] (2,001 points, L-BFGS from 20 random
# starts), rounded to 5 decimals: max error 0.034 there, as the paper initialises PAUs.  With b1 = b3
# = 0 and b2, b4 > 0 the denominator never changes sign, so the fitted curve is smooth.  A 5/4
# rational grows like (a5 / |b4|) x on both sides, so beyond [-3, 3] it leaves LeakyReLU.
RATIONAL_INIT = {"a0": 0.03357, "a1": 0.505, "a2": 1.65268, "a3": 2.00812, "a4": 0.93058, "a5": 0.15213,
                 "b1": 0.0, "b2": 3.97648, "b3": 0.0, "b4": 0.30125}


def _rational(x: Tensor, a0: ParamValue, a1: ParamValue, a2: ParamValue, a3: ParamValue, a4: ParamValue,
              a5: ParamValue, b1: ParamValue, b2: ParamValue, b3: ParamValue, b4: ParamValue) -> Tensor:
    # Horner's scheme: fewer multiplications, and x^5 at |x| = 1000 is 1e15, far from float32's limit.
    numerator = a0 + x * (a1 + x * (a2 + x * (a3 + x * (a4 + x * a5))))
    return numerator / (1 + _abs_series(x, [b1, b2, b3, b4]))


def _abs_series(x: Tensor, b: list[ParamValue]) -> Tensor:
    """|b1 x + b2 x^2 + b3 x^3 + b4 x^4|, right to second order at x = 0.

    autograd takes d|s|/ds = 0 where s = 0, so |x^2 r(x)| would get f''(0) wrong (2|b2| is right).
    With fixed coefficients we write s = x^k r(x), r(0) = b_k != 0, and |s| = x^k |r(x)| for even k
    (smooth: no abs at 0), |x| x^(k-1) |r(x)| for odd k (a true corner).  Learned coefficients (tensors)
    keep the plain form: training does not land exactly on x = 0 with b1 exactly 0.
    """
    k = 1
    if not any(isinstance(c, Tensor) for c in b):
        while k <= len(b) and b[k - 1] == 0:
            k += 1
        if k > len(b):  # every b is 0: the denominator is 1
            return torch.zeros_like(x)
    r = b[-1] + 0 * x
    for c in reversed(b[k - 1:-1]):
        r = c + x * r
    if k == 1:
        return torch.abs(x * r)
    if k % 2 == 0:
        return x**k * torch.abs(r)
    return torch.abs(x) * x ** (k - 1) * torch.abs(r)


def _coefficient(name: str) -> Param:
    which = "numerator" if name.startswith("a") else "denominator"
    return Param(name, RATIONAL_INIT[name], -5.0, 5.0, 0.001,
                 f"{which} coefficient of x^{name[1]} (starts at the LeakyReLU fit)", learnable=True)


# --- the catalogue --------------------------------------------------------------------------------

register(Activation(
    "relu_squared", "ReLU²", r"\mathrm{ReLU}^2(x) = \max(0, x)^2",
    lambda x: F.relu(x) ** 2,
    "ReLU squared: zero for negatives, a parabola for positives, so its slope 2x grows with the input. "
    "Found by an architecture search for Transformer feed-forward layers. "
    "Source: So et al., Primer (2021).",
    aliases=("squared_relu", "relu2")))
register(Activation(
    "star_relu", "StarReLU", r"\mathrm{StarReLU}(x) = s\,\mathrm{ReLU}(x)^2 + b",
    _star_relu,
    "ReLU² with a scale s and a bias b (both learnable) chosen so that, for standard normal inputs, "
    "the output has mean 0 and variance 1: the defaults 0.8944 and −0.4472 are 1/√1.25 and "
    "−0.5/√1.25. Source: Yu et al., MetaFormer Baselines for Vision (2022).",
    params=(Param("scale", 0.8944, 0.0, 3.0, 0.0001, "scale s", learnable=True),
            Param("bias", -0.4472, -3.0, 3.0, 0.0001, "bias b", learnable=True))))
register(Activation(
    "snake", "Snake", r"\mathrm{Snake}(x) = x + \frac{\sin^2(\alpha x)}{\alpha}",
    _snake,
    "A line with a periodic ripple: networks built from it can extrapolate periodic signals, which "
    "ReLU and tanh networks cannot. α sets the frequency and can be learned. "
    "Source: Ziyin, Hartwig & Ueda, Neural networks fail to learn periodic functions and how to fix it "
    "(NeurIPS 2020).",
    params=(Param("alpha", 1.0, 0.05, 20.0, 0.05, "frequency α (> 0)", learnable=True),)))
register(Activation(
    "sine", "Sine (SIREN)", r"f(x) = \sin(\omega_0 x)",
    _sine,
    "A periodic activation for representing signals (images, audio, shapes) as networks. It only "
    "trains well with its own initialisation, so when trained here the hidden weights start as SIREN "
    "prescribes (first layer U(−1/n, 1/n), the others U(−√(6/n)/ω₀, √(6/n)/ω₀)) under the default init. "
    "Source: Sitzmann et al., SIREN (NeurIPS 2020), who use ω₀ = 30.",
    params=(Param("w0", 1.0, 0.1, 30.0, 0.1, "frequency ω₀ (SIREN uses 30)"),),
    aliases=("siren",), weight_init="siren"))
register(Activation(
    "telu", "TeLU", r"\mathrm{TeLU}(x) = x \tanh(e^{x})",
    _telu,
    "Like ReLU for large positive x (tanh(eˣ) → 1 fast) with a smooth, slightly negative dip and a "
    "gradient that fades slowly on the left. Source: Fernandez & Mali, TeLU (2024)."))
register(Activation(
    "serf", "SERF", r"\mathrm{SERF}(x) = x\,\mathrm{erf}\big(\ln(1 + e^{x})\big)",
    _serf,
    "A Mish-like smooth, non-monotonic curve built from the error function of the softplus. "
    "Source: Nag & Bhattacharyya, SERF (2021)."))
register(Activation(
    "smish", "Smish", r"\mathrm{Smish}(x) = x \tanh\big(\ln(1 + \sigma(x))\big)",
    _smish,
    "Mish with the softplus replaced by ln(1 + σ(x)): bounded below and gentler, tanh(ln 2) ≈ 0.6 "
    "at most as the slope far right. Source: Wang et al., Smish (2022)."))
register(Activation(
    "xielu", "xIELU",
    r"\mathrm{xIELU}(x) = \begin{cases} \alpha_p x^2 + \beta x & x > 0 \\ "
    r"\alpha_n\big(e^{\min(x, \varepsilon)} - 1 - x\big) + \beta x & x \le 0 \end{cases}",
    _xielu,
    "Derived by integrating a chosen gradient shape: a quadratic (growing slope) for positives and an "
    "exponential bend for negatives, with α_p and α_n learnable. The authors' ε guard leaves a "
    "|ε|-wide notch in f′ just left of 0 (f′(0) = β − α_n), which the chart shows at high zoom. "
    "Source: Huang & Schlag, Deriving activation functions using integration (2024).",
    params=(Param("alpha_p", 0.8, 0.0, 5.0, 0.05, "positive curvature α_p", learnable=True),
            Param("alpha_n", 0.8, 0.0, 5.0, 0.05, "negative-side weight α_n", learnable=True),
            Param("beta", 0.5, 0.0, 2.0, 0.05, "linear slope β"),
            Param("eps", -1e-6, -1e-3, -1e-6, 1e-6, "guard ε < 0 in min(x, ε)"))))
register(Activation(
    "dyt", "DyT", r"\mathrm{DyT}(x) = \gamma \tanh(\alpha x) + \beta",
    _dyt,
    "Dynamic Tanh: a tanh with a learnable input scale α, proposed as a drop-in replacement for "
    "LayerNorm in Transformers; here it is used element-wise like any activation (α learnable, γ and "
    "β fixed). Source: Zhu, Chen, He, LeCun & Liu, Transformers without Normalization (CVPR 2025).",
    params=(Param("alpha", 0.5, 0.0, 5.0, 0.05, "input scale α", learnable=True),
            Param("gamma", 1.0, -3.0, 3.0, 0.05, "output scale γ"),
            Param("beta", 0.0, -3.0, 3.0, 0.05, "output shift β"))))
register(Activation(
    "gaussian", "Gaussian", r"f(x) = e^{-x^{2}}",
    lambda x: torch.exp(-x * x),
    "A bump: 1 at 0, vanishing on both sides, so it responds to inputs near a centre (radial-basis "
    "networks) and its gradient vanishes far away. Sources: Broomhead & Lowe, radial basis function "
    "networks (1988); Ramasinghe & Lucey, Beyond periodicity (2022), for implicit neural representations."))
register(Activation(
    "arctan", "ArcTan", r"f(x) = \arctan(x)",
    lambda x: torch.atan(x),
    "A sigmoid-shaped squashing function with range (−π/2, π/2) that approaches its bounds like 1/x, "
    "much more slowly than tanh, so it saturates later. Sources: McCaffrey, Neural network arctan "
    "activation function (2015); Pervan Akman, Tümer Sivri & Berkol (2025) compare its variants.",
    aliases=("atan",)))
register(Activation(
    "rrelu", "RReLU",
    r"\mathrm{RReLU}(x) = \begin{cases} x & x \ge 0 \\ a\,x & x < 0 \end{cases},\ "
    r"a \sim U(l, u) \text{ in training},\ a = \tfrac{l + u}{2} \text{ in eval}",
    _rrelu_eval,
    "Randomised leaky ReLU: while training, every negative element gets its own slope drawn from "
    "U(lower, upper) (the shaded band); at evaluation the slope is their mean (the curve). The noise "
    "acts as a regulariser. Source: Xu, Wang, Chen & Li, Empirical evaluation of rectified "
    "activations in convolutional network (2015).",
    params=(Param("lower", 1 / 8, 0.0, 1.0, 0.005, "smallest training slope l"),
            Param("upper", 1 / 3, 0.0, 1.0, 0.005, "largest training slope u")),
    check=_rrelu_check, train_fn=_rrelu_train, band=_rrelu_band))
register(Activation(
    "rational", "Rational (PAU 5/4)",
    r"\mathrm{PAU}(x) = \frac{a_0 + a_1 x + a_2 x^2 + a_3 x^3 + a_4 x^4 + a_5 x^5}"
    r"{1 + \left| b_1 x + b_2 x^2 + b_3 x^3 + b_4 x^4 \right|}",
    _rational,
    "A ratio of polynomials whose ten coefficients can all be learned, so the network shapes its own "
    "activation. It starts as a fit to LeakyReLU on [−3, 3] (max error 0.034); like every 5/4 "
    "rational it grows linearly, with slope a5/|b4|, far out on both sides. Source: Molina, "
    "Schramowski & Kersting, Padé Activation Units (ICLR 2020).",
    params=tuple(_coefficient(n) for n in RATIONAL_NUMERATOR + RATIONAL_DENOMINATOR),
    aliases=("pau",)))
