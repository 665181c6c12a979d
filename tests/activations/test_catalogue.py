"""The classic catalogue (torch.nn's set) against torch, the defining formulas and finite differences.

The recent element-wise entries and the gated units have their own file (test_modern.py).

Every entry is checked at default parameters and at several other values inside each parameter's
range, on a dense grid around the origin (step 0.01 on [-12, 12]) and on a wide one (step 1 on
[-1000, 1000]): 4,402 points per case, float64.  Three independent references:

* the torch op (``torch.nn.functional`` where there is one) differentiated by our own autograd calls;
* the defining formula written in numpy/scipy (no torch at all) for f;
* central finite differences of the app's own f and f' for f' and f''.
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
from actviz.errors import InputError

EXPECTED_NAMES = [
    "sigmoid", "logsigmoid", "tanh", "relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "celu",
    "softplus", "silu", "swish", "mish", "gelu", "gelu_tanh", "hardtanh", "hardsigmoid", "hardswish",
    "softsign", "tanhshrink", "softshrink", "hardshrink", "identity",
]
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# --- references -----------------------------------------------------------------------------------

def _prelu_ref(x, init):
    # F.prelu wants a channel dimension: (N, C=1) with a one-element weight.
    weight = torch.tensor([init], dtype=x.dtype)
    return F.prelu(x.reshape(-1, 1), weight).reshape(x.shape)


TORCH_REF = {
    "sigmoid": lambda x: F.sigmoid(x),
    "logsigmoid": lambda x: F.logsigmoid(x),
    "tanh": lambda x: F.tanh(x),
    "relu": lambda x: F.relu(x),
    "relu6": lambda x: F.relu6(x),
    "leaky_relu": lambda x, negative_slope: F.leaky_relu(x, negative_slope),
    "prelu": _prelu_ref,
    "elu": lambda x, alpha: F.elu(x, alpha),
    "selu": lambda x: F.selu(x),
    "celu": lambda x, alpha: F.celu(x, alpha),
    "softplus": lambda x, beta, threshold: F.softplus(x, beta, threshold),
    "silu": lambda x: F.silu(x),
    "swish": lambda x, beta: x * torch.sigmoid(beta * x),  # no F op: the defining formula
    "mish": lambda x: F.mish(x),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "hardtanh": lambda x, min_val, max_val: F.hardtanh(x, min_val, max_val),
    "hardsigmoid": lambda x: F.hardsigmoid(x),
    "hardswish": lambda x: F.hardswish(x),
    "softsign": lambda x: F.softsign(x),
    "tanhshrink": lambda x: F.tanhshrink(x),
    "softshrink": lambda x, lambd: F.softshrink(x, lambd),
    "hardshrink": lambda x, lambd: F.hardshrink(x, lambd),
    "identity": lambda x: x,
}
# F.hardsigmoid's backward multiplies by 1/6 rounded to float32 even for float64 input
# (0.1666666716...); the registry's composed version has the exact 1/6.
DY_RTOL = {"hardsigmoid": 1e-7}


def numpy_formula(name: str, x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """f from its textbook definition (numpy/scipy only), with torch's conventions at the edges."""
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "sigmoid":
            return expit(x)
        if name == "logsigmoid":
            return -np.logaddexp(0.0, -x)
        if name == "tanh":
            return np.tanh(x)
        if name == "relu":
            return np.maximum(x, 0.0)
        if name == "relu6":
            return np.minimum(np.maximum(x, 0.0), 6.0)
        if name == "leaky_relu":
            return np.where(x > 0, x, p["negative_slope"] * x)
        if name == "prelu":
            return np.where(x > 0, x, p["init"] * x)
        if name == "elu":
            return np.where(x > 0, x, p["alpha"] * np.expm1(x))
        if name == "selu":
            return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))
        if name == "celu":
            a = p["alpha"]
            return np.maximum(x, 0.0) + np.minimum(0.0, a * np.expm1(x / a))
        if name == "softplus":
            b, t = p["beta"], p["threshold"]
            return np.where(b * x > t, x, np.logaddexp(0.0, b * x) / b)
        if name == "silu":
            return x * expit(x)
        if name == "swish":
            return x * expit(p["beta"] * x)
        if name == "mish":
            return x * np.tanh(np.logaddexp(0.0, x))
        if name == "gelu":
            return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
        if name == "gelu_tanh":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        if name == "hardtanh":
            return np.clip(x, p["min_val"], p["max_val"])
        if name == "hardsigmoid":
            return np.clip(x / 6.0 + 0.5, 0.0, 1.0)
        if name == "hardswish":
            return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0
        if name == "softsign":
            return x / (1.0 + np.abs(x))
        if name == "tanhshrink":
            return x - np.tanh(x)
        if name == "softshrink":
            lam = p["lambd"]
            return np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0.0))
        if name == "hardshrink":
            return np.where(np.abs(x) > p["lambd"], x, 0.0)
        if name == "identity":
            return x.copy()
    raise AssertionError(f"no formula for {name}")


def mish_derivatives(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Analytic f' and f'' of x * tanh(softplus(x))."""
    t = np.tanh(np.logaddexp(0.0, x))
    s = expit(x)
    sech2 = 1.0 - t * t
    d1 = t + x * s * sech2
    d2 = sech2 * s * (2.0 + x * (1.0 - s) - 2.0 * x * t * s)
    return d1, d2


def corners(name: str, p: dict[str, float]) -> dict[int, list[float]]:
    """Where f (order 0), f' (1) or f'' (2) of torch's function jumps, from the definitions."""
    if name == "relu":
        return {1: [0.0]}
    if name == "relu6":
        return {1: [0.0, 6.0]}
    if name == "leaky_relu":
        return {1: [0.0]} if p["negative_slope"] != 1.0 else {}
    if name == "prelu":
        return {1: [0.0]} if p["init"] != 1.0 else {}
    if name == "elu":  # f'(0-) = alpha, f'(0+) = 1; f''(0-) = alpha, f''(0+) = 0
        a = p["alpha"]
        return {k: [0.0] for k, jumps in ((1, a != 1.0), (2, a != 0.0)) if jumps}
    if name == "selu":
        return {1: [0.0], 2: [0.0]}
    if name == "celu":  # f''(0-) = 1/alpha, f''(0+) = 0
        return {2: [0.0]}
    if name == "softplus":  # torch switches to x once beta*x > threshold: tiny jumps in f, f', f''
        c = p["threshold"] / p["beta"]
        return {0: [c], 1: [c], 2: [c]}
    if name == "hardtanh":
        return {1: [p["min_val"], p["max_val"]]}
    if name == "hardsigmoid":
        return {1: [-3.0, 3.0]}
    if name == "hardswish":
        return {1: [-3.0, 3.0], 2: [-3.0, 3.0]}
    if name == "softsign":  # f'' = -2 sign(x) / (1 + |x|)^3
        return {2: [0.0]}
    if name == "softshrink":
        lam = p["lambd"]
        return {1: [-lam, lam]} if lam > 0 else {}
    if name == "hardshrink":
        lam = p["lambd"]
        return {0: [-lam, lam], 1: [-lam, lam]} if lam > 0 else {}
    return {}


def special_points(name: str, p: dict[str, float]) -> list[float]:
    """Every corner, plus torch's single-point convention values (shrink ops' f'(0) = 0 at lambda = 0)."""
    pts = [c for cs in corners(name, p).values() for c in cs]
    if name in ("softshrink", "hardshrink"):
        pts.append(0.0)
    return sorted(set(pts))


def near(x: np.ndarray, points: list[float], tol: float | np.ndarray = 0.0) -> np.ndarray:
    """Points of x within tol (plus the app's 1e-9 relative snapping) of any of ``points``."""
    mask = np.zeros(x.shape, dtype=bool)
    for c in points:
        mask |= np.abs(x - c) <= tol + 1e-9 * (1.0 + abs(c))
    return mask


def _round_to_step(value: float, p: activations.Param) -> float:
    k = round((value - p.min) / p.step)
    return float(min(max(round(p.min + k * p.step, 10), p.min), p.max))


def parameter_cases() -> list[tuple[str, dict[str, float]]]:
    """Default parameters for every entry, then each parameter moved (alone) to several values of its
    range, ends included, plus a few combinations the single-parameter sweep cannot reach."""
    cases: list[tuple[str, dict[str, float]]] = []
    for name in EXPECTED_NAMES:
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
                except InputError:  # e.g. hardtanh min_val above max_val
                    continue
                if (name, params) not in cases:
                    cases.append((name, params))
    cases += [("hardtanh", {"min_val": -3.0, "max_val": 2.5}), ("hardtanh", {"min_val": 2.0, "max_val": 3.0}),
              ("hardtanh", {"min_val": -10.0, "max_val": -9.5}), ("softplus", {"beta": 2.0, "threshold": 5.0}),
              ("softplus", {"beta": 10.0, "threshold": 50.0})]
    return cases


CASES = parameter_cases()
CASE_IDS = [n + "(" + ",".join(f"{k}={v:g}" for k, v in p.items()) + ")" for n, p in CASES]


def app_curve(name: str, params: dict[str, float]) -> tuple[np.ndarray, ...]:
    """x, y, dy, d2y as the app computes them: dense grid near 0 and a wide one out to +-1000."""
    c = choice.choose(name, params)
    dense = curves.compute_curve(c, -12.0, 12.0, 2401)
    wide = curves.compute_curve(c, -1000.0, 1000.0, 2001)
    return tuple(np.concatenate([getattr(dense, k), getattr(wide, k)]) for k in ("x", "y", "dy", "d2y"))


def torch_derivatives(f, x_np: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """f, f', f'' of a reference op by our own backward / double backward (None: no double backward)."""
    x = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    y = f(x)
    (dy,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    d2y: torch.Tensor | None
    if not dy.requires_grad:
        d2y = torch.zeros_like(x)
    else:
        try:
            (d2y,) = torch.autograd.grad(dy.sum(), x, allow_unused=True, materialize_grads=True)
            d2y = torch.zeros_like(x) + d2y  # materialise a ZeroTensor
        except RuntimeError:
            d2y = None
    return (y.detach().numpy(), dy.detach().numpy(), None if d2y is None else d2y.detach().numpy())


# --- registry ----------------------------------------------------------------------------------------

def test_registry_starts_with_the_24_classics():
    assert activations.names()[:24] == EXPECTED_NAMES
    assert set(TORCH_REF) == set(EXPECTED_NAMES)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_entry_metadata_is_consistent(name):
    act = activations.get(name)
    assert act.name == name and act.label and act.formula and act.description
    assert activations.get(name.upper()) is act  # case-insensitive
    for p in act.params:
        assert p.min < p.max and p.step > 0
        assert p.min <= p.default <= p.max, p
        assert math.isfinite(p.default)
    assert act.resolve_params() == act.defaults()


def test_torch_defaults_match_the_registry_defaults():
    # The documented torch defaults (the PyTorch docs): LeakyReLU 0.01, PReLU init 0.25, ELU alpha 1,
    # Softplus beta 1 / threshold 20, hardtanh [-1, 1], shrink lambda 0.5.
    d = {n: activations.get(n).defaults() for n in EXPECTED_NAMES}
    assert d["leaky_relu"] == {"negative_slope": 0.01}
    assert d["prelu"] == {"init": 0.25} and torch.nn.PReLU().weight.item() == 0.25
    assert d["elu"] == {"alpha": 1.0} and d["celu"] == {"alpha": 1.0}
    assert d["softplus"] == {"beta": 1.0, "threshold": 20.0}
    assert d["hardtanh"] == {"min_val": -1.0, "max_val": 1.0}
    assert d["softshrink"] == d["hardshrink"] == {"lambd": 0.5}
    assert d["swish"] == {"beta": 1.0}
    assert activations.get("prelu").param("init").learnable
    assert activations.get("swish").param("beta").learnable


def test_aliases_and_unknown_names():
    assert activations.get("LeakyReLU").name == "leaky_relu"
    assert activations.get(" lrelu ").name == "leaky_relu"
    assert activations.get("logistic").name == "sigmoid"
    assert activations.get("linear").name == "identity"
    with pytest.raises(InputError, match="unknown activation"):
        activations.get("swishy")
    with pytest.raises(InputError, match="unknown activation"):
        activations.get("x" * 10_000)


@pytest.mark.parametrize("given, fragment", [
    ({"alpha": 3.5}, "out of range"),
    ({"alpha": -0.01}, "out of range"),
    ({"alpha": "nan"}, "finite"),
    ({"alpha": float("inf")}, "finite"),
    ({"alpha": "1e999"}, "finite"),
    ({"alpha": True}, "number"),
    ({"alpha": "one"}, "number"),
    ({"alpha": None}, "number"),
    ({"alpha": [1.0]}, "number"),
    ({"alpha": "1" * 100}, "number"),
    ({"beta": 1.0}, "no parameter"),
])
def test_resolve_params_refuses_bad_values(given, fragment):
    with pytest.raises(InputError, match=fragment):
        activations.get("elu").resolve_params(given)


def test_resolve_params_accepts_range_ends_and_numeric_strings():
    act = activations.get("elu")
    assert act.resolve_params({"alpha": 0}) == {"alpha": 0.0}
    assert act.resolve_params({"alpha": " 3 "}) == {"alpha": 3.0}
    with pytest.raises(InputError, match="min_val must be below max_val"):
        activations.get("hardtanh").resolve_params({"min_val": 2, "max_val": 2})


def test_parameter_cases_cover_every_parameter_beyond_its_default():
    moved = {(n, k) for n, p in CASES for k, v in p.items() if v != activations.get(n).defaults()[k]}
    every = {(n, p.name) for n in EXPECTED_NAMES for p in activations.get(n).params}
    assert moved == every
    assert len(CASES) > 50


# --- values -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_f_matches_the_defining_formula(name, params):
    x, y, _, _ = app_curve(name, params)
    assert x.size >= 4000 and x.min() == -1000.0 and x.max() == 1000.0
    expected = numpy_formula(name, x, params)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_curves_match_torch_autograd_of_the_reference_op(name, params):
    x, y, dy, d2y = app_curve(name, params)
    ref_y, ref_dy, ref_d2y = torch_derivatives(lambda t: TORCH_REF[name](t, **params), x)
    jumps = corners(name, params)
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-13)

    # f' is left undefined (NaN) only where f itself jumps, and equals torch's f' everywhere else,
    # torch's convention values at corners included (ReLU's f'(0) = 0).
    undefined = ~np.isfinite(dy)
    assert not (undefined & ~near(x, jumps.get(0, []))).any(), x[undefined]
    np.testing.assert_allclose(dy[~undefined], ref_dy[~undefined], rtol=DY_RTOL.get(name, 1e-12), atol=1e-13)

    undefined2 = ~np.isfinite(d2y)
    assert not (undefined2 & ~near(x, jumps.get(0, []) + jumps.get(1, []))).any(), x[undefined2]
    if name == "mish":
        expected = mish_derivatives(x)[1]
        np.testing.assert_allclose(d2y, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(dy, mish_derivatives(x)[0], rtol=1e-9, atol=1e-12)
    elif name == "hardsigmoid":
        assert ref_d2y is None  # torch: "derivative for hardsigmoid_backward is not implemented"
        assert (d2y[~undefined2] == 0).all()
        assert undefined2[near(x, [-3.0, 3.0])].all()  # f' jumps 0 -> 1/6 -> 0 there
    else:
        assert ref_d2y is not None, f"torch should double-differentiate {name}"
        np.testing.assert_allclose(d2y[~undefined2], ref_d2y[~undefined2], rtol=1e-10, atol=1e-12)


def test_mish_needs_its_composed_form_for_f_double_prime():
    # The reason the registry composes mish: F.mish's own double backward is NaN at large x, while
    # the true f'' there is 0.  (If torch fixes this the registry could use F.mish directly.)
    x = np.array([1.0, 20.0, 700.0, 710.0, 1000.0])
    _, dy, d2y = torch_derivatives(F.mish, x)
    np.testing.assert_allclose(dy, mish_derivatives(x)[0], rtol=1e-12)
    app = curves.derivatives(choice.choose("mish").function(), torch.from_numpy(x))
    np.testing.assert_allclose(app[2].numpy(), mish_derivatives(x)[1], rtol=1e-9, atol=1e-15)
    assert np.isfinite(app[2].numpy()).all()
    assert d2y is not None and not np.isfinite(d2y[-2:]).all()


def test_prelu_and_hardsigmoid_match_torch_modules_on_batched_input():
    x = torch.linspace(-6, 6, 241, dtype=torch.float64)
    prelu = torch.nn.PReLU(init=0.3, dtype=torch.float64)
    np.testing.assert_array_equal(activations.get("prelu")(x, init=0.3).numpy(),
                                  prelu(x.reshape(-1, 1)).detach().reshape(-1).numpy())
    np.testing.assert_allclose(activations.get("hardsigmoid")(x).numpy(), torch.nn.Hardsigmoid()(x).numpy(),
                               rtol=1e-15, atol=1e-16)  # x/6 + 1/2 vs torch's (x + 3)/6: last-bit rounding
    # Element-wise: a 2-D input gives the same numbers as the flattened one.
    for name in EXPECTED_NAMES:
        act = activations.get(name)
        flat = act(x, **act.defaults())
        grid = act(x[:240].reshape(12, 20), **act.defaults())
        np.testing.assert_array_equal(grid.reshape(-1).numpy(), flat[:240].numpy())


def test_learnable_parameters_accept_tensors_and_get_gradients():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    for name, pname in (("prelu", "init"), ("swish", "beta")):
        a = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
        activations.get(name)(x, **{pname: a}).sum().backward()
        if name == "prelu":
            expected = x[x <= 0].sum()  # d/da of a*x on the negative side
        else:
            s = torch.sigmoid(0.4 * x)
            expected = (x * x * s * (1 - s)).sum()
        assert a.grad is not None
        assert a.grad.item() == pytest.approx(expected.item(), rel=1e-12)


# --- finite differences ---------------------------------------------------------------------------------

def _fd_mask(name: str, params: dict[str, float], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Points whose finite-difference stencil [x - h, x + h] stays clear of every corner."""
    return ~near(x, special_points(name, params), tol=2.0 * h + 1e-12)


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_derivatives_match_central_finite_differences(name, params):
    x, _, dy, d2y = app_curve(name, params)
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    keep = _fd_mask(name, params, x, h)
    assert keep.sum() >= 4000
    fn = choice.choose(name, params).function()
    plus = curves.derivatives(fn, torch.from_numpy(x + h))
    minus = curves.derivatives(fn, torch.from_numpy(x - h))
    fd1 = (plus[0].numpy() - minus[0].numpy()) / (2 * h)
    fd2 = (plus[1].numpy() - minus[1].numpy()) / (2 * h)
    np.testing.assert_allclose(dy[keep], fd1[keep], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d2y[keep], fd2[keep], rtol=1e-5, atol=1e-6)
    if name == "mish":  # and the analytic f'' agrees with the finite difference of f'
        np.testing.assert_allclose(mish_derivatives(x[keep])[1], fd2[keep], rtol=1e-5, atol=1e-6)


def test_finite_difference_check_would_catch_a_wrong_derivative():
    # The tolerance above is tight enough to see a 1e-4 error in f' (guards against a vacuous test).
    x = np.linspace(-5, 5, 1001)
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    s = lambda t: expit(t)
    fd = (s(x + h) - s(x - h)) / (2 * h)
    wrong = s(x) * (1 - s(x)) * (1 + 1e-4)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong, fd, rtol=1e-6, atol=1e-7)
