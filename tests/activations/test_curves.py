"""Curves over the whole x-range and the properties the gallery tables, against known facts.

Saturation follows the usual definition: right-saturating when f'(x) -> 0 as x -> +inf, left-saturating as
x -> -inf, "both" when both.  Smoothness: "discontinuous" (f jumps), "C0" (f' jumps), "C1" (f''
jumps), "C2+" otherwise.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.special import expit

from actviz import activations
from actviz.activations import choice, curves
from actviz.activations.properties import Properties, properties
from actviz.errors import InputError
from tests.activations.test_catalogue import EXPECTED_NAMES, corners, near

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def props(name: str, **params: float) -> Properties:
    return properties(choice.choose(name, params))


def extreme_cases() -> list[tuple[str, dict[str, float]]]:
    """Every combination of range ends (and defaults) of every parameter that the entry accepts."""
    out = []
    for name in EXPECTED_NAMES:
        act = activations.get(name)
        if not act.params:
            continue
        for values in itertools.product(*[(p.min, p.max, p.default) for p in act.params]):
            params = dict(zip([p.name for p in act.params], values))
            if params == act.defaults():
                continue
            try:
                act.resolve_params(params)
            except InputError:
                continue
            out.append((name, params))
    return out


EXTREMES = extreme_cases()


# --- finiteness over [-1000, 1000] ------------------------------------------------------------------

def _assert_finite_except_at_corners(name: str, params: dict[str, float]) -> curves.Curve:
    curve = curves.compute_curve(choice.choose(name, params), -1000.0, 1000.0, 20001)
    x = curve.x
    assert x[0] == -1000.0 and x[-1] == 1000.0 and x.size == 20001
    jumps = corners(name, params)
    assert np.isfinite(curve.y).all(), x[~np.isfinite(curve.y)]
    bad_dy = ~np.isfinite(curve.dy)
    assert not (bad_dy & ~near(x, jumps.get(0, []))).any(), x[bad_dy]
    bad_d2y = ~np.isfinite(curve.d2y)
    assert not (bad_d2y & ~near(x, jumps.get(0, []) + jumps.get(1, []))).any(), x[bad_d2y]
    # NaN is a rare exception marking a corner, never a region.
    assert bad_d2y.sum() <= 4
    return curve


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_default_curves_are_finite_on_the_whole_range(name):
    _assert_finite_except_at_corners(name, activations.get(name).defaults())


@pytest.mark.parametrize("name, params", EXTREMES,
                         ids=[n + "(" + ",".join(f"{k}={v:g}" for k, v in p.items()) + ")" for n, p in EXTREMES])
def test_curves_are_finite_at_extreme_parameter_values(name, params):
    _assert_finite_except_at_corners(name, params)


def test_corners_on_the_grid_are_undefined_exactly_there():
    relu = curves.compute_curve(choice.choose("relu"), -1000.0, 1000.0, 20001)
    zero = np.flatnonzero(relu.x == 0.0)
    assert zero.size == 1  # the grid hits x = 0 exactly
    assert np.isnan(relu.d2y[zero[0]]) and np.isnan(relu.d2y).sum() == 1
    assert relu.dy[zero[0]] == 0.0  # torch's convention f'(0) = 0 is kept for f'

    hs = curves.compute_curve(choice.choose("hardshrink", {"lambd": 2.0}), -4.0, 4.0, 81)
    at = near(hs.x, [-2.0, 2.0])
    assert at.sum() == 2
    assert np.isnan(hs.dy[at]).all() and np.isfinite(hs.dy[~at]).all()
    assert np.isnan(hs.d2y[at]).all() and np.isfinite(hs.d2y[~at]).all()
    assert hs.jumps[0] == [-2.0, 2.0]

    sw = curves.compute_curve(choice.choose("hardswish"), -5.0, 5.0, 101)
    at = near(sw.x, [-3.0, 3.0])
    assert at.sum() == 2 and np.isnan(sw.d2y[at]).all() and np.isfinite(sw.dy).all()


def test_a_zero_on_any_grid_is_evaluated_at_exactly_zero():
    # [-2, 4] with 601 points has x = 0 as its 201st point: f'(0) must be torch's convention (0 for
    # ReLU), not f' at a rounding error of +4e-17 (which would read 1).
    curve = curves.compute_curve(choice.choose("relu"), -2.0, 4.0, 601)
    i = 200
    assert curve.x[i] == 0.0
    assert curve.dy[i] == 0.0 and math.isnan(curve.d2y[i])
    np.testing.assert_allclose(curve.x, -2.0 + 0.01 * np.arange(601), rtol=0, atol=1e-14)


def test_curve_json_uses_null_for_undefined_values():
    data = curves.compute_curve(choice.choose("relu"), -1.0, 1.0, 201).to_json()
    text = json.dumps(data, allow_nan=False)  # strict JSON: no NaN tokens
    back = json.loads(text)
    nulls = [x for x, v in zip(back["x"], back["d2y"]) if v is None]
    assert nulls == [0.0]
    assert all(v is not None for v in back["y"] + back["dy"])
    assert back["name"] == "relu" and back["params"] == {}


# --- derivatives() on its own -------------------------------------------------------------------------

def test_derivatives_handle_ops_whose_second_derivative_is_a_zero_tensor():
    # abs's double backward is an efficient ZeroTensor, which cannot be turned into numpy.
    x = torch.tensor([-2.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    y, dy, d2y = curves.derivatives(torch.abs, x)
    assert dy.tolist() == [-1.0, -1.0, 1.0, 1.0]
    assert d2y.numpy().tolist() == [0.0] * 4
    c = choice.custom("abs(x)")
    curve = curves.compute_curve(c, -1.0, 1.0, 21)
    np.testing.assert_array_equal(curve.y, np.abs(curve.x))
    p = properties(c)
    assert p.smoothness == "C0" and p.jumps == {1: [0.0]}


def test_derivatives_of_constant_and_linear_functions():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    y, dy, d2y = curves.derivatives(lambda t: torch.full_like(t, 2.0), x)
    assert (y == 2).all() and (dy == 0).all() and (d2y == 0).all()
    y, dy, d2y = curves.derivatives(lambda t: 3 * t, x)
    assert (dy == 3).all() and (d2y == 0).all()
    y, dy, d2y = curves.derivatives(lambda t: t**3, x)
    np.testing.assert_allclose(dy.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(d2y.numpy(), 6 * x.numpy())


# --- the range check ------------------------------------------------------------------------------------

@pytest.mark.parametrize("xmin, xmax, points, fragment", [
    (1, 1, 101, "xmin < xmax"),
    (2, 1, 101, "xmin < xmax"),
    (-1001, 0, 101, "-1000 <= xmin"),
    (0, 1e6, 101, "xmax <= 1000"),
    ("nan", 1, 101, "finite"),
    (0, "inf", 101, "finite"),
    (0, 1, 10, "points"),
    (0, 1, 20002, "points"),
    (0, 1, 100.5, "whole number"),
    (0, 1, "many", "number"),
    ("1e999", 1, 101, "finite"),
])
def test_check_range_refuses_bad_ranges(xmin, xmax, points, fragment):
    with pytest.raises(InputError, match=fragment):
        curves.compute_curve(choice.choose("relu"), xmin, xmax, points)


def test_check_range_accepts_its_limits():
    assert curves.check_range("-1000", 1000, "20001") == (-1000.0, 1000.0, 20001)
    assert curves.check_range(0, 1e-3, 11) == (0.0, 1e-3, 11)


# --- properties: the facts the issue lists -------------------------------------------------------------

def test_sigmoid_properties():
    p = props("sigmoid")
    assert p.saturation == "both"
    assert p.max_abs_dy == pytest.approx(0.25, abs=1e-12)
    assert p.argmax_abs_dy == 0.0 and p.max_abs_dy_at == "x = 0"
    assert p.output_range == "(0, 1)"
    assert p.zero_centred is False and p.mean_normal == pytest.approx(0.5, abs=1e-9)
    assert p.monotonic == "increasing" and p.smoothness == "C2+"
    assert p.dy_at_0 == 0.25


def test_tanh_properties():
    p = props("tanh")
    assert p.zero_centred is True and abs(p.mean_normal) < 1e-12
    assert p.max_abs_dy == pytest.approx(1.0, abs=1e-12) and p.argmax_abs_dy == 0.0
    assert p.output_range == "(-1, 1)" and p.saturation == "both"


def test_relu_properties():
    p = props("relu")
    assert p.saturation == "left"  # f' = 0 for x < 0; f' = 1 (not -> 0) as x -> +inf
    assert p.smoothness == "C0" and p.jumps == {1: [0.0]}
    assert p.dy_at_0 == 0.0  # torch's convention
    assert p.output_range == "[0, ∞)"
    assert p.monotonic == "non-decreasing"
    # E[relu(z)] = 1/sqrt(2 pi), std = sqrt(1/2 - 1/(2 pi)): not zero-centred.
    assert p.mean_normal == pytest.approx(1 / math.sqrt(2 * math.pi), abs=1e-6)
    assert p.zero_centred is False
    assert p.to_json()["left_saturating"] and not p.to_json()["right_saturating"]


@pytest.mark.parametrize("name, saturation", [
    ("sigmoid", "both"), ("tanh", "both"), ("relu", "left"), ("relu6", "both"), ("leaky_relu", "none"),
    ("prelu", "none"), ("softplus", "left"), ("logsigmoid", "right"), ("elu", "left"), ("selu", "left"),
    ("celu", "left"), ("silu", "left"), ("swish", "left"), ("mish", "left"), ("gelu", "left"),
    ("gelu_tanh", "left"), ("hardtanh", "both"), ("hardsigmoid", "both"), ("hardswish", "left"),
    ("softsign", "both"), ("tanhshrink", "none"), ("softshrink", "none"), ("hardshrink", "none"),
    ("identity", "none"),
])
def test_saturation_follows_the_seed_definition(name, saturation):
    assert props(name).saturation == saturation


def test_saturation_depends_on_parameters():
    assert props("leaky_relu", negative_slope=0.0).saturation == "left"
    assert props("swish", beta=0.0).saturation == "none"  # x / 2
    assert props("elu", alpha=0.0).saturation == "left"


@pytest.mark.parametrize("name, params, smoothness", [
    ("elu", {"alpha": 1.0}, "C1"),
    ("elu", {"alpha": 0.5}, "C0"),
    ("elu", {"alpha": 2.0}, "C0"),
    ("celu", {"alpha": 0.05}, "C1"),
    ("celu", {"alpha": 0.5}, "C1"),
    ("celu", {"alpha": 1.0}, "C1"),
    ("celu", {"alpha": 3.0}, "C1"),
    ("selu", {}, "C0"),
    ("gelu", {}, "C2+"),
    ("gelu_tanh", {}, "C2+"),
    ("swish", {}, "C2+"),
    ("swish", {"beta": 4.0}, "C2+"),
    ("silu", {}, "C2+"),
    ("mish", {}, "C2+"),
    ("hardshrink", {}, "discontinuous"),
    ("softshrink", {}, "C0"),
    ("softsign", {}, "C1"),  # f'' = -2 sign(x) / (1 + |x|)^3 jumps at 0
    ("hardswish", {}, "C0"),
    ("hardsigmoid", {}, "C0"),
    ("relu6", {}, "C0"),
    ("sigmoid", {}, "C2+"),
    ("tanhshrink", {}, "C2+"),
    ("identity", {}, "C2+"),
    ("leaky_relu", {"negative_slope": 1.0}, "C2+"),  # slope 1 on both sides: the identity
])
def test_smoothness(name, params, smoothness):
    assert props(name, **params).smoothness == smoothness


@pytest.mark.parametrize("name", ["gelu", "swish", "mish", "silu", "gelu_tanh"])
def test_self_gated_activations_are_not_monotonic(name):
    p = props(name)
    assert p.monotonic == "no"
    # ... because they dip below zero: their minimum, found independently, is what the range shows.
    fns = {"gelu": lambda t: 0.5 * t * (1 + math.erf(t / math.sqrt(2))),
           "gelu_tanh": lambda t: 0.5 * t * (1 + math.tanh(math.sqrt(2 / math.pi) * (t + 0.044715 * t**3))),
           "swish": lambda t: t * expit(t), "silu": lambda t: t * expit(t),
           "mish": lambda t: t * math.tanh(math.log1p(math.exp(t)))}
    res = minimize_scalar(fns[name], bounds=(-3, 0), method="bounded", options={"xatol": 1e-10})
    assert res.fun < 0
    assert p.output_min == pytest.approx(res.fun, abs=2e-5)
    assert p.output_range.startswith("[") and p.output_range.endswith("∞)")


def test_selu_is_c0_and_zero_centred():
    p = props("selu")
    assert p.smoothness == "C0" and p.jumps[1] == [0.0]
    assert p.zero_centred is True
    assert abs(p.mean_normal) < 1e-3  # self-normalising: E[selu(z)] ~ 0 for z ~ N(0, 1)
    assert p.output_min == pytest.approx(-SELU_SCALE * SELU_ALPHA, rel=1e-12)
    assert p.dy_at_0 == pytest.approx(SELU_SCALE * SELU_ALPHA, rel=1e-12)  # torch: left branch at 0


def test_hardswish_slope_supremum_is_approached_from_the_left_of_3():
    p = props("hardswish")
    # f' = (2x + 3)/6 on (-3, 3): tends to 1.5 as x -> 3-, then 1 beyond; no grid point attains it.
    assert p.max_abs_dy == pytest.approx(1.5, abs=1e-6)
    assert p.max_abs_dy_at == "x → 3⁻" and p.argmax_abs_dy == 3.0
    assert p.jumps[1] == [-3.0, 3.0]
    assert p.output_min == pytest.approx(-0.375, abs=1e-12)  # at x = -1.5


def test_hardtanh_with_moved_limits():
    p = props("hardtanh", min_val=-2.0, max_val=3.0)
    assert p.smoothness == "C0" and p.jumps == {1: [-2.0, 3.0]}
    assert p.output_range == "[-2, 3]"
    assert p.saturation == "both" and p.monotonic == "non-decreasing"
    p = props("hardtanh", min_val=0.5, max_val=4.0)
    assert p.jumps == {1: [0.5, 4.0]} and p.output_range == "[0.5, 4]" and p.dy_at_0 == 0.0


@pytest.mark.parametrize("name, output_range", [
    ("sigmoid", "(0, 1)"), ("tanh", "(-1, 1)"), ("relu", "[0, ∞)"), ("relu6", "[0, 6]"),
    ("leaky_relu", "(-∞, ∞)"), ("logsigmoid", "(-∞, 0)"), ("softplus", "(0, ∞)"), ("elu", "(-1, ∞)"),
    ("hardsigmoid", "[0, 1]"), ("hardtanh", "[-1, 1]"), ("identity", "(-∞, ∞)"),
    ("tanhshrink", "(-∞, ∞)"), ("hardswish", "[-0.375, ∞)"),
])
def test_output_ranges(name, output_range):
    assert props(name).output_range == output_range


@pytest.mark.parametrize("expr, output_range", [
    # Slow growth is still unbounded: log(1000) = 6.9 was reported as a bound approached.
    ("log(x)", "(-∞, ∞)"), ("log(log(x))", "(-∞, ∞)"), ("log(1 + abs(x))", "[0, ∞)"), ("sqrt(x)", "[0, ∞)"),
    # Bounds approached like 1/|x| stay bounds.
    ("x / (1 + abs(x))", "(-1, 1)"), ("atan(x)", "(-1.571, 1.571)"), ("1 - 1 / (1 + x * x)", "[0, 1)"),
])
def test_output_ranges_of_slowly_growing_and_slowly_saturating_formulas(expr, output_range):
    assert properties(choice.custom(expr, {})).output_range == output_range


@pytest.mark.parametrize("w0", [0.1, 0.5, 1.0, 2.5, 7.3, 30.0])
def test_a_periodic_activation_stays_bounded_for_every_frequency(w0):
    assert props("sine", w0=w0).output_range.replace("[", "(").replace("]", ")") == "(-1, 1)"


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_dy_at_0_and_zero_centred_match_independent_computations(name):
    act = activations.get(name)
    p = props(name)
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(act(x, **act.defaults()).sum(), x)
    assert p.dy_at_0 == pytest.approx(g.item(), abs=1e-12)
    # E[f(z)] and std f(z) for z ~ N(0, 1) by a Riemann sum 20x finer than the app's.
    z = np.linspace(-12, 12, 240001)
    w = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    with torch.no_grad():
        f = act(torch.from_numpy(z), **act.defaults()).numpy()
    mean = float((w * f).sum())
    std = math.sqrt(float((w * (f - mean) ** 2).sum()))
    assert p.mean_normal == pytest.approx(mean, abs=1e-6)
    if abs(abs(mean) - 0.1 * std) > 1e-3:  # not a borderline case
        assert p.zero_centred is (abs(mean) <= 0.1 * std)


def test_zero_centred_entries():
    centred = {n for n in EXPECTED_NAMES if props(n).zero_centred}
    # Odd functions are centred by symmetry; SELU by construction.
    assert {"tanh", "softsign", "hardtanh", "tanhshrink", "softshrink", "hardshrink", "identity",
            "selu"} <= centred
    assert not centred & {"sigmoid", "relu", "relu6", "softplus", "logsigmoid", "gelu", "silu", "mish"}


def test_max_slope_of_unbounded_slope_and_flat_functions():
    p = props("logsigmoid")  # f' = sigmoid(-x) -> 1 as x -> -inf, never reached
    assert p.max_abs_dy == pytest.approx(1.0, abs=1e-12) and p.max_abs_dy_at == "x → -∞"
    assert props("relu6").max_abs_dy_at == "(0, 6)"
    assert props("identity").max_abs_dy_at == "(-∞, ∞)"
    square = properties(choice.custom("x**2"))
    assert math.isinf(square.max_abs_dy) and square.max_abs_dy_at == "unbounded"


def test_custom_expression_properties():
    p = properties(choice.custom("max(x, 0)"))  # torch splits the tie gradient: f'(0) = 1/2
    assert p.smoothness == "C0" and p.jumps == {1: [0.0]}
    p = properties(choice.custom("x * abs(x)"))  # f'' = 2 sign(x)
    assert p.smoothness == "C1" and p.jumps == {2: [0.0]}
    p = properties(choice.custom("step(x)"))
    assert p.smoothness == "discontinuous" and p.jumps[0] == [0.0]
    p = properties(choice.custom("x * sigmoid(beta * x)", {"beta": 1.0}))
    q = props("silu")
    assert (p.smoothness, p.saturation, p.monotonic, p.output_range) == \
        (q.smoothness, q.saturation, q.monotonic, q.output_range)


def test_properties_json_is_strict_json():
    for name in EXPECTED_NAMES:
        data = props(name).to_json()
        json.dumps(data, allow_nan=False)
        assert data["smoothness"] in ("discontinuous", "C0", "C1", "C2+")
        assert data["saturation"] in ("both", "left", "right", "none")


# --- saturated intervals ---------------------------------------------------------------------------------

def test_saturated_intervals_of_sigmoid_match_the_analytic_threshold():
    eps = 0.01
    curve = curves.compute_curve(choice.choose("sigmoid"), -10.0, 10.0, 2001)
    got = curves.saturated_intervals(curve.x, curve.dy, eps)
    s = (1 + math.sqrt(1 - 4 * eps)) / 2  # sigma(1 - sigma) = eps
    edge = math.log(s / (1 - s))
    assert len(got) == 2
    (a0, a1), (b0, b1) = got
    assert a0 == -10.0 and b1 == 10.0
    assert a1 == pytest.approx(-edge, abs=0.01) and b0 == pytest.approx(edge, abs=0.01)
    assert curves.saturated_intervals(curve.x, curve.dy, 0.0) == []
    relu = curves.compute_curve(choice.choose("relu"), -1.0, 1.0, 201)
    assert curves.saturated_intervals(relu.x, relu.dy, 0.05) == [(-1.0, 0.0)]
