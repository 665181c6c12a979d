"""The recent element-wise entries against independent references, finite differences and gradgradcheck.

References are written here from the papers' definitions in numpy/scipy, with f' and f'' derived by
hand (not the registry's callables, not autograd): every entry at its defaults and with each parameter
moved across its range, on a dense grid near 0 and a wide one out to ±1000 (4,402 points, float64).
Then: central finite differences of the app's own f and f'; torch's gradcheck and gradgradcheck
(with respect to x and to every learnable parameter); finiteness of f, f', f'' in float64 and float32
on [-1000, 1000]; and each torch op the entry stands for (F.rrelu, torch.nn.GLU) where one exists.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import erf, expit

from actviz import activations
from actviz.activations import choice, curves
from actviz.activations.modern import RATIONAL_DENOMINATOR, RATIONAL_INIT, RATIONAL_NUMERATOR
from actviz.errors import InputError
from tests.activations.test_catalogue import EXPECTED_NAMES, _round_to_step, app_curve, near

MODERN = ["relu_squared", "star_relu", "snake", "sine", "telu", "serf", "smish", "xielu", "dyt", "gaussian",
          "arctan", "rrelu", "rational"]
GATED = ["glu", "reglu", "geglu", "swiglu"]
SQRT_PI = math.sqrt(math.pi)


# --- references: (f, f', f'') from the definitions -------------------------------------------------

def _tanh_parts(t):
    return t, 1.0 - t * t


def ref_relu_squared(x, p):
    r = np.maximum(x, 0.0)
    return r * r, 2 * r, np.where(x > 0, 2.0, 0.0)


def ref_star_relu(x, p):
    s, b = p["scale"], p["bias"]
    r = np.maximum(x, 0.0)
    return s * r * r + b, 2 * s * r, np.where(x > 0, 2.0 * s, 0.0)


def ref_snake(x, p):
    a = p["alpha"]
    return x + np.sin(a * x) ** 2 / a, 1.0 + np.sin(2 * a * x), 2 * a * np.cos(2 * a * x)


def ref_sine(x, p):
    w = p["w0"]
    return np.sin(w * x), w * np.cos(w * x), -w * w * np.sin(w * x)


def ref_telu(x, p):
    u = np.exp(np.minimum(x, 700.0))
    t, sech2 = _tanh_parts(np.tanh(u))
    f = x * t
    d1 = t + x * u * sech2
    d2 = sech2 * u * (2.0 + x - 2.0 * x * u * t)
    return f, d1, d2


def ref_serf(x, p):
    sp = np.logaddexp(0.0, x)
    s = expit(x)
    g = 2.0 / SQRT_PI * np.exp(-sp * sp)
    return x * erf(sp), erf(sp) + x * g * s, g * s * (2.0 + x * (1.0 - s - 2.0 * sp * s))


def ref_smish(x, p):
    s = expit(x)
    L = np.log1p(s)
    T, sech2 = _tanh_parts(np.tanh(L))
    ds = s * (1 - s)
    d2s = ds * (1 - 2 * s)
    L1 = ds / (1 + s)
    L2 = (d2s * (1 + s) - ds * ds) / (1 + s) ** 2
    f = x * T
    d1 = T + x * sech2 * L1
    d2 = 2 * sech2 * L1 + x * (-2 * T * sech2 * L1 * L1 + sech2 * L2)
    return f, d1, d2


def ref_xielu(x, p):
    ap, an, b, eps = p["alpha_p"], p["alpha_n"], p["beta"], p["eps"]
    pos = x > 0
    notch = (x > eps) & ~pos  # min(x, eps) = eps: the negative branch is linear there
    with np.errstate(over="ignore"):
        e = np.exp(np.minimum(x, eps))
    f = np.where(pos, ap * x * x + b * x, an * (np.expm1(np.minimum(x, eps)) - x) + b * x)
    d1 = np.where(pos, 2 * ap * x + b, np.where(notch, b - an, an * (e - 1.0) + b))
    d2 = np.where(pos, 2 * ap, np.where(notch, 0.0, an * e))
    return f, d1, d2


def ref_dyt(x, p):
    a, g, b = p["alpha"], p["gamma"], p["beta"]
    t, sech2 = _tanh_parts(np.tanh(a * x))
    return g * t + b, g * a * sech2, -2.0 * g * a * a * t * sech2


def ref_gaussian(x, p):
    e = np.exp(-x * x)
    return e, -2 * x * e, (4 * x * x - 2) * e


def ref_arctan(x, p):
    return np.arctan(x), 1.0 / (1.0 + x * x), -2 * x / (1.0 + x * x) ** 2


def ref_rrelu(x, p):
    m = (p["lower"] + p["upper"]) / 2
    return np.where(x > 0, x, m * x), np.where(x > 0, 1.0, m), np.zeros_like(x)


def ref_rational(x, p):
    a = np.array([p[n] for n in RATIONAL_NUMERATOR])[::-1]          # highest power first for np.polyval
    b = np.array([0.0] + [p[n] for n in RATIONAL_DENOMINATOR])[::-1]  # s(x) = b1 x + ... + b4 x^4
    P, P1, P2 = (np.polyval(np.polyder(a, k) if k else a, x) for k in range(3))
    s, s1, s2 = (np.polyval(np.polyder(b, k) if k else b, x) for k in range(3))
    sign = np.sign(s)
    # At x = 0, s = x^k r(x) with r(0) = b_k the first non-zero b: for even k, |s| = x^k |r| is smooth
    # and its second derivative there is the one-sided limit, with the sign of b_k.
    first = next((k for k in range(1, 5) if p[f"b{k}"] != 0), None)
    if first is not None and first % 2 == 0:
        sign = np.where((s == 0) & (x == 0), np.sign(p[f"b{first}"]), sign)
    Q, Q1, Q2 = 1.0 + np.abs(s), sign * s1, sign * s2
    f = P / Q
    d1 = (P1 * Q - P * Q1) / Q**2
    d2 = (P2 * Q - P * Q2) / Q**2 - 2 * Q1 * (P1 * Q - P * Q1) / Q**3
    return f, d1, d2


REFERENCE = {n: globals()[f"ref_{n}"] for n in MODERN}


def rational_corners(p):
    """Where s(x) = x (b1 + b2 x + b3 x^2 + b4 x^3) changes sign: |s| has a corner there."""
    cubic = [p["b4"], p["b3"], p["b2"], p["b1"]]
    roots = [0.0] if p["b1"] != 0 else []
    while cubic and cubic[0] == 0:
        cubic = cubic[1:]
    if len(cubic) > 1:
        for r in np.roots(cubic):
            if abs(r.imag) < 1e-9:
                c = float(r.real)
                h = 1e-6 * (1 + abs(c))
                s = lambda t: t * np.polyval(cubic, t)
                if np.sign(s(c - h)) != np.sign(s(c + h)):
                    roots.append(c)
    return sorted(set(roots))


def corners(name, p):
    """Points where f' or f'' of the definition jumps (excluded from pointwise comparisons)."""
    if name == "relu_squared":
        return [0.0]
    if name == "star_relu":
        return [0.0]
    if name == "xielu":
        return [p["eps"], 0.0]
    if name == "rrelu":
        return [0.0]
    if name == "rational":
        return rational_corners(p)
    return []


def parameter_cases():
    cases = []
    for name in MODERN:
        act = activations.get(name)
        defaults = act.defaults()
        cases.append((name, defaults))
        for spec in act.params:
            for frac in (0.0, 0.37, 0.81, 1.0):
                value = _round_to_step(spec.min + frac * (spec.max - spec.min), spec)
                if value == spec.default:
                    continue
                params = {**defaults, spec.name: value}
                try:
                    act.resolve_params(params)
                except InputError:  # rrelu's lower above upper
                    continue
                cases.append((name, params))
    cases += [("sine", {"w0": 30.0}), ("rational", {**RATIONAL_INIT, "b1": 0.5, "b3": -1.0})]
    return cases


CASES = parameter_cases()
CASE_IDS = [n + "(" + ",".join(f"{k}={v:g}" for k, v in p.items()) + ")" for n, p in CASES]


# --- registry ----------------------------------------------------------------------------------------

def test_the_catalogue_holds_at_least_40_entries_in_three_groups():
    names = activations.names()
    assert len(names) >= 40 and len(set(names)) == len(names)
    assert names == EXPECTED_NAMES + MODERN + GATED
    assert activations.names(activations.GATED) == GATED


@pytest.mark.parametrize("name", MODERN + GATED)
def test_every_new_entry_cites_its_source_and_has_valid_parameters(name):
    act = activations.get(name)
    assert act.label and act.formula and act.description
    assert "Source" in act.description and any(str(y) in act.description for y in range(1987, 2026))
    for p in act.params:
        assert p.min < p.max and p.step > 0 and p.min <= p.default <= p.max
    assert act.resolve_params() == act.defaults()


def test_documented_defaults():
    d = {n: activations.get(n).defaults() for n in MODERN + GATED}
    assert d["star_relu"] == {"scale": 0.8944, "bias": -0.4472}
    assert d["snake"] == {"alpha": 1.0} and d["sine"] == {"w0": 1.0}
    assert activations.get("sine").param("w0").max == 30.0
    assert d["xielu"] == {"alpha_p": 0.8, "alpha_n": 0.8, "beta": 0.5, "eps": -1e-6}
    assert d["dyt"] == {"alpha": 0.5, "gamma": 1.0, "beta": 0.0}
    assert d["rrelu"] == {"lower": 1 / 8, "upper": 1 / 3}
    assert d["rational"] == RATIONAL_INIT and len(d["rational"]) == 10
    learnable = {n: activations.get(n).learnable for n in MODERN}
    assert learnable["xielu"] == ("alpha_p", "alpha_n") and learnable["dyt"] == ("alpha",)
    assert set(learnable["rational"]) == set(RATIONAL_INIT)
    # StarReLU's defaults give mean 0 and variance 1 for standard normal inputs (its definition).
    z = np.linspace(-12, 12, 200_001)
    w = np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    f = ref_star_relu(z, d["star_relu"])[0]
    assert abs((w * f).sum()) < 1e-4 and abs((w * f * f).sum() - 1) < 1e-3


def test_the_rational_start_is_close_to_leaky_relu_on_minus_3_to_3():
    x = np.linspace(-3, 3, 2001)
    f = ref_rational(x, RATIONAL_INIT)[0]
    assert np.abs(f - np.where(x > 0, x, 0.01 * x)).max() < 0.035
    assert rational_corners(RATIONAL_INIT) == []  # b1 = b3 = 0, b2, b4 > 0: a smooth start


def test_parameter_cases_move_every_parameter():
    moved = {(n, k) for n, p in CASES for k, v in p.items() if v != activations.get(n).defaults()[k]}
    assert moved == {(n, p.name) for n in MODERN for p in activations.get(n).params}


# --- values and derivatives ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_curves_match_the_reference_formula_and_its_derivatives(name, params):
    x, y, dy, d2y = app_curve(name, params)
    ref = REFERENCE[name](x, params)
    assert np.isfinite(y).all() and np.isfinite(ref[0]).all()
    np.testing.assert_allclose(y, ref[0], rtol=1e-9, atol=1e-12)
    away = ~near(x, corners(name, params))
    for got, want, order in ((dy, ref[1], 1), (d2y, ref[2], 2)):
        ok = np.isfinite(got)
        assert ok[away].all(), f"f{'′' * order} undefined at {x[away & ~ok][:5]}"
        np.testing.assert_allclose(got[away], want[away], rtol=1e-8, atol=1e-10 * (1 + np.abs(want[away])).max())


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_derivatives_match_central_finite_differences(name, params):
    x, _, dy, d2y = app_curve(name, params)
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    if name in ("sine", "snake"):
        # Periodic with frequencies up to 30 (sine) and 40 (snake): the stencil's error h^2 f(3)/6 needs
        # a fixed small h, and at |x| of hundreds float64 cannot resolve such an h against x.
        h = np.full_like(x, 1e-5)
    # Beside a corner of |s| the rational's f' can reach 1e5 with a large third derivative: keep the
    # stencil 0.05 away so its truncation error stays below the tolerance.
    tol = np.maximum(2.0 * h, 0.05) if name == "rational" else 2.0 * h + 1e-12
    keep = ~near(x, corners(name, params), tol=tol)
    if name in ("sine", "snake"):
        keep &= np.abs(x) <= 12
    fn = choice.choose(name, params).function()
    plus = curves.derivatives(fn, torch.from_numpy(x + h))
    minus = curves.derivatives(fn, torch.from_numpy(x - h))
    fd1 = (plus[0].numpy() - minus[0].numpy()) / (2 * h)
    fd2 = (plus[1].numpy() - minus[1].numpy()) / (2 * h)
    scale1 = 1e-7 * (1 + np.abs(dy[keep]).max())
    scale2 = 1e-6 * (1 + np.abs(d2y[keep]).max())
    rtol = 1e-5 if name == "rational" else 1e-6  # f' up to 1e4 beside its corners, f(3) large there
    np.testing.assert_allclose(dy[keep], fd1[keep], rtol=rtol, atol=scale1)
    np.testing.assert_allclose(d2y[keep], fd2[keep], rtol=1e-5, atol=scale2)


def _smooth_points(name, params, n=24):
    """Random float64 points in [-6, 6] well clear of the corners (gradcheck needs differentiability)."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(n * 3, generator=g, dtype=torch.float64) * 12 - 6
    cs = corners(name, params)
    if cs:
        x = x[torch.stack([(x - c).abs() > 1e-2 for c in cs]).all(0)]
    return x[:n]


@pytest.mark.parametrize("name", MODERN)
def test_gradcheck_and_gradgradcheck_in_x_and_in_every_learnable_parameter(name):
    act = activations.get(name)
    params = act.defaults()
    x = _smooth_points(name, params).requires_grad_(True)
    learn = act.learnable
    tensors = [torch.tensor(params[p], dtype=torch.float64, requires_grad=True) for p in learn]

    def f(x, *values):
        return act(x, **{**params, **dict(zip(learn, values))})

    assert torch.autograd.gradcheck(f, (x, *tensors))
    assert torch.autograd.gradgradcheck(f, (x, *tensors))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", MODERN)
def test_finite_on_the_whole_plotted_range_to_second_order(name, dtype):
    x = torch.linspace(-1000, 1000, 20001, dtype=dtype)
    for params in [p for n, p in CASES if n == name]:
        out = curves.derivatives(choice.choose(name, params).function(), x)
        for t, what in zip(out, ("f", "f'", "f''")):
            assert torch.isfinite(t).all(), f"{name}{params}: {what} not finite at {x[~torch.isfinite(t)][:3]}"


def test_telu_and_serf_need_their_guarded_forms():
    # The naive compositions are NaN in f' (TeLU) far right, the reason for the registry's forms.
    x = torch.tensor([1000.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad((x * torch.tanh(torch.exp(x))).sum(), x)
    assert not torch.isfinite(g).all()
    (g2,) = torch.autograd.grad((x * torch.erf(torch.log(1 + torch.exp(x)))).sum(), x)
    assert not torch.isfinite(g2).all() or not torch.isfinite(x * torch.erf(torch.log(1 + torch.exp(x)))).all()
    for name in ("telu", "serf"):
        out = curves.derivatives(choice.choose(name).function(), x.detach())
        assert [float(t) for t in out] == [1000.0, 1.0, 0.0]


def test_rrelu_eval_curve_is_torchs_and_training_stays_in_the_band():
    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    c = choice.choose("rrelu", {"lower": 0.1, "upper": 0.3})
    np.testing.assert_array_equal(c.function()(x).numpy(), F.rrelu(x, 0.1, 0.3, training=False).numpy())
    torch.manual_seed(0)
    lo, hi = c.band(x)
    for _ in range(5):
        sample = c.training_function()(x)
        assert bool((sample >= lo - 1e-12).all() and (sample <= hi + 1e-12).all())
    neg = x < 0
    slopes = (c.training_function()(x)[neg] / x[neg])
    assert slopes.min() < 0.15 and slopes.max() > 0.25  # really random across the band
    with pytest.raises(InputError, match="lower must not be above upper"):
        choice.choose("rrelu", {"lower": 0.5, "upper": 0.2})


def test_sine_uses_sirens_initialisation_under_the_default_init():
    assert activations.get("sine").weight_init == "siren"
    assert all(activations.get(n).weight_init is None for n in MODERN if n != "sine")
