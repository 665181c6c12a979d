"""Curves f, f', f'' by autograd, and the properties the gallery tables.

Derivatives always come from autograd: f' by one backward pass, f'' by differentiating that graph
again (double backward).  Everything is computed in float64 so that finite-difference checks and the
discontinuity search below have room to work.

Where a derivative does not exist (f'' at ReLU's corner, f' where Hardshrink jumps) autograd still
returns torch's convention value; we locate the true jumps by bisection and report those grid points
as undefined (NaN here, null in JSON) instead of a made-up number.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from actviz import limits
from actviz.choice import ActivationChoice
from actviz.errors import InputError

Tensor = torch.Tensor

X_LIMIT = 1000.0
MIN_POINTS = 11
MAX_POINTS = 20001
DEFAULT_POINTS = 1001

# Relative size of a jump we call a discontinuity.  Softplus's switch to x at beta*x = threshold
# leaves a 2e-9 step that is numerical housekeeping, not a property of the function.
_JUMP_RTOL = 1e-6
_MAX_CANDIDATES = 64


def derivatives(fn, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(f(x), f'(x), f''(x)) for an element-wise ``fn``, via backward and double backward."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        if not y.requires_grad:  # f does not depend on x at all
            zeros = torch.zeros_like(x)
            return y.detach(), zeros, zeros.clone()
        (dy,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        if dy.requires_grad:
            (d2y,) = torch.autograd.grad(dy.sum(), x, allow_unused=True, materialize_grads=True)
        else:  # piecewise-linear f: autograd's f' is constant in x
            d2y = torch.zeros_like(x)
    # Some ops (abs, sign) return an efficient ZeroTensor as a derivative; it cannot become numpy.
    dy, d2y = (torch.zeros_like(x) + t if t._is_zerotensor() else t for t in (dy, d2y))
    return y.detach(), dy.detach(), d2y.detach()


def check_range(xmin: Any, xmax: Any, points: Any) -> tuple[float, float, int]:
    """Validated (xmin, xmax, points); InputError with the allowed ranges otherwise."""
    from actviz.activations import parse_number

    lo = parse_number(xmin, "xmin")
    hi = parse_number(xmax, "xmax")
    n = parse_number(points, "points")
    if not (-X_LIMIT <= lo < hi <= X_LIMIT):
        raise InputError(f"the x-range must satisfy -{X_LIMIT:g} <= xmin < xmax <= {X_LIMIT:g} "
                         f"(got xmin={lo:g}, xmax={hi:g})")
    top = min(MAX_POINTS, int(limits.current().max_curve_points))
    if n != int(n) or not MIN_POINTS <= n <= top:
        raise InputError(f"points must be a whole number from {MIN_POINTS} to {top} (got {n:g})")
    return lo, hi, int(n)


@dataclass
class Curve:
    choice: ActivationChoice
    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray
    d2y: np.ndarray  # NaN where f'' is undefined
    jumps: dict[int, list[float]] = field(default_factory=dict)  # derivative order -> x of jumps

    @property
    def label(self) -> str:
        return self.choice.label

    def to_json(self) -> dict[str, Any]:
        return {"name": self.choice.name, "label": self.label, "params": self.choice.param_dict,
                "x": _nullable(self.x), "y": _nullable(self.y), "dy": _nullable(self.dy),
                "d2y": _nullable(self.d2y)}


def _nullable(a: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in a.tolist()]


def _find_jumps(fn, x: np.ndarray, values: tuple[np.ndarray, ...]) -> dict[int, list[float]]:
    """x positions where f (order 0), f' (1) or f'' (2) has a jump, found by bisection.

    Candidates are grid cells whose change is much larger than both neighbours'; each is halved
    until it is ~1e-13 wide.  A continuous function's change over such a cell vanishes, a jump's
    does not.  Removable points (torch's convention value at a single point, e.g. Softshrink's
    f'(0) = 0 when lambda = 0) are not jumps: the limits on both sides agree.
    """
    lo_list, hi_list, order_list = [], [], []
    for order, g in enumerate(values):
        d = np.abs(np.diff(g))
        finite = np.isfinite(d)
        if not finite.any():
            continue
        scale = 1.0 + float(np.nanmax(np.abs(g[np.isfinite(g)]))) if np.isfinite(g).any() else 1.0
        left = np.concatenate([[0.0], d[:-1]])
        right = np.concatenate([d[1:], [0.0]])
        neighbours = np.fmax(np.nan_to_num(left), np.nan_to_num(right))
        cand = finite & (d > _JUMP_RTOL * scale) & (d > 3.0 * neighbours)
        idx = np.flatnonzero(cand)
        if idx.size > _MAX_CANDIDATES:
            idx = idx[np.argsort(-d[idx])[:_MAX_CANDIDATES]]
        lo_list.append(x[idx])
        hi_list.append(x[idx + 1])
        order_list.append(np.full(idx.size, order))
        # A grid point exactly on a jump where torch's convention value lies between the one-sided
        # limits (abs'(0) = 0, maximum's tie gradient 1/2, softsign''(0) = 0) splits the jump over
        # two cells, neither of which stands out from the other: look at pairs of cells too.
        if d.size >= 2:
            d2 = np.abs(g[2:] - g[:-2])
            outer = np.fmax(np.nan_to_num(np.concatenate([[0.0], d[:-2]])),
                            np.nan_to_num(np.concatenate([d[2:], [0.0]])))
            pair = (np.isfinite(d2) & (d2 > _JUMP_RTOL * scale) & (d2 > 3.0 * outer)
                    & ~cand[:-1] & ~cand[1:])
            idx2 = np.flatnonzero(pair)
            if idx2.size > _MAX_CANDIDATES:
                idx2 = idx2[np.argsort(-d2[idx2])[:_MAX_CANDIDATES]]
            lo_list.append(x[idx2])
            hi_list.append(x[idx2 + 2])
            order_list.append(np.full(idx2.size, order))
    if not lo_list or sum(a.size for a in lo_list) == 0:
        return {}
    lo = np.concatenate(lo_list)
    hi = np.concatenate(hi_list)
    orders = np.concatenate(order_list)
    rows = np.arange(orders.size)

    def g_at(points: np.ndarray) -> np.ndarray:
        out = derivatives(fn, torch.from_numpy(points))
        stacked = np.stack([t.numpy() for t in out])
        return stacked[orders, rows]

    g_lo, g_hi = g_at(lo), g_at(hi)
    for _ in range(60):
        if np.all(hi - lo <= 1e-13 * (1.0 + np.abs(lo))):
            break
        mid = 0.5 * (lo + hi)
        g_mid = g_at(mid)
        left_bigger = np.abs(g_mid - g_lo) >= np.abs(g_hi - g_mid)
        hi = np.where(left_bigger, mid, hi)
        g_hi = np.where(left_bigger, g_mid, g_hi)
        lo = np.where(left_bigger, lo, mid)
        g_lo = np.where(left_bigger, g_lo, g_mid)
    centre = 0.5 * (lo + hi)
    delta = 1e-9 * (1.0 + np.abs(centre))
    g_left, g_right = g_at(centre - delta), g_at(centre + delta)
    scale = 1.0 + np.abs(g_left) + np.abs(g_right)
    is_jump = (np.abs(g_hi - g_lo) > _JUMP_RTOL * scale) & (np.abs(g_right - g_left) > _JUMP_RTOL * scale)
    result: dict[int, list[float]] = {}
    for order, c in zip(orders[is_jump], centre[is_jump]):
        result.setdefault(int(order), []).append(_snap(float(c)))
    for order in result:
        result[order] = sorted(set(result[order]))
    return result


def _snap(c: float) -> float:
    """Round a bisection result (good to ~1e-13) so that 0.4999999999999 reads as 0.5."""
    return round(c, 9) + 0.0


def _undefined_mask(x: np.ndarray, jumps: dict[int, list[float]], orders: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(x.shape, dtype=bool)
    for order in orders:
        for c in jumps.get(order, []):
            mask |= np.abs(x - c) <= 1e-9 * (1.0 + abs(c))
    return mask


def compute_curve(choice: ActivationChoice, xmin: float = -5.0, xmax: float = 5.0,
                  points: int = DEFAULT_POINTS) -> Curve:
    """f, f', f'' of ``choice`` on ``points`` evenly spaced x in [xmin, xmax]."""
    xmin, xmax, points = check_range(xmin, xmax, points)
    return _compute_curve_cached(choice, xmin, xmax, points)


@lru_cache(maxsize=128)
def _compute_curve_cached(choice: ActivationChoice, xmin: float, xmax: float, points: int) -> Curve:
    fn = choice.function()
    # numpy's linspace (unlike torch's) puts grid points such as x = 0 exactly where they belong, so
    # f'(0) shows torch's convention value rather than f' at +-1e-17.
    x_t = torch.from_numpy(np.linspace(xmin, xmax, points))
    y, dy, d2y = _evaluate_guarded(choice, fn, x_t)
    x = x_t.numpy()
    if not np.isfinite(y).any():
        raise InputError(f"{choice.label} is not finite anywhere on [{xmin:g}, {xmax:g}]; "
                         "check the formula or the x-range")
    with np.errstate(all="ignore"):
        jumps = _find_jumps(fn, x, (y, dy, d2y))
    dy[_undefined_mask(x, jumps, (0,))] = np.nan
    d2y[_undefined_mask(x, jumps, (0, 1))] = np.nan
    return Curve(choice, x, y, dy, d2y, jumps)


def _evaluate_guarded(choice: ActivationChoice, fn, x: Tensor, keep_inf: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f, f', f'' as float64 arrays, NaN wherever a value is not finite or f itself is undefined.

    ``keep_inf`` leaves overflowing f values as +-inf (the range estimate needs to see them).
    """
    try:
        y, dy, d2y = (t.numpy().copy() for t in derivatives(fn, x))
    except InputError:
        raise
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InputError(f"{choice.label} could not be evaluated: {str(exc)[:120]}") from None
    undefined = ~np.isfinite(y)
    for a in (dy, d2y):
        a[np.isnan(a) | (undefined & ~np.isinf(y)) | (np.isinf(a) & (not keep_inf))] = np.nan
    if not keep_inf:
        y[undefined] = np.nan
    return y, dy, d2y


# --- properties ------------------------------------------------------------------------------------

def _global_grid() -> np.ndarray:
    inner = np.linspace(-30.0, 30.0, 6001)
    outer = np.logspace(math.log10(30.0), math.log10(X_LIMIT), 200)
    return np.unique(np.round(np.concatenate([-outer, inner, outer]), 12))


_GRID = _global_grid()
_NORMAL_X = np.linspace(-12.0, 12.0, 4801)
_NORMAL_W = np.exp(-0.5 * _NORMAL_X**2) / math.sqrt(2 * math.pi) * (_NORMAL_X[1] - _NORMAL_X[0])


@dataclass(frozen=True)
class Properties:
    output_min: float
    output_max: float
    output_range: str
    monotonic: str
    zero_centred: bool | None
    mean_normal: float  # E[f(z)], z ~ N(0, 1)
    smoothness: str
    saturation: str  # "both", "left", "right" or "none"
    dy_at_0: float
    max_abs_dy: float
    max_abs_dy_at: str
    argmax_abs_dy: float
    jumps: dict[int, list[float]]

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"output_min": num(self.output_min), "output_max": num(self.output_max),
                "output_range": self.output_range, "monotonic": self.monotonic,
                "zero_centred": self.zero_centred, "mean_normal": num(self.mean_normal),
                "smoothness": self.smoothness, "saturation": self.saturation,
                "left_saturating": self.saturation in ("left", "both"),
                "right_saturating": self.saturation in ("right", "both"),
                "dy_at_0": num(self.dy_at_0), "max_abs_dy": num(self.max_abs_dy),
                "max_abs_dy_at": self.max_abs_dy_at, "argmax_abs_dy": num(self.argmax_abs_dy),
                "discontinuities": {"f": self.jumps.get(0, []), "f'": self.jumps.get(1, []),
                                    "f''": self.jumps.get(2, [])}}


@lru_cache(maxsize=256)
def properties(choice: ActivationChoice) -> Properties:
    """Properties over the whole real line (sampled on [-1000, 1000], dense on [-30, 30])."""
    fn = choice.function()
    x = _GRID
    y, dy, d2y = _evaluate_guarded(choice, fn, torch.from_numpy(x), keep_inf=True)
    # Smoothness is judged on |x| <= 100: every catalogue corner lies there, and further out naive
    # custom formulas (log(1 + exp(x))) show float64 overflow steps that are not the function's.
    near = np.abs(x) <= 100.0
    with np.errstate(all="ignore"):
        jumps = _find_jumps(fn, x[near], (np.where(np.isfinite(y), y, np.nan)[near], dy[near], d2y[near]))
    finite = np.isfinite(y)
    if not finite.any():
        raise InputError(f"{choice.label} is not finite anywhere on [-{X_LIMIT:g}, {X_LIMIT:g}]")

    lo_val, lo_txt = _bound(x, y, finite, lower=True)
    hi_val, hi_txt = _bound(x, y, finite, lower=False)

    mono = _monotonic(y[finite], x[finite])
    mean, zc = _zero_centred(fn)

    if 0 in jumps:
        smooth = "discontinuous"
    elif 1 in jumps:
        smooth = "C0"
    elif 2 in jumps:
        smooth = "C1"
    else:
        smooth = "C2+"

    saturation = _saturation(x, dy)
    zero_idx = int(np.argmin(np.abs(x)))
    max_abs, where_txt, arg = _max_slope(fn, x, dy, jumps)
    return Properties(lo_val, hi_val, f"{lo_txt}, {hi_txt}", mono, zc, mean, smooth, saturation,
                      float(dy[zero_idx]), max_abs, where_txt, arg, jumps)


def _bound(x: np.ndarray, y: np.ndarray, finite: np.ndarray, lower: bool) -> tuple[float, str]:
    """The inf (or sup) of f, and its interval bracket: attained within |x| <= 10 or approached."""
    sign = -1.0 if lower else 1.0
    s = sign * y
    if (~finite & (np.isinf(y) & (np.sign(y) == sign))).any():
        return sign * math.inf, "(-∞" if lower else "∞)"
    s_f = np.where(finite, s, -np.inf)
    top = float(s_f.max())
    # Unbounded: still growing at an edge of the grid (value at |x| = 1000 well above |x| = 100).
    for edge in (-X_LIMIT, X_LIMIT):
        at_edge = float(s_f[np.argmin(np.abs(x - edge))])
        at_100 = float(s_f[np.argmin(np.abs(x - edge / 10))])
        if at_edge > 0.0 and at_edge >= top and at_100 < 0.5 * at_edge:
            return sign * math.inf, "(-∞" if lower else "∞)"
    # float64 rounds tanh(x) to exactly 1 beyond x ~ 19, so only |x| <= 10 counts as attaining.
    attained = bool((s_f[np.abs(x) <= 10.0 + 1e-9] >= top).any())
    if not attained:
        top = _limit_at_edge(x, s_f, top)
    value = sign * top
    txt = _fmt(value)
    if lower:
        return value, ("[" if attained else "(") + txt
    return value, txt + ("]" if attained else ")")


def _limit_at_edge(x: np.ndarray, s: np.ndarray, top: float) -> float:
    """A bound still being approached at |x| = 1000, extrapolated as s = L - c/|x| (Softsign: 1, not 0.999)."""
    i = int(np.argmax(s))
    if abs(x[i]) < X_LIMIT - 1e-9:
        return top
    far, near = x[i], x[int(np.argmin(np.abs(x - x[i] / 2)))]
    s_far, s_near = s[i], s[int(np.argmin(np.abs(x - near)))]
    limit = (abs(far) * s_far - abs(near) * s_near) / (abs(far) - abs(near))
    return limit if top < limit < top + 0.01 * (1 + abs(top)) else top


def _fmt(v: float) -> str:
    if abs(v) < 5e-13:
        return "0"
    return f"{v:.4g}"


def _monotonic(y: np.ndarray, x: np.ndarray) -> str:
    """'increasing' means strictly so on |x| <= 10, where float64 can still tell values apart."""
    step = np.diff(y)
    tol = 1e-12 * (1.0 + np.abs(y[1:]))
    core = np.abs(x[1:]) <= 10.0
    if (step >= -tol).all():
        return "increasing" if (step[core] > 0).all() else "non-decreasing"
    if (step <= tol).all():
        return "decreasing" if (step[core] < 0).all() else "non-increasing"
    return "no"


def _zero_centred(fn) -> tuple[float, bool | None]:
    with torch.no_grad():
        f = fn(torch.from_numpy(_NORMAL_X)).numpy()
    if not np.isfinite(f).all():
        return math.nan, None
    mean = float((_NORMAL_W * f).sum())
    var = float((_NORMAL_W * (f - mean) ** 2).sum())
    return mean, abs(mean) <= 0.1 * math.sqrt(max(var, 0.0)) + 1e-12


def _saturation(x: np.ndarray, dy: np.ndarray) -> str:
    def saturates(edge: float) -> bool:
        far = float(np.abs(dy[np.argmin(np.abs(x - edge))]))
        near = float(np.abs(dy[np.argmin(np.abs(x - edge / 10))]))
        if not math.isfinite(far):
            return False
        # f' -> 0: tiny at the edge and still shrinking (a constant small slope is not saturation).
        return far < 1e-9 or (far < 1e-3 and far <= 0.5 * near)

    left, right = saturates(-X_LIMIT), saturates(X_LIMIT)
    return {(True, True): "both", (True, False): "left", (False, True): "right"}.get((left, right), "none")


def _max_slope(fn, x: np.ndarray, dy: np.ndarray, jumps: dict[int, list[float]]
               ) -> tuple[float, str, float]:
    """sup |f'| and where it is reached, as text ('x = 0', '(0, ∞)', 'x → 3⁻', 'x → -∞')."""
    if np.isinf(dy).any():
        return math.inf, "unbounded", math.nan
    abs_dy = np.where(np.isfinite(dy), np.abs(dy), -np.inf)
    top = float(abs_dy.max())
    for edge in (0, len(x) - 1):  # still growing at |x| = 1000: f' is unbounded
        tenth = int(np.argmin(np.abs(x - x[edge] / 10)))
        if abs_dy[edge] >= top and abs_dy[tenth] < 0.5 * abs_dy[edge]:
            return math.inf, "unbounded", math.nan
    # At a jump of f' the sup can be a one-sided limit that no grid point reaches (Hardswish: 1.5
    # as x -> 3 from the left).
    corners = sorted(set(jumps.get(0, []) + jumps.get(1, [])))
    if corners:
        c = np.array(corners)
        delta = 1e-9 * (1.0 + np.abs(c))
        _, d_left, _ = derivatives(fn, torch.from_numpy(c - delta))
        _, d_right, _ = derivatives(fn, torch.from_numpy(c + delta))
        sides = np.stack([np.abs(d_left.numpy()), np.abs(d_right.numpy())])
        sides = np.where(np.isfinite(sides), sides, -np.inf)
        if sides.max() > top * (1 + 1e-6) + 1e-12:
            side, i = np.unravel_index(int(np.argmax(sides)), sides.shape)
            return float(sides.max()), f"x → {_fmt(c[i])}{'⁻' if side == 0 else '⁺'}", float(c[i])

    hit = abs_dy >= top - 1e-9 * (1.0 + abs(top))
    arg = float(x[hit][np.argmin(np.abs(x[hit]))])
    idx = np.flatnonzero(hit)
    runs: list[tuple[int, int]] = []
    first = prev = int(idx[0])
    for i in idx[1:]:
        if i != prev + 1:
            runs.append((first, prev))
            first = int(i)
        prev = int(i)
    runs.append((first, prev))
    exact_inside = bool((abs_dy[np.abs(x) <= 10.0] == top).any())

    def corner_between(a: float, b: float) -> float | None:
        for c in corners:
            if a - 1e-12 <= c <= b + 1e-12:
                return c
        return None

    parts = []
    for a, b in runs[:4]:
        at_left_edge, at_right_edge = a == 0, b == len(x) - 1
        if (at_left_edge or at_right_edge) and not exact_inside:
            parts.append("x → -∞" if at_left_edge else "x → ∞")
            continue
        if a == b:
            parts.append(f"x = {_fmt(x[a])}")
            continue
        if at_left_edge:
            left = "(-∞"
        else:
            c = corner_between(x[a - 1], x[a])
            left = f"({_fmt(c)}" if c is not None else f"[{_fmt(x[a])}"
        if at_right_edge:
            right = "∞)"
        else:
            c = corner_between(x[b], x[b + 1])
            right = f"{_fmt(c)})" if c is not None else f"{_fmt(x[b])}]"
        parts.append(f"{left}, {right}")
    if len(runs) > 4:
        parts.append("…")
    return top, " ∪ ".join(parts), arg


# --- cost ----------------------------------------------------------------------------------------

_COST_N = 1 << 20
_COST_INNER = 5


def measure_costs(choices: list[ActivationChoice], repeats: int = 7) -> dict[ActivationChoice, float]:
    """Forward time per element of each choice relative to ReLU, measured side by side now.

    float32 on 2^20 elements.  Every sample of a choice is paired with a ReLU sample taken just
    before it, and the median of those ratios is reported, so a busy machine slows both sides of
    each ratio alike.
    """
    from actviz.choice import choose

    x = torch.randn(_COST_N, generator=torch.Generator().manual_seed(0))
    relu = choose("relu").function()
    fns = {c: c.function() for c in choices}

    def sample(fn) -> float:
        t0 = time.perf_counter()
        for _ in range(_COST_INNER):
            fn(x)
        return (time.perf_counter() - t0) / _COST_INNER

    ratios: dict[ActivationChoice, list[float]] = {c: [] for c in choices}
    with torch.no_grad():
        for fn in [relu, *fns.values()]:
            fn(x)  # warm-up
        for _ in range(repeats):
            for c, fn in fns.items():
                reference = sample(relu)
                ratios[c].append(sample(fn) / reference)
    return {c: float(np.median(r)) for c, r in ratios.items()}


def saturated_intervals(x: np.ndarray, dy: np.ndarray, eps: float) -> list[tuple[float, float]]:
    """Maximal x-intervals of the grid where |f'| < eps (the saturated zone the gallery shades)."""
    if eps <= 0:
        return []
    flat = np.isfinite(dy) & (np.abs(dy) < eps)
    idx = np.flatnonzero(flat)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    return [(float(x[a]), float(x[b])) for a, b in zip(starts, ends)]
