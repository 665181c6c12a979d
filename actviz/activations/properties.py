"""Properties of an activation over the whole real line: range, monotonicity, zero-centredness,
smoothness, saturation and where its slope is largest (the gallery's table, the CLI's ``curve``).

Sampled on [-1000, 1000] (dense on [-30, 30]) with f, f', f'' from autograd; corners and jumps are
located by the bisection in :mod:`.curves`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from actviz.activations.choice import ActivationChoice
from actviz.activations.curves import X_LIMIT, derivatives, evaluate_guarded, find_jumps
from actviz.cache import memo
from actviz.errors import InputError


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


@memo(maxsize=256)
def properties(choice: ActivationChoice) -> Properties:
    """Properties over the whole real line (sampled on [-1000, 1000], dense on [-30, 30])."""
    fn = choice.function()
    x = _GRID
    y, dy, d2y = evaluate_guarded(choice, fn, torch.from_numpy(x), keep_inf=True)
    # Smoothness is judged on |x| <= 100: every catalogue corner lies there, and further out naive
    # custom formulas (log(1 + exp(x))) show float64 overflow steps that are not the function's.
    near = np.abs(x) <= 100.0
    with np.errstate(all="ignore"):
        jumps = find_jumps(fn, x[near], (np.where(np.isfinite(y), y, np.nan)[near], dy[near], d2y[near]))
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
        if at_edge >= top and _still_growing(x, s_f, edge):
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


def _still_growing(x: np.ndarray, s: np.ndarray, edge: float) -> bool:
    """Slow growth such as log(x): f still rises over the last doublings towards the edge by steps that
    do not shrink.  A bounded f approaches its bound like 1/|x| (Softsign, arctan) or faster, so each
    doubling of |x| at most halves its step."""
    at = [float(s[np.argmin(np.abs(x - edge * k))]) for k in (0.25, 0.5, 1.0)]
    near, far = at[1] - at[0], at[2] - at[1]
    return far > 1e-6 * (1.0 + abs(at[2])) and near > 0.0 and far >= 0.75 * near


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


