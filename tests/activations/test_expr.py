"""The custom-expression guard: hostile input is refused with a useful message and runs nothing;
valid formulas compute the right function and derivatives."""

from __future__ import annotations

import ast
import builtins
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actviz.activations import choice, curves, expr
from actviz.activations.expr import ExpressionError
from actviz.errors import InputError

PWNED = "/tmp/pwned"
DANGEROUS_MODULES = {"os", "posix", "subprocess", "shutil", "socket", "ctypes", "importlib", "pty", "builtins"}

# (source, what the message must mention): each one refused by parse_expression.
HOSTILE = [
    (f"__import__('os').system('touch {PWNED}')", r"attribute|function name"),
    ("__import__('os')", r"unknown function '__import__'"),
    ("().__class__.__bases__", r"attribute"),
    ("x.__class__", r"attribute"),
    ("x.real", r"attribute"),
    ("9**9**9", r"power tower"),
    ("x ** x ** x", r"power tower"),
    ("exp(exp(exp(x)))", r"nested exponential"),
    ("exp(x) ** x", r"nested exponential"),
    ("exp(sinh(x))", r"nested exponential"),
    ("exp(x ** x)", r"nested exponential"),
    ("x + " * 2500, r"too long.*10000 characters"),
    ("(x + 1", r"not a valid formula.*never closed"),
    ("x + 1)", r"not a valid formula.*unmatched"),
    ("sigmoid((x)", r"not a valid formula"),
    ("", r"empty"),
    ("   \t  ", r"empty"),
    ("lambda: 1", r"lambda"),
    ("[x for x in (1, 2)]", r"comprehension"),
    ("(x for y in x)", r"comprehension"),
    ("{x for y in x}", r"comprehension"),
    ("x[0]", r"indexing"),
    ("x[1:2]", r"indexing"),
    ("'x'", r"only numbers.*str"),
    ("b'x'", r"only numbers.*bytes"),
    ("f'{x}'", r"string"),
    ("open('/etc/passwd')", r"unknown function 'open'"),
    ("eval('x')", r"unknown function 'eval'"),
    ("exec('x')", r"unknown function 'exec'"),
    ("getattr(x, 'exp')", r"unknown function 'getattr'"),
    ("print(x)", r"unknown function 'print'"),
    ("(y := x)", r"assignment \(:=\)"),
    ("max(x, y=1)", r"positional"),
    ("max(*x)", r"unpacking"),
    ("x if x > 0 else 1", r"if/else"),
    ("x > 0 and x", r"and/or"),
    ("x or 1", r"and/or"),
    ("not x", r"unary"),
    ("~x", r"unary"),
    ("x == 0", r"single comparison"),
    ("x != 0", r"single comparison"),
    ("0 < x < 1", r"single comparison"),
    ("x is x", r"single comparison"),
    ("x // 2", r"operator //"),
    ("x % 2", r"operator %"),
    ("x @ x", r"operator @"),
    ("x & 1", r"operator &"),
    ("x | 1", r"operator \|"),
    ("x ^ 2", r"operator \^"),
    ("x << 1", r"operator <<"),
    ("x >> 1", r"operator >>"),
    ("1j", r"complex"),
    ("x * 2j", r"complex"),
    ("True", r"bool"),
    ("x + False", r"bool"),
    ("None", r"NoneType"),
    ("...", r"only numbers"),
    ("exp", r"exp is a function"),
    ("sigmoid(sigmoid)", r"sigmoid is a function"),
    ("exp(x, x)", r"takes 1 argument"),
    ("max(x)", r"takes 2 argument"),
    ("where(x > 0, x)", r"takes 3 argument"),
    ("clamp(x)", r"takes 3 argument"),
    ("elu(x, 1, 2)", r"takes 1 to 2 argument"),
    ("sigmoid()", r"takes 1 argument"),
    ("-" * 200 + "x", r"nested too deeply"),
    ("(" * 200 + "x" + ")" * 200, r"too long"),
    ("sigmoid(" * 30 + "x" + ")" * 30, r"nested too deeply"),
    ("x\n+ 1", r"one line"),
    ("x\r\nimport os", r"one line"),
    ("x; import os", r"one line"),
    ("torch.exp(x)", r"attribute"),
    ("x.exp()", r"attribute"),
    ("np.exp(x)", r"attribute"),
    ("x**1e9", r"exponent.*at most 10"),
    ("x ** -11", r"exponent.*at most 10"),
    ("1e999", r"finite"),
    ("x * 1e7", r"at most 1e\+06"),
    ("x\x00", r"NUL"),
    ("import os", r"not a valid formula"),
    ("yield x", r"not a valid formula"),
    ("await x", r"await"),
    ("{'a': x}", r"dict"),
    ("(x, 1)", r"tuple"),
    ("[x]", r"list"),
    ("__builtins__", r"unknown name '__builtins__'"),
    ("beta * x", r"unknown name 'beta'"),
    ("nan * x", r"unknown name 'nan'"),
    ("leaky_relu(x, x)", r"depend on x"),
    ("leaky_relu(x, 0.5 + 0.1 * x)", r"depend on x"),
    ("prelu(x, sigmoid(x))", r"depend on x"),
]


def _ids() -> list[str]:
    out = []
    for i, (source, _) in enumerate(HOSTILE):
        text = source if len(source) <= 30 else source[:27] + "..."
        out.append(f"{i:02d}-{text.encode('unicode_escape').decode()}")
    return out


@pytest.fixture
def nothing_runs(monkeypatch):
    """Record every attempt to execute code, spawn a process or open a file while the guard works.

    ``compile`` is allowed only in the AST-only mode ``ast.parse`` uses.
    """
    calls: list[str] = []
    real_compile, real_import = builtins.compile, builtins.__import__

    def spy(name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return wrapper

    def guarded_import(name, *args, **kwargs):
        # Helpers such as ast.walk import already-loaded stdlib modules; loading anything new, or
        # reaching for the modules that run commands, counts.
        if name not in sys.modules or name.split(".")[0] in DANGEROUS_MODULES:
            calls.append(f"import {name}")
        return real_import(name, *args, **kwargs)

    def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            calls.append("compile")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", spy("eval", builtins.eval))
    monkeypatch.setattr(builtins, "exec", spy("exec", builtins.exec))
    monkeypatch.setattr(builtins, "compile", guarded_compile)
    monkeypatch.setattr(builtins, "open", spy("open", builtins.open))
    monkeypatch.setattr(builtins, "__import__", guarded_import)
    monkeypatch.setattr(os, "system", spy("os.system", lambda *a: 0))
    monkeypatch.setattr(os, "popen", spy("os.popen", lambda *a: None))
    monkeypatch.setattr(subprocess, "Popen", spy("subprocess.Popen", lambda *a, **k: None))
    return calls


def test_there_are_enough_hostile_inputs():
    assert len(HOSTILE) >= 30
    assert any(len(s) >= 10_000 for s, _ in HOSTILE)


@pytest.mark.parametrize("source, fragment", HOSTILE, ids=_ids())
def test_hostile_input_is_refused_with_a_message(source, fragment, nothing_runs):
    existed = os.path.exists(PWNED)
    nothing_runs.clear()
    try:
        expr.parse_expression(source)
    except ExpressionError as exc:
        error: ExpressionError | None = exc
    else:
        error = None
    ran = list(nothing_runs)  # before pytest's own machinery imports anything
    assert ran == [], ran
    assert error is not None, f"{source!r} was accepted"
    message = str(error)
    assert message.strip()
    assert "\n" not in message
    assert len(message) < 400
    assert re.search(fragment, message, flags=re.IGNORECASE), message
    assert os.path.exists(PWNED) == existed


@pytest.mark.parametrize("source, fragment", HOSTILE[:40], ids=_ids()[:40])
def test_hostile_input_is_refused_by_custom_choices_too(source, fragment):
    with pytest.raises(ExpressionError):
        choice.custom(source)
    with pytest.raises(ExpressionError):
        choice.from_dict({"name": "custom", "expression": source, "params": {}})


def test_the_os_system_payload_never_runs(tmp_path):
    target = tmp_path / "pwned"
    for source in (f"__import__('os').system('touch {target}')",
                   f"__import__('os').system('touch {PWNED}')"):
        existed = os.path.exists(PWNED)
        with pytest.raises(ExpressionError):
            expr.parse_expression(source)
        with pytest.raises(ExpressionError):
            choice.custom(source)
        assert not target.exists()
        assert os.path.exists(PWNED) == existed
    if not existed:
        assert not os.path.exists(PWNED)


def test_deep_nesting_is_refused_even_without_the_length_limit(monkeypatch):
    monkeypatch.setattr(expr, "MAX_LENGTH", 10**7)
    for source, fragment in [("sigmoid(" * 200 + "x" + ")" * 200, "nested too deeply"),
                             ("(" * 5000 + "x" + ")" * 5000, "not a valid formula"),
                             ("-" * 200_000 + "x", "could not be read|nested too deeply"),
                             ("x" + " + x" * 50_000, "could not be read|too complex")]:
        with pytest.raises(ExpressionError, match=fragment):
            expr.parse_expression(source)


def test_size_limits_are_where_documented():
    expr.parse_expression("x ** 10")
    expr.parse_expression("x ** -10")
    expr.parse_expression("1e6 * x")
    expr.parse_expression("x" + " " * (expr.MAX_LENGTH - 1))
    with pytest.raises(ExpressionError, match="too long"):
        expr.parse_expression("x" + " " * expr.MAX_LENGTH)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        expr.parse_expression("+".join(["x"] * 100))
    group = "(" + "+".join(["x"] * 10) + ")"  # shallow but large: 9 groups of 19 nodes
    with pytest.raises(ExpressionError, match="too complex"):
        expr.parse_expression("*".join([group] * 9))
    with pytest.raises(ExpressionError, match="at most 8 parameters"):
        expr.parse_expression("x", [f"p{i}" for i in range(9)])
    with pytest.raises(ExpressionError, match="reserved"):
        expr.parse_expression("x", ["exp"])
    with pytest.raises(ExpressionError, match="must be a letter"):
        expr.parse_expression("x", ["__class__"])
    with pytest.raises(ExpressionError, match="text"):
        expr.parse_expression(b"x")  # type: ignore[arg-type]


def test_messages_point_at_the_offending_column():
    with pytest.raises(ExpressionError, match=r"column 5 \('x\.__class__'\)"):
        expr.parse_expression("1 + x.__class__")


# --- valid expressions compute the right thing ------------------------------------------------------

X = torch.linspace(-20, 20, 4001, dtype=torch.float64)


def test_swish_expression_values_and_derivatives():
    e = expr.parse_expression("x * sigmoid(beta * x)", ["beta"])
    for beta in (0.0, 0.5, 1.7, 10.0):
        x = X.clone().requires_grad_(True)
        y = e(x, beta=beta)
        np.testing.assert_allclose(y.detach().numpy(), (X * torch.sigmoid(beta * X)).numpy(), rtol=1e-14, atol=0)
        (dy,) = torch.autograd.grad(y.sum(), x)
        s = torch.sigmoid(beta * X)
        analytic = s + beta * X * s * (1 - s)
        np.testing.assert_allclose(dy.numpy(), analytic.numpy(), rtol=1e-10, atol=1e-14)


def test_swish_expression_through_the_app_matches_the_catalogue_swish():
    custom = curves.compute_curve(choice.custom("x * sigmoid(beta * x)", {"beta": 2.0}), -8, 8, 1601)
    s = 1 / (1 + np.exp(-2.0 * custom.x))
    np.testing.assert_allclose(custom.y, custom.x * s, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(custom.dy, s + 2.0 * custom.x * s * (1 - s), rtol=1e-10, atol=1e-14)
    d2 = 2.0 * s * (1 - s) * (2 + 2.0 * custom.x * (1 - 2 * s))
    np.testing.assert_allclose(custom.d2y, d2, rtol=1e-9, atol=1e-13)
    catalogue = curves.compute_curve(choice.choose("swish", {"beta": 2.0}), -8, 8, 1601)
    np.testing.assert_allclose(custom.d2y, catalogue.d2y, rtol=1e-12, atol=1e-15)


def test_log_one_plus_exp_is_softplus_for_moderate_x():
    x = torch.linspace(-5, 20, 2501, dtype=torch.float64)
    y = expr.parse_expression("log(1 + exp(x))")(x)
    np.testing.assert_allclose(y.numpy(), F.softplus(x).numpy(), rtol=1e-12)


def test_where_expression_is_leaky_relu():
    x = X.clone().requires_grad_(True)
    y = expr.parse_expression("where(x > 0, x, 0.1*x)")(x)
    ref = F.leaky_relu(X, 0.1)
    np.testing.assert_array_equal(y.detach().numpy(), ref.numpy())
    (dy,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_array_equal(dy.numpy(), np.where(X.numpy() > 0, 1.0, 0.1))


@pytest.mark.parametrize("source, reference", [
    ("leaky_relu(x, 0.2)", lambda x: F.leaky_relu(x, 0.2)),
    ("leaky_relu(x)", lambda x: F.leaky_relu(x, 0.01)),
    ("elu(x, 0.5)", lambda x: F.elu(x, 0.5)),
    ("celu(x, 2)", lambda x: F.celu(x, 2.0)),
    ("hardtanh(x, -2, 3)", lambda x: F.hardtanh(x, -2.0, 3.0)),
    ("hardshrink(x, 1.5)", lambda x: F.hardshrink(x, 1.5)),
    ("prelu(x, 0.3)", lambda x: torch.where(x > 0, x, 0.3 * x)),
    ("softplus(x)", F.softplus),
    ("gelu(2 * x) - relu(x)", lambda x: F.gelu(2 * x) - F.relu(x)),
    ("clamp(x, -1, 1)", lambda x: torch.clamp(x, -1, 1)),
    ("max(x, 0) + min(x, 0) / 2", lambda x: F.relu(x) - F.relu(-x) / 2),
    ("step(x) * x ** 2", lambda x: (x > 0) * x**2),
    ("pi * x + e", lambda x: math.pi * x + math.e),
    ("x / (1 + abs(x))", F.softsign),
    ("-x ** 2", lambda x: -(x**2)),
    ("(x > 1) + (x <= -1)", lambda x: ((x > 1) | (x <= -1)).to(x.dtype)),
    ("erf(x / sqrt(2))", lambda x: torch.erf(x / math.sqrt(2))),
    ("1_000 * x", lambda x: 1000 * x),
])
def test_valid_expressions_match_torch(source, reference):
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    np.testing.assert_allclose(expr.parse_expression(source)(x).numpy(), reference(x).numpy(),
                               rtol=1e-13, atol=1e-14)


def test_declared_parameters_in_catalogue_calls():
    c = choice.custom("leaky_relu(x, a)", {"a": 0.3})
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    np.testing.assert_array_equal(c.function()(x).numpy(), F.leaky_relu(x, 0.3).numpy())


@pytest.mark.parametrize("source, params, fragment", [
    ("leaky_relu(x, 2)", {}, r"negative_slope=2 is out of range"),
    ("leaky_relu(x, -0.5)", {}, r"out of range"),
    ("elu(x, 4)", {}, r"alpha=4 is out of range"),
    ("softshrink(x, 6)", {}, r"out of range"),
    ("celu(x, 0)", {}, r"out of range"),
    ("hardtanh(x, 2, 1)", {}, r"min_val must be below max_val"),
    ("leaky_relu(x, a)", {"a": 5.0}, r"out of range"),
    ("x * beta", {"beta": 2000.0}, r"out of range"),
    ("x * beta", {"beta": "nan"}, r"finite"),
    ("x * beta", {}, r"unknown name 'beta'"),
])
def test_bad_parameter_values_are_refused(source, params, fragment):
    with pytest.raises(InputError, match=fragment):
        choice.custom(source, params)


def test_x_dependent_catalogue_parameters_are_refused_not_silently_frozen():
    # A catalogue call takes one number per parameter; letting it depend on x made the curve depend on
    # the plotted x-range (the first grid point's value was used everywhere).
    with pytest.raises(ExpressionError, match="depend on x"):
        choice.custom("leaky_relu(x, 0.5 + 0.1 * x)")
    # x inside the first argument is of course fine.
    c = choice.custom("leaky_relu(2 * x - 1, 0.5)")
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    np.testing.assert_array_equal(c.function()(x).numpy(), F.leaky_relu(2 * x - 1, 0.5).numpy())


def test_undefined_points_of_custom_formulas_become_nan_not_errors():
    curve = curves.compute_curve(choice.custom("log(x)"), -1.0, 1.0, 201)
    positive = curve.x > 0
    assert np.isnan(curve.y[~positive]).all()
    np.testing.assert_allclose(curve.y[positive], np.log(curve.x[positive]), rtol=1e-14)
    np.testing.assert_allclose(curve.dy[positive], 1 / curve.x[positive], rtol=1e-12)
    with pytest.raises(InputError, match="not finite anywhere"):
        curves.compute_curve(choice.custom("sqrt(-1 - x ** 2)"), -1.0, 1.0, 21)


def test_constant_expression_is_a_flat_curve():
    curve = curves.compute_curve(choice.custom("3"), -1.0, 1.0, 21)
    assert (curve.y == 3).all() and (curve.dy == 0).all() and (curve.d2y == 0).all()


def test_free_names_and_parameter_assignments():
    assert expr.free_names("a * x + b * sigmoid(x) + pi * e") == ["a", "b"]
    assert expr.free_names("x * sigmoid(beta * x)") == ["beta"]
    assert expr.free_names("x +") == [] and expr.free_names("x" * 1000) == []
    assert expr.parse_param_assignments("beta=1, a=2") == {"beta": 1.0, "a": 2.0}
    assert expr.parse_param_assignments("  ") == {}
    assert expr.parse_param_assignments("beta=-1e2; gamma=3") == {"beta": -100.0, "gamma": 3.0}
    for bad, fragment in [("beta", "name=value"), ("x=1", "reserved"), ("beta=nan", "finite"),
                          ("beta=2000", "out of range"), ("1a=2", "letter"), ("beta=" + "9" * 500, "too long"),
                          ("a=1,b=2,c=3,d=4,f=5,g=6,h=7,i=8,j=9", "at most 8")]:
        with pytest.raises(InputError, match=fragment):
            expr.parse_param_assignments(bad)
    assert expr.parse_param_assignments_safe("beta") == {}


def test_custom_choice_is_canonical_and_round_trips():
    c = choice.custom("  x * sigmoid(beta * x) ", {"beta": "1.5"})
    assert c.expression == "x * sigmoid(beta * x)" and c.param_dict == {"beta": 1.5}
    assert choice.from_dict(c.as_dict()) == c
    assert c.key == choice.custom("x * sigmoid(beta * x)", {"beta": 1.5}).key


def test_refused_expression_on_the_command_line(repo_root):
    proc = subprocess.run([sys.executable, "-m", "actviz", "curve", "--expr", "__import__('os').system('id')"],
                          cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("actviz: error:"), proc.stderr
    assert "attribute" in lines[0] or "function name" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
