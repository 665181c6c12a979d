"""A custom formula as mathematics: LaTeX for f and, where sympy can derive it, for f'.

The sympy expression is built node by node from the same checked ``ast`` tree the evaluator compiles
(:func:`actviz.activations.expr.parse_expression` validates the text first).  Only our own
constructors run; sympy's string parser (``sympify``/``parse_expr``, which evaluates Python) is never
called.  sigmoid and softplus are sympy functions with their derivatives (σ' = σ(1 − σ), softplus' =
σ); catalogue names with a closed form become it (relu = max(0, x), gelu = x(1 + erf(x/√2))/2, …);
the others stay named functions, and then there is no symbolic derivative.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import sympy as sp

from actviz.activations import expr as expr_mod
from actviz.cache import memo

X = sp.Symbol("x", real=True)


class sigmoid(sp.Function):  # noqa: N801  (printed as its name)
    """σ(z) = 1 / (1 + e^{-z})."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    def _latex(self, printer, exp=None) -> str:
        tex = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{printer._print(exp)}}}"


class softplus(sp.Function):  # noqa: N801
    """softplus(z) = log(1 + e^z)."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)

    def _latex(self, printer, exp=None) -> str:
        tex = rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{printer._print(exp)}}}"


def _where(c: sp.Expr, a: sp.Expr, b: sp.Expr) -> sp.Expr:
    return sp.Piecewise((a, sp.StrictGreaterThan(c, 0)), (b, True))


BASIC = {
    "exp": sp.exp, "expm1": lambda a: sp.exp(a) - 1, "sinh": sp.sinh, "cosh": sp.cosh, "log": sp.log,
    "log1p": lambda a: sp.log(1 + a), "sqrt": sp.sqrt, "abs": sp.Abs, "sin": sp.sin, "cos": sp.cos,
    "atan": sp.atan, "erf": sp.erf, "step": lambda a: sp.Heaviside(a, 0), "softplus": softplus,
    "clamp": lambda a, lo, hi: sp.Min(sp.Max(a, lo), hi), "min": sp.Min, "max": sp.Max, "where": _where,
}
_LEAKY = sp.Rational(1, 100)   # the registry's defaults, exact
_HALF = sp.Rational(1, 2)
_STAR = (sp.Float("0.8944", 15), sp.Float("-0.4472", 15))
# Catalogue names with a closed form sympy can differentiate (extra arguments are their parameters).
CATALOGUE = {
    "sigmoid": sigmoid, "tanh": sp.tanh, "relu": lambda a: sp.Max(0, a), "identity": lambda a: a,
    "silu": lambda a: a * sigmoid(a), "swish": lambda a, beta=1: a * sigmoid(beta * a),
    "gelu": lambda a: a * (1 + sp.erf(a / sp.sqrt(2))) / 2, "softsign": lambda a: a / (1 + sp.Abs(a)),
    "logsigmoid": lambda a: -softplus(-a), "mish": lambda a: a * sp.tanh(softplus(a)),
    "leaky_relu": lambda a, s=_LEAKY: sp.Piecewise((a, a > 0), (s * a, True)),
    "tanhshrink": lambda a: a - sp.tanh(a), "gaussian": lambda a: sp.exp(-a**2), "arctan": sp.atan,
    "sine": lambda a, w0=1: sp.sin(w0 * a), "telu": lambda a: a * sp.tanh(sp.exp(a)),
    "serf": lambda a: a * sp.erf(softplus(a)), "smish": lambda a: a * sp.tanh(sp.log(1 + sigmoid(a))),
    "snake": lambda a, alpha=1: a + sp.sin(alpha * a)**2 / alpha,
    "dyt": lambda a, alpha=_HALF, gamma=1, beta=0: gamma * sp.tanh(alpha * a) + beta,
    "relu_squared": lambda a: sp.Max(0, a)**2,
    "star_relu": lambda a, scale=_STAR[0], bias=_STAR[1]: scale * sp.Max(0, a)**2 + bias,
    "elu": lambda a, alpha=1: sp.Piecewise((a, a > 0), (alpha * (sp.exp(a) - 1), True)),
}
_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
            ast.GtE: sp.GreaterThan}


def _number(value: float | int) -> sp.Expr:
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return sp.Integer(int(value))
    return sp.Float(repr(float(value)), 15)


def _build(node: ast.AST, params: set[str]) -> sp.Expr:
    """The sympy form of a node of an already checked tree (anything else is a bug: ValueError)."""
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        if node.id == "x":
            return X
        if node.id == "pi":
            return sp.pi
        if node.id == "e":
            return sp.E
        if node.id in params:
            return sp.Symbol(node.id, real=True)
    if isinstance(node, ast.UnaryOp):
        inner = _build(node.operand, params)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        a, b = _build(node.left, params), _build(node.right, params)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
               ast.Div: lambda: a / b, ast.Pow: lambda: a**b}
        return ops[type(node.op)]()
    if isinstance(node, ast.Compare):
        cond = _COMPARE[type(node.ops[0])](_build(node.left, params), _build(node.comparators[0], params))
        return sp.Piecewise((1, cond), (0, True))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        args = [_build(a, params) for a in node.args]
        if name in BASIC:
            return BASIC[name](*args)
        if name in CATALOGUE:
            return CATALOGUE[name](*args)
        return sp.Function(name)(*args)  # a catalogue entry without a closed form here: named only
    raise ValueError(f"unexpected node {type(node).__name__}")


@dataclass(frozen=True)
class Symbolic:
    latex: str                     # f(x), without the "f(x) =" head
    derivative_latex: str | None   # f'(x), or None when sympy cannot derive it
    note: str                      # why there is no symbolic derivative ("" when there is one)
    expression: sp.Expr
    derivative: sp.Expr | None


def symbolic(source: str, params: tuple[str, ...] = ()) -> Symbolic:
    """LaTeX of a custom formula and of its derivative; InputError if the formula is refused."""
    parsed = expr_mod.parse_expression(source, params)  # the allow-list check, before sympy sees anything
    return _symbolic(parsed.source, parsed.params)


@memo(maxsize=256)
def _symbolic(source: str, params: tuple[str, ...]) -> Symbolic:
    tree = ast.parse(source, mode="eval")
    f = _build(tree.body, set(params))
    latex = sp.latex(f)
    named = sorted({type(fn).__name__ for fn in f.atoms(sp.core.function.AppliedUndef)})
    if named:
        return Symbolic(latex, None, f"no symbolic derivative: {', '.join(named)} has no closed form here",
                        f, None)
    d = sp.diff(f, X)
    if d.has(sp.Derivative, sp.Subs):
        return Symbolic(latex, None, "sympy could not derive it symbolically", f, None)
    return Symbolic(latex, sp.latex(d), "", f, d)


def evaluate(e: sp.Expr, x: float, params: dict[str, float] | None = None) -> float:
    """e at x (and parameter values) as a float, by substitution (for checks; no code generation)."""
    subs = {X: x, **{sp.Symbol(k, real=True): v for k, v in (params or {}).items()}}
    value = complex(e.subs(subs).evalf())
    return value.real if abs(value.imag) < 1e-12 else math.nan
