"""Custom activations typed by users: a strict allow-list evaluator over torch tensors.

Expressions are untrusted (they arrive from a text box, a shared URL, or the CLI).  We parse them
with :mod:`ast` and accept only a tiny grammar: the variable ``x``, declared parameter names, the
constants ``pi`` and ``e``, numbers, ``+ - * / **``, unary minus, a single comparison (giving a 0/1
mask), and calls to a fixed table of element-wise functions.  The checked tree is compiled into
nested Python closures over torch operations; nothing is ever passed to ``eval``/``exec``/``compile``.

Why not simpleeval: its default operators guard ``**`` and ``*`` with truth tests on the operands
(``safe_power``/``safe_mult``), which raise "Boolean value of Tensor ... is ambiguous" for tensors,
so ``x**2`` or ``x*x`` fail.  Every value here is a tensor, so Python's arbitrary-precision integers
(the usual ``9**9**9`` hang) never appear either; the static limits below just give a clear message.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from actviz import activations, limits, validate
from actviz.errors import InputError

Tensor = torch.Tensor

MAX_LENGTH = limits.MAX_EXPR_LENGTH
MAX_NODES = limits.MAX_EXPR_NODES
MAX_DEPTH = limits.MAX_EXPR_DEPTH
MAX_EXPONENT = limits.MAX_EXPR_EXPONENT
MAX_CONSTANT = limits.MAX_EXPR_CONSTANT
MAX_PARAMS = limits.MAX_EXPR_PARAMS
MAX_PARAM_VALUE = limits.MAX_EXPR_PARAM_VALUE

_PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


class ExpressionError(InputError):
    """The expression was refused; the message says why and, where possible, where."""


@dataclass(frozen=True)
class _Function:
    fn: Callable[..., Tensor]
    min_args: int
    max_args: int
    grows_exponentially: bool = False
    # Catalogue calls take their parameters (every argument after x) as numbers, not curves.
    constant_params: bool = False


def _step(x: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)


def _where(cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(cond > 0, a, b)


def _catalogue_function(act: activations.Activation) -> _Function:
    names = [p.name for p in act.params]

    def call(x: Tensor, *args: Tensor) -> Tensor:
        values = act.defaults()
        for name, value in zip(names, args):
            # The activation's own range check applies to values written in the expression too.
            values[name] = float(value.reshape(-1)[0]) if value.numel() else math.nan
        return act.fn(x, **act.resolve_params(values))

    return _Function(call, 1, 1 + len(names), constant_params=True)


FUNCTIONS: dict[str, _Function] = {
    "exp": _Function(torch.exp, 1, 1, grows_exponentially=True),
    "expm1": _Function(torch.expm1, 1, 1, grows_exponentially=True),
    "sinh": _Function(torch.sinh, 1, 1, grows_exponentially=True),
    "cosh": _Function(torch.cosh, 1, 1, grows_exponentially=True),
    "log": _Function(torch.log, 1, 1),
    "log1p": _Function(torch.log1p, 1, 1),
    "sqrt": _Function(torch.sqrt, 1, 1),
    "abs": _Function(torch.abs, 1, 1),
    "sin": _Function(torch.sin, 1, 1),
    "cos": _Function(torch.cos, 1, 1),
    "atan": _Function(torch.atan, 1, 1),
    "erf": _Function(torch.erf, 1, 1),
    "step": _Function(_step, 1, 1),
    "clamp": _Function(lambda x, lo, hi: torch.minimum(torch.maximum(x, lo), hi), 3, 3),
    "min": _Function(torch.minimum, 2, 2),
    "max": _Function(torch.maximum, 2, 2),
    "where": _Function(_where, 3, 3),
    "softplus": _Function(lambda x: F.softplus(x), 1, 1),
}
BASIC_FUNCTIONS = tuple(FUNCTIONS)
for _act in activations.REGISTRY.values():
    if not _act.gated:  # a formula is element-wise in x; gated units take two inputs
        FUNCTIONS.setdefault(_act.name, _catalogue_function(_act))

RESERVED = {"x"} | set(CONSTANTS) | set(FUNCTIONS)

_BINARY = {
    ast.Add: torch.add,
    ast.Sub: torch.sub,
    ast.Mult: torch.mul,
    ast.Div: torch.div,
    ast.Pow: torch.pow,
}
_COMPARE = {ast.Lt: torch.lt, ast.LtE: torch.le, ast.Gt: torch.gt, ast.GtE: torch.ge}
_OPERATOR_NAMES = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
                   ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}

# Env maps names to tensors; each compiled node is a function of it.
Env = Mapping[str, Tensor]
Compiled = Callable[[Env], Tensor]


@dataclass(frozen=True)
class Expression:
    """A checked custom activation.  Call it like a catalogue ``fn``: ``expr(x, beta=1.0)``."""

    source: str
    params: tuple[str, ...]
    _compiled: Compiled

    def __call__(self, x: Tensor, **params: float | Tensor) -> Tensor:
        env: dict[str, Tensor] = {"x": x}
        for name in self.params:
            if name not in params:
                raise ExpressionError(f"parameter {name!r} has no value")
            value = params[name]
            env[name] = value if isinstance(value, Tensor) else torch.tensor(float(value), dtype=x.dtype)
        for name, value in CONSTANTS.items():
            env[name] = torch.tensor(value, dtype=x.dtype)
        out = self._compiled(env)
        # A constant expression (or one that ignores x) still has to be a curve over x.
        return out if out.shape == x.shape else out.expand_as(x) + 0 * x


def _where_in(source: str, node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    if col is None:
        return ""
    snippet = source[col:col + 20]
    return f" at column {col + 1} ({snippet!r})"


class _Checker:
    """Walks the AST once, refusing anything outside the grammar, and builds the closures."""

    def __init__(self, source: str, params: set[str]):
        self.source = source
        self.params = params
        self.used_params: set[str] = set()
        self.nodes = 0

    def refuse(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(message + _where_in(self.source, node))

    def compile(self, node: ast.AST, depth: int = 0, inside_exp: bool = False) -> Compiled:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"expression is too complex (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
        nxt = depth + 1

        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.refuse(node, f"only numbers are allowed, not {type(value).__name__} {value!r:.20}")
            # abs() first: an integer literal of hundreds of digits (0xfff…) has no float.
            if abs(value) > MAX_CONSTANT or not math.isfinite(float(value)):
                raise self.refuse(node, f"numbers must be finite and at most {MAX_CONSTANT:g} in size")
            constant = float(value)
            return lambda env: torch.tensor(constant, dtype=env["x"].dtype)

        if isinstance(node, ast.Name):
            name = node.id
            if name == "x" or name in CONSTANTS:
                return lambda env: env[name]
            if name in self.params:
                self.used_params.add(name)
                return lambda env: env[name]
            if name in FUNCTIONS:
                raise self.refuse(node, f"{name} is a function: call it, e.g. {name}(x)")
            raise self.refuse(node, f"unknown name {name[:20]!r}; use x, a declared parameter "
                                    f"(e.g. {name[:20]}=1.0), pi or e")

        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                inner = self.compile(node.operand, nxt, inside_exp)
                return lambda env: torch.neg(inner(env))
            if isinstance(node.op, ast.UAdd):
                return self.compile(node.operand, nxt, inside_exp)
            raise self.refuse(node, "only unary minus and plus are allowed")

        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op not in _BINARY:
                sym = _OPERATOR_NAMES.get(op, op.__name__)
                raise self.refuse(node, f"operator {sym} is not allowed; use + - * / **")
            if op is ast.Pow:
                self._check_power(node)
                exponent_is_constant = _constant_value(node.right) is not None
                grows = not exponent_is_constant
                if grows and inside_exp:
                    raise self.refuse(node, "a power with a variable exponent inside exp() overflows; "
                                            "nested exponentials are not allowed")
                left = self.compile(node.left, nxt, inside_exp or grows)
                right = self.compile(node.right, nxt, inside_exp or grows)
            else:
                left = self.compile(node.left, nxt, inside_exp)
                right = self.compile(node.right, nxt, inside_exp)
            fn = _BINARY[op]
            return lambda env: fn(left(env), right(env))

        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise self.refuse(node, "only a single comparison with <, <=, > or >= is allowed")
            left = self.compile(node.left, nxt, inside_exp)
            right = self.compile(node.comparators[0], nxt, inside_exp)
            cmp = _COMPARE[type(node.ops[0])]
            return lambda env: cmp(left(env), right(env)).to(env["x"].dtype)

        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise self.refuse(node, "only plain function names can be called (no attributes or methods)")
            name = node.func.id
            spec = FUNCTIONS.get(name)
            if spec is None:
                raise self.refuse(node, f"unknown function {name[:30]!r}; allowed: {', '.join(BASIC_FUNCTIONS)} "
                                        "and every element-wise catalogue name (relu, gelu, …)")
            if node.keywords:
                raise self.refuse(node, f"{name}() takes positional arguments only")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise self.refuse(node, "argument unpacking (*) is not allowed")
            if not spec.min_args <= len(node.args) <= spec.max_args:
                want = (str(spec.min_args) if spec.min_args == spec.max_args
                        else f"{spec.min_args} to {spec.max_args}")
                raise self.refuse(node, f"{name}() takes {want} argument(s), got {len(node.args)}")
            if spec.constant_params and any(isinstance(n, ast.Name) and n.id == "x"
                                            for a in node.args[1:] for n in ast.walk(a)):
                raise self.refuse(node, f"{name}()'s parameters must be numbers or declared "
                                        f"parameters, not depend on x")
            if spec.grows_exponentially and inside_exp:
                raise self.refuse(node, f"{name}() inside another exponential overflows for almost "
                                        f"every x; nested exponentials are not allowed")
            args = [self.compile(a, nxt, inside_exp or spec.grows_exponentially) for a in node.args]
            fn = spec.fn
            return lambda env: fn(*(a(env) for a in args))

        kind = type(node).__name__
        friendly = {"Attribute": "attribute access (.)", "Subscript": "indexing ([])",
                    "Lambda": "lambda", "IfExp": "if/else", "BoolOp": "and/or",
                    "ListComp": "comprehensions", "GeneratorExp": "comprehensions",
                    "SetComp": "comprehensions", "DictComp": "comprehensions",
                    "JoinedStr": "strings", "NamedExpr": "assignment (:=)",
                    "List": "lists", "Tuple": "tuples", "Dict": "dicts", "Set": "sets",
                    "Starred": "unpacking (*)", "Await": "await", "Yield": "yield",
                    "Slice": "slices"}.get(kind, kind)
        raise self.refuse(node, f"{friendly} is not allowed in an activation expression")

    def _check_power(self, node: ast.BinOp) -> None:
        for sub in ast.walk(node.right):
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Pow):
                raise self.refuse(node, "power towers (a ** b ** c) are not allowed")
        exponent = _constant_value(node.right)
        if exponent is not None and abs(exponent) > MAX_EXPONENT:
            raise self.refuse(node, f"exponents are limited to at most {MAX_EXPONENT:g} in size")


def _constant_value(node: ast.AST) -> float | None:
    """The value of a number or a negated number, else None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:
            return sign * float(node.value)
        except OverflowError:
            return math.inf
    return None


def check_param_names(names: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not _PARAM_NAME.match(name):
            raise ExpressionError(f"parameter name {str(name)[:20]!r} must be a letter followed by up "
                                  "to 15 letters, digits or underscores")
        if name in RESERVED:
            raise ExpressionError(f"{name!r} is reserved (x, pi, e and function names); pick another "
                                  "parameter name")
        if name not in out:
            out.append(name)
    if len(out) > MAX_PARAMS:
        raise ExpressionError(f"at most {MAX_PARAMS} parameters are allowed")
    return tuple(out)


def parse_expression(source: str, params: Iterable[str] = ()) -> Expression:
    """Check ``source`` and return a callable :class:`Expression`, or raise ExpressionError."""
    if not isinstance(source, str):
        raise ExpressionError("the expression must be text")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is too long ({len(source)} characters; the limit is {MAX_LENGTH})")
    text = source.strip()
    if not text:
        raise ExpressionError("the expression is empty; type a formula in x, e.g. x * sigmoid(x)")
    if any(ch in text for ch in "\n\r;\x00"):
        raise ExpressionError("write a single expression on one line (no newlines, ';' or NUL)")
    declared = check_param_names(params)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"not a valid formula{where}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression could not be read (too deeply nested or malformed)") from None
    checker = _Checker(text, set(declared))
    compiled = checker.compile(tree.body)
    unused = [p for p in declared if p not in checker.used_params]
    if unused:
        raise ExpressionError(f"parameter(s) {', '.join(unused)} are declared but not used in the formula; "
                              "remove them or use them")
    return Expression(text, declared, compiled)


def resolve_expression_params(expr: Expression, given: Mapping[str, object] | None) -> dict[str, float]:
    """Values for every declared parameter, each finite and within ±MAX_PARAM_VALUE."""
    given = dict(given or {})
    unknown = set(given) - set(expr.params)
    if unknown:
        raise ExpressionError(f"parameter(s) {', '.join(sorted(unknown))} are not used by the expression")
    values: dict[str, float] = {}
    for name in expr.params:
        if name not in given:
            raise ExpressionError(f"parameter {name!r} needs a value, e.g. {name}=1.0")
        value = validate.number(given[name], name)
        if abs(value) > MAX_PARAM_VALUE:
            raise ExpressionError(f"{name}={value:g} is out of range; use |{name}| <= {MAX_PARAM_VALUE:g}")
        values[name] = value
    return values


def parse_param_assignments(text: str) -> dict[str, float]:
    """Parse ``"beta=1.0, gamma=-2"`` (the UI's parameter box) into a dict, checking names and values."""
    result: dict[str, float] = {}
    if text is None or not str(text).strip():
        return result
    if len(text) > 400:
        raise ExpressionError("the parameter list is too long")
    for part in re.split(r"[,\s;]+", str(text).strip()):
        if not part:
            continue
        if "=" not in part:
            raise ExpressionError(f"write parameters as name=value, e.g. beta=1.0 (got {part[:20]!r})")
        name, _, raw = part.partition("=")
        (name,) = check_param_names([name.strip()])
        value = validate.number(raw, name)
        if abs(value) > MAX_PARAM_VALUE:
            raise ExpressionError(f"{name}={value:g} is out of range; use |{name}| <= {MAX_PARAM_VALUE:g}")
        result[name] = value
    check_param_names(result)
    return result


def free_names(source: str) -> list[str]:
    """Names in ``source`` that would have to be parameters (not x, constants or functions).

    Used by the gallery to offer a slider for each parameter a user writes.  Returns [] for text
    that does not parse; ``parse_expression`` reports the actual problem.
    """
    if not isinstance(source, str) or len(source) > MAX_LENGTH or not source.strip():
        return []
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return []
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in RESERVED:
            if _PARAM_NAME.match(node.id) and node.id not in names:
                names.append(node.id)
    return names[:MAX_PARAMS]


def parse_param_assignments_safe(text: str) -> dict[str, float]:
    """Like ``parse_param_assignments`` but {} for invalid text (for seeding widgets)."""
    try:
        return parse_param_assignments(text)
    except InputError:
        return {}
