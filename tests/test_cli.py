"""``python -m actviz``: machine-readable output that matches torch, and one clean line for bad input.

The subprocess runs start together (module fixture) so that their torch imports overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from actviz import activations, cli

SUBPROCESS_RUNS = {
    "activations": ["activations", "--json"],
    "swish": ["curve", "swish", "--param", "beta=2", "--json"],
    "relu": ["curve", "relu", "--xmin", "-1", "--xmax", "1", "--points", "201", "--json"],
    "unknown-name": ["curve", "swishy", "--json"],
    "out-of-range": ["curve", "elu", "--param", "alpha=5", "--json"],
    "bad-number": ["curve", "elu", "--param", "alpha=abc", "--json"],
    "xmin>=xmax": ["curve", "relu", "--xmin", "2", "--xmax", "1", "--json"],
    "too-many-points": ["curve", "relu", "--points", "100000", "--json"],
    "unknown-option": ["curve", "relu", "--bogus", "--json"],
    "unknown-command": ["frobnicate"],
}
INVALID_SUBPROCESS = [k for k in SUBPROCESS_RUNS if k not in ("activations", "swish", "relu")]


def _strict_json(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def runs(repo_root):
    procs = {key: subprocess.Popen([sys.executable, "-m", "actviz", *args], cwd=repo_root,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for key, args in SUBPROCESS_RUNS.items()}
    out = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        out[key] = (proc.returncode, stdout, stderr)
    return out


def run_inprocess(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(args)
    except SystemExit as exc:  # argparse errors exit through the parser
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _curve(x: np.ndarray, f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = f(t)
    (dy,) = torch.autograd.grad(y.sum(), t, create_graph=True)
    (d2y,) = torch.autograd.grad(dy.sum(), t)
    return y.detach().numpy(), dy.detach().numpy(), d2y.numpy()


def _array(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


# --- valid commands ------------------------------------------------------------------------------------

def test_activations_json_lists_the_registry(runs):
    code, out, err = runs["activations"]
    assert code == 0 and err == ""
    data = _strict_json(out)
    assert isinstance(data, list) and len(data) == len(activations.names()) >= 40
    assert [d["name"] for d in data] == activations.names()
    assert [d["name"] for d in data if d["kind"] == "gated"] == ["glu", "reglu", "geglu", "swiglu"]
    for entry in data:
        act = activations.get(entry["name"])
        assert entry["label"] == act.label and entry["formula"] == act.formula
        assert [p["name"] for p in entry["params"]] == [p.name for p in act.params]
        for got, spec in zip(entry["params"], act.params):
            assert (got["default"], got["min"], got["max"]) == (spec.default, spec.min, spec.max)
    assert {d["name"] for d in data} >= {"relu", "swish", "mish", "gelu", "prelu", "hardswish", "identity"}


def test_activations_text_output(capsys):
    code, out, err = run_inprocess(["activations"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(activations.names())
    assert [line.split()[0] for line in lines] == activations.names()
    assert "gated" in next(line for line in lines if line.startswith("swiglu"))
    assert "negative_slope=0.01 [0, 1]" in next(line for line in lines if line.startswith("leaky_relu"))


def test_swish_curve_matches_torch(runs):
    code, out, err = runs["swish"]
    assert code == 0 and err == ""
    data = _strict_json(out)
    assert data["name"] == "swish" and data["params"] == {"beta": 2.0}
    x = np.array(data["x"])
    assert x.size == 1001 and x[0] == -5.0 and x[-1] == 5.0
    y, dy, d2y = _curve(x, lambda t: t * torch.sigmoid(2.0 * t))
    np.testing.assert_allclose(data["y"], y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(data["dy"], dy, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(data["d2y"], d2y, rtol=1e-10, atol=1e-14)
    props = data["properties"]
    assert props["smoothness"] == "C2+" and props["monotonic"] == "no" and props["saturation"] == "left"
    assert props["dy_at_0"] == pytest.approx(0.5, abs=1e-12)


def test_relu_second_derivative_is_null_exactly_at_zero(runs):
    code, out, err = runs["relu"]
    assert code == 0 and err == ""
    data = _strict_json(out)
    x = np.array(data["x"])
    assert x.size == 201
    np.testing.assert_allclose(x, np.linspace(-1, 1, 201), rtol=0, atol=1e-15)
    assert [xi for xi, v in zip(data["x"], data["d2y"]) if v is None] == [0.0]
    assert all(v == 0 for v in data["d2y"] if v is not None)
    np.testing.assert_array_equal(data["y"], np.maximum(x, 0))
    np.testing.assert_array_equal(data["dy"], (x > 0).astype(float))  # f'(0) = 0, torch's convention
    props = data["properties"]
    assert props["smoothness"] == "C0" and props["discontinuities"]["f'"] == [0.0]
    assert props["left_saturating"] is True and props["right_saturating"] is False


def test_curve_text_output_and_parameter_forms(capsys):
    code, out, err = run_inprocess(["curve", "ELU", "--param", "alpha = 0.5"], capsys)
    assert code == 0 and err == ""
    assert out.splitlines()[0].startswith("ELU (alpha=0.5): 1001 points on [-5, 5]")
    assert "smoothness" in out and "C0" in out


def test_expression_curve_equals_the_catalogue_curve(capsys):
    code, out, err = run_inprocess(["curve", "--expr", "x * sigmoid(beta * x)", "--param", "beta=2",
                                    "--xmin", "-3", "--xmax", "4", "--points", "351", "--json"], capsys)
    assert code == 0 and err == ""
    custom = _strict_json(out)
    code, out, _ = run_inprocess(["curve", "swish", "--param", "beta=2", "--xmin", "-3", "--xmax", "4",
                                  "--points", "351", "--json"], capsys)
    catalogue = _strict_json(out)
    assert custom["name"] == "custom" and custom["params"] == {"beta": 2.0}
    assert custom["x"] == catalogue["x"]
    for key in ("y", "dy", "d2y"):
        np.testing.assert_allclose(custom[key], catalogue[key], rtol=1e-13, atol=1e-15)


def test_undefined_points_of_an_expression_are_null(capsys):
    code, out, err = run_inprocess(["curve", "--expr", "sqrt(x)", "--xmin", "-1", "--xmax", "1",
                                    "--points", "21", "--json"], capsys)
    assert code == 0 and err == ""
    data = _strict_json(out)
    x, y = np.array(data["x"]), _array(data["y"])
    assert np.isnan(y[x < 0]).all()
    np.testing.assert_allclose(y[x >= 0], np.sqrt(x[x >= 0]), rtol=1e-15)
    dy = _array(data["dy"])
    assert np.isnan(dy[x <= 0]).all()  # f'(0) = inf is not a number either


# --- invalid input: exit code 2, one line, no traceback ------------------------------------------------------

def _assert_one_clean_error(code, out, err, fragment=""):
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("actviz: error:"), err
    assert "Traceback" not in err and out == ""
    assert fragment.lower() in lines[0].lower(), lines[0]


@pytest.mark.parametrize("key", INVALID_SUBPROCESS)
def test_invalid_input_in_a_real_process(runs, key):
    _assert_one_clean_error(*runs[key])


@pytest.mark.parametrize("args, fragment", [
    (["curve", "swishy"], "unknown activation 'swishy'"),
    (["curve", "elu", "--param", "alpha=5"], "alpha=5 is out of range"),
    (["curve", "elu", "--param", "alpha=-0.5"], "out of range"),
    (["curve", "elu", "--param", "alpha=abc"], "must be a number"),
    (["curve", "elu", "--param", "alpha=nan"], "finite"),
    (["curve", "elu", "--param", "alpha=1e999"], "finite"),
    (["curve", "elu", "--param", "alpha"], "KEY=VALUE"),
    (["curve", "elu", "--param", "=1"], "KEY=VALUE"),
    (["curve", "relu", "--param", "beta=1"], "no parameter 'beta'"),
    (["curve", "hardtanh", "--param", "min_val=2", "--param", "max_val=1"], "min_val must be below max_val"),
    (["curve", "relu", "--xmin", "abc"], "xmin must be a number"),
    (["curve", "relu", "--xmin", "2", "--xmax", "1"], "xmin < xmax"),
    (["curve", "relu", "--xmin", "1", "--xmax", "1"], "xmin < xmax"),
    (["curve", "relu", "--xmin", "-2000"], "-1000 <= xmin"),
    (["curve", "relu", "--xmax", "inf"], "finite"),
    (["curve", "relu", "--points", "100000"], "points"),
    (["curve", "relu", "--points", "5"], "points"),
    (["curve", "relu", "--points", "10.5"], "whole number"),
    (["curve", "relu", "--points", "x" * 100], "points must be a number"),
    (["curve", "relu", "--bogus"], "unrecognized arguments: --bogus"),
    (["curve", "relu", "--param"], "expected one argument"),
    (["curve", "relu", "--expr", "x"], "not both"),
    (["curve"], "give an activation NAME"),
    (["curve", "--expr", "x.__class__"], "attribute"),
    (["curve", "--expr", "x * beta"], "unknown name 'beta'"),
    (["curve", "--expr", "x * beta", "--param", "beta=2000"], "out of range"),
    (["curve", "--expr", "leaky_relu(x, 3)"], "out of range"),
    (["curve", "--expr", "log(x)", "--xmin", "-2", "--xmax", "-1"], "not finite anywhere"),
    (["curve", "--expr", "x\nimport os"], "one line"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_invalid_input_gives_one_clean_line(capsys, args, fragment):
    _assert_one_clean_error(*run_inprocess(args, capsys), fragment)
