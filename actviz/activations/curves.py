"""Curves f, f', f'' by autograd (the properties the gallery tables are in :mod:`.properties`).

Derivatives always come from autograd: f' by one backward pass, f'' by differentiating that graph
again (double backward).  Everything is computed in float64 so that finite-difference checks and the
discontinuity search below have room to work.

Where a derivative does not exist (f'' at ReLU's corner, f' where Hardshrink jumps) autograd still
returns torch's convention value; we locate the true jumps by bisection and report those grid points
as undefined (NaN here, null in JSON) instead of a made-up number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from actviz import limits, validate
from actviz.activations.choice import ActivationChoice
from actviz.cache import memo
from actviz.errors import InputError

Tensor = torch.Tensor

X_LIMIT = limits.X_LIMIT
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
    lo = validate.number(xmin, "xmin")
    hi = validate.number(xmax, "xmax")
    n = validate.number(points, "points")
    if not (-X_LIMIT <= lo < hi <= X_LIMIT):
        raise InputError(f"the x-range must satisfy -{X_LIMIT:g} <= xmin < xmax <= {X_LIMIT:g} "
                         f"(got xmin={lo:g}, xmax={hi:g})")
    top = min(limits.MAX_CURVE_POINTS, int(limits.current().max_curve_points))
    if n != int(n) or not limits.MIN_CURVE_POINTS <= n <= top:
        raise InputError(f"points must be a whole number from {limits.MIN_CURVE_POINTS} to {top} (got {n:g})")
    return lo, hi, int(n)


@dataclass(frozen=True)
class Gap:
    """A stretch of the x-range where f is undefined (NaN or infinite), with its ends located by bisection:
    ``lo``/``hi`` are None when the gap runs to the edge of the range; ``*_closed`` says whether the end
    point itself is undefined (log(x): x <= 0; sqrt(x): x < 0; 1/x: the single point x = 0)."""

    lo: float | None
    hi: float | None
    lo_closed: bool = True
    hi_closed: bool = True

    def text(self) -> str:
        """``"undefined for x ≤ 0"``, ``"undefined at x = 0"``, ``"undefined for 1 < x < 2"``."""
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and lo == hi:
            return f"undefined at x = {lo:g}"
        if lo is None and hi is None:
            return "undefined on the whole range"
        if lo is None:
            return f"undefined for x {'≤' if self.hi_closed else '<'} {hi:g}"
        if hi is None:
            return f"undefined for x {'≥' if self.lo_closed else '>'} {lo:g}"
        return f"undefined for {lo:g} {'≤' if self.lo_closed else '<'} x {'≤' if self.hi_closed else '<'} {hi:g}"

    def to_json(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "lo_closed": self.lo_closed, "hi_closed": self.hi_closed,
                "text": self.text()}


MAX_GAPS = 8  # described gaps per curve (1/sin(x) would have many)


def _defined(fn, points: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        values = fn(torch.from_numpy(np.asarray(points, dtype=np.float64)))
    return np.isfinite(values.numpy())


def _boundary(fn, bad: float, good: float) -> tuple[float, bool]:
    """Where f stops being defined between an undefined grid point ``bad`` and a defined one ``good``:
    (the boundary, snapped, and whether f is undefined at the boundary itself)."""
    lo, hi = bad, good
    for _ in range(60):
        if abs(hi - lo) <= 1e-12 * (1.0 + abs(lo)):
            break
        mid = 0.5 * (lo + hi)
        if _defined(fn, np.array([mid]))[0]:
            hi = mid
        else:
            lo = mid
    edge = _snap(0.5 * (lo + hi))
    return edge, not bool(_defined(fn, np.array([edge]))[0])


def _poles(fn, x: np.ndarray, y: np.ndarray) -> list[Gap]:
    """Points between two grid points where f is undefined (1/x at 0 on a grid without 0): f changes sign
    across a cell with values far above the rest; bisection on the sign finds the point, kept if f is not
    finite there."""
    finite = np.isfinite(y)
    if finite.sum() < 3:
        return []
    scale = float(np.median(np.abs(y[finite]))) + 1e-12
    a, b = y[:-1], y[1:]
    cells = np.flatnonzero(np.isfinite(a) & np.isfinite(b) & (np.sign(a) * np.sign(b) < 0)
                           & (np.minimum(np.abs(a), np.abs(b)) > 10 * scale))[:MAX_GAPS]
    out = []
    for i in cells:
        lo, hi, f_lo = float(x[i]), float(x[i + 1]), float(y[i])
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            with torch.no_grad():
                f_mid = float(fn(torch.tensor([mid], dtype=torch.float64))[0])
            if not math.isfinite(f_mid) or hi - lo <= 1e-13 * (1.0 + abs(lo)):
                break
            if (f_mid < 0) == (f_lo < 0):
                lo, f_lo = mid, f_mid
            else:
                hi = mid
        c = _snap(0.5 * (lo + hi))
        if not _defined(fn, np.array([c]))[0]:
            out.append(Gap(c, c))
    return out


def find_gaps(fn, x: np.ndarray, y: np.ndarray) -> list[Gap]:
    """The stretches of the grid where f is not finite, each end located between grid points, and the
    points between grid points where it is not (see :func:`_poles`)."""
    bad = ~np.isfinite(y)
    if not bad.any():
        return _poles(fn, x, y)
    idx = np.flatnonzero(bad)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    gaps = []
    for a, b in list(zip(starts, ends))[:MAX_GAPS]:
        lo, lo_closed = (None, True) if a == 0 else _boundary(fn, float(x[a]), float(x[a - 1]))
        hi, hi_closed = (None, True) if b == len(x) - 1 else _boundary(fn, float(x[b]), float(x[b + 1]))
        gaps.append(Gap(lo, hi, lo_closed, hi_closed))
    return gaps + _poles(fn, x, np.where(bad, 0.0, y))[:MAX_GAPS - len(gaps)]


@dataclass
class Curve:
    choice: ActivationChoice
    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray
    d2y: np.ndarray  # NaN where f'' is undefined
    jumps: dict[int, list[float]] = field(default_factory=dict)  # derivative order -> x of jumps
    undefined: list[Gap] = field(default_factory=list)  # where f itself is undefined (log(x) for x <= 0)
    # (lower, upper): the values training mode can produce around the eval curve (RReLU's random slopes).
    band: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def label(self) -> str:
        return self.choice.label

    def to_json(self) -> dict[str, Any]:
        return {"name": self.choice.name, "label": self.label, "params": self.choice.param_dict,
                "x": _nullable(self.x), "y": _nullable(self.y), "dy": _nullable(self.dy),
                "d2y": _nullable(self.d2y)}


def _nullable(a: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in a.tolist()]


def find_jumps(fn, x: np.ndarray, values: tuple[np.ndarray, ...]) -> dict[int, list[float]]:
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


@memo(maxsize=128)
def _compute_curve_cached(choice: ActivationChoice, xmin: float, xmax: float, points: int) -> Curve:
    fn = choice.function()
    # numpy's linspace (unlike torch's) puts grid points such as x = 0 exactly where they belong, so
    # f'(0) shows torch's convention value rather than f' at +-1e-17.
    x_t = torch.from_numpy(np.linspace(xmin, xmax, points))
    y, dy, d2y = evaluate_guarded(choice, fn, x_t)
    x = x_t.numpy()
    if not np.isfinite(y).any():
        raise InputError(f"{choice.label} is not finite anywhere on [{xmin:g}, {xmax:g}]; "
                         "check the formula or the x-range")
    with np.errstate(all="ignore"):
        jumps = find_jumps(fn, x, (y, dy, d2y))
    dy[_undefined_mask(x, jumps, (0,))] = np.nan
    d2y[_undefined_mask(x, jumps, (0, 1))] = np.nan
    with np.errstate(all="ignore"):
        gaps = find_gaps(fn, x, y)
    with torch.no_grad():
        band = choice.band(x_t)
    if band is not None:
        band = (band[0].numpy().copy(), band[1].numpy().copy())
    return Curve(choice, x, y, dy, d2y, jumps, gaps, band)


def evaluate_guarded(choice: ActivationChoice, fn, x: Tensor, keep_inf: bool = False
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


def saturated_intervals(x: np.ndarray, dy: np.ndarray, eps: float) -> list[tuple[float, float]]:
    """The saturated zones the gallery shades: where |f'| < eps holds all the way out to an edge of the
    range (the usual definition of saturation: f' -> 0 as x -> -inf or +inf).  A place where f' merely crosses 0 (GELU
    near x = -0.75) or dips below eps inside the range (Tanhshrink at 0) is not saturation.

    At most two intervals: from the left edge, and to the right edge (one, if |f'| < eps everywhere).
    Undefined points (NaN) end a zone.
    """
    if eps <= 0 or len(x) == 0:
        return []
    flat = np.isfinite(dy) & (np.abs(dy) < eps)
    out: list[tuple[float, float]] = []
    if flat.all():
        return [(float(x[0]), float(x[-1]))]
    if flat[0]:
        end = int(np.argmin(flat)) - 1           # last index of the run from the left edge
        out.append((float(x[0]), float(x[end])))
    if flat[-1]:
        start = len(flat) - int(np.argmin(flat[::-1]))  # first index of the run to the right edge
        out.append((float(x[start]), float(x[-1])))
    return out
