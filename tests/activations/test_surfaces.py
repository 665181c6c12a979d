"""Gated units f(a, b) = act(a)·b: values and gradients against hand-written formulas, torch.nn.GLU, the
``surface`` command's JSON (z[i][j] at a[i], b[j]) and the gallery's three-panel figure."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import erf, expit

from actviz.activations import choice
from actviz.activations.curves import compute_curve
from actviz.activations.surfaces import compute_surface
from actviz.errors import InputError
from actviz.plots.surface_figures import gated_figure
from tests.test_cli import run_inprocess


def _gelu(a):
    return a * 0.5 * (1 + erf(a / math.sqrt(2)))


def _dgelu(a):
    return 0.5 * (1 + erf(a / math.sqrt(2))) + a * np.exp(-a * a / 2) / math.sqrt(2 * math.pi)


def analytic(name, A, B, beta=1.0):
    """(z, dz/da, dz/db) of each gated unit, written from its definition."""
    if name == "glu":
        s = expit(A)
        return s * B, s * (1 - s) * B, s
    if name == "reglu":
        return np.maximum(A, 0) * B, np.where(A > 0, 1.0, 0.0) * B, np.maximum(A, 0)
    if name == "geglu":
        return _gelu(A) * B, _dgelu(A) * B, _gelu(A)
    if name == "swiglu":
        s = expit(beta * A)
        act = A * s
        return act * B, (s + beta * A * s * (1 - s)) * B, act
    raise AssertionError(name)


CASES = [("glu", {}), ("reglu", {}), ("geglu", {}), ("swiglu", {}), ("swiglu", {"beta": 2.5}),
         ("swiglu", {"beta": 0.0})]


@pytest.mark.parametrize("name, params", CASES)
def test_surface_matches_the_analytic_values_and_gradients(name, params):
    # An asymmetric grid, different ranges for a and b, and a = 0 avoided (ReGLU's corner).
    s = compute_surface(choice.choose(name, params), -4.1, 2.9, -1.5, 3.5, 36)
    A, B = np.meshgrid(s.a, s.b, indexing="ij")
    z, da, db = analytic(name, A, B, params.get("beta", 1.0))
    assert s.z.shape == (36, 36) and s.a[0] == -4.1 and s.b[-1] == 3.5
    np.testing.assert_allclose(s.z, z, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.dz_da, da, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(s.dz_db, db, rtol=1e-12, atol=1e-14)


def test_glu_is_torchs_glu_and_the_slice_b_equal_1_is_the_gate():
    a = torch.linspace(-6, 6, 121, dtype=torch.float64)
    b = torch.linspace(-2, 3, 121, dtype=torch.float64)
    c = choice.choose("glu")
    # torch.nn.GLU: first half * sigmoid(second half), so b goes first.
    np.testing.assert_allclose(c.gated_function()(a, b).numpy(), F.glu(torch.cat([b, a]), dim=0).numpy(), rtol=1e-15)
    for name, act in (("glu", torch.sigmoid), ("reglu", F.relu), ("geglu", F.gelu), ("swiglu", F.silu)):
        np.testing.assert_allclose(choice.choose(name).function()(a).numpy(), act(a).numpy(), rtol=1e-15)


@pytest.mark.parametrize("name", ["glu", "reglu", "geglu", "swiglu"])
def test_surface_command_json_matches_analytic_values(name, capsys):
    code, out, err = run_inprocess(["surface", name, "--points", "21", "--amin", "-2.5", "--amax", "3",
                                    "--bmin", "-1", "--bmax", "2", "--json"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) >= {"a", "b", "z", "dz_da", "dz_db"}
    a, b = np.array(data["a"]), np.array(data["b"])
    assert len(a) == len(b) == 21 and a[0] == -2.5 and a[-1] == 3 and b[0] == -1 and b[-1] == 2
    z, da, db = analytic(name, *np.meshgrid(a, b, indexing="ij"))
    # z[i][j] is f at a[i], b[j].
    assert data["z"][3][17] == pytest.approx(analytic(name, a[3], b[17])[0], rel=1e-12, abs=1e-15)
    mask = ~np.isclose(np.meshgrid(a, b, indexing="ij")[0], 0.0) if name == "reglu" else np.ones_like(z, bool)
    for key, want in (("z", z), ("dz_da", da), ("dz_db", db)):
        np.testing.assert_allclose(np.array(data[key], dtype=float)[mask], want[mask], rtol=1e-10, atol=1e-13)


def test_surface_command_in_a_subprocess_and_with_a_parameter(repo_root):
    proc = subprocess.run([sys.executable, "-m", "actviz", "surface", "swiglu", "--param", "beta=2", "--points", "5",
                           "--json"], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["params"] == {"beta": 2.0} and data["a"] == [-3.0, -1.5, 0.0, 1.5, 3.0]
    assert data["z"][4][4] == pytest.approx(3 * expit(6) * 3, rel=1e-12)


@pytest.mark.parametrize("args, fragment", [
    (["surface", "relu"], "element-wise"),
    (["surface", "swiglu", "--points", "3"], "points must be a whole number from 5 to 401"),
    (["surface", "swiglu", "--points", "1e9"], "points must be"),
    (["surface", "swiglu", "--amin", "2", "--amax", "1"], "a-range"),
    (["surface", "swiglu", "--bmax", "nan"], "finite"),
    (["surface", "swiglu", "--param", "beta=99"], "out of range"),
    (["surface", "swiglu", "--param", "alpha=1"], "no parameter"),
    (["surface", "nonsense"], "unknown activation"),
])
def test_surface_command_refuses_bad_input_with_one_line(args, fragment, capsys):
    code, out, err = run_inprocess(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith("actviz: error:") and fragment in err and err.count("\n") == 1


def test_element_wise_choices_have_no_two_input_form():
    with pytest.raises(InputError, match="element-wise"):
        choice.choose("relu").gated_function()


def test_gated_figure_has_surface_contours_gradient_arrows_and_the_slice():
    c = choice.choose("swiglu")
    s = compute_surface(c, -3, 3, -3, 3, 41)
    curve = compute_curve(c, -3, 3, 301)
    fig = gated_figure(s, curve)
    kinds = [(t.type, (t.meta or {}).get("series")) for t in fig.data]
    assert kinds == [("surface", "surface"), ("contour", "contour"), ("scatter", "gradient"),
                     ("scatter", "slice_line"), ("scatter", "y"), ("scatter", "dy")]
    surface = fig.data[0]
    assert surface.contours.z.show and np.array_equal(np.asarray(surface.z), s.z.T)  # rows are b
    arrows = fig.data[2]
    xs, ys = np.asarray(arrows.x, dtype=float), np.asarray(arrows.y, dtype=float)
    tails, heads = np.stack([xs[0::3], ys[0::3]], 1), np.stack([xs[1::3], ys[1::3]], 1)
    # Each arrow points along the gradient at its tail.
    i = np.searchsorted(s.a, tails[:, 0]), np.searchsorted(s.b, tails[:, 1])
    grad = np.stack([s.dz_da[i], s.dz_db[i]], 1)
    step = heads - tails
    moving = np.hypot(*grad.T) > 1e-9
    cos = (step * grad).sum(1)[moving] / (np.hypot(*step.T)[moving] * np.hypot(*grad.T)[moving])
    assert (cos > 0.999).all() and len(tails) == 13 * 13
    np.testing.assert_allclose(np.asarray(fig.data[4].y), curve.y)  # the slice b = 1 is act(a)
    np.testing.assert_allclose(curve.y, F.silu(torch.from_numpy(curve.x)).numpy(), rtol=1e-14)
