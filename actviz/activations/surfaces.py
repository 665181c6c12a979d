"""Gated units over their two inputs: z = f(a, b) = act(a)·b on a grid, with ∂z/∂a and ∂z/∂b by autograd.

The grid is ``points`` evenly spaced values of a and of b; ``z[i][j]`` is f at ``a[i]``, ``b[j]`` (the
CLI's ``surface --json`` and the gallery's surface and gradient-field charts read it that way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from actviz import limits, validate
from actviz.activations.choice import ActivationChoice
from actviz.cache import memo
from actviz.errors import InputError

DEFAULT_POINTS = 41
DEFAULT_RANGE = (-3.0, 3.0)


@dataclass(frozen=True)
class Surface:
    choice: ActivationChoice
    a: np.ndarray
    b: np.ndarray
    z: np.ndarray       # (len(a), len(b))
    dz_da: np.ndarray
    dz_db: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"name": self.choice.name, "label": self.choice.label, "params": self.choice.param_dict,
                "a": _nullable(self.a), "b": _nullable(self.b), "z": _nullable(self.z),
                "dz_da": _nullable(self.dz_da), "dz_db": _nullable(self.dz_db)}


def _nullable(a: np.ndarray) -> list[Any]:
    if a.ndim > 1:
        return [_nullable(row) for row in a]
    return [float(v) if math.isfinite(v) else None for v in a.tolist()]


def check_grid(lo: Any, hi: Any, points: Any, what: str) -> tuple[float, float, int]:
    lo_v = validate.number(lo, f"{what}min")
    hi_v = validate.number(hi, f"{what}max")
    if not -limits.X_LIMIT <= lo_v < hi_v <= limits.X_LIMIT:
        raise InputError(f"the {what}-range must satisfy -{limits.X_LIMIT:g} <= {what}min < {what}max <= "
                         f"{limits.X_LIMIT:g} (got {lo_v:g}, {hi_v:g})")
    n = validate.number(points, "points")
    lo_n, hi_n = limits.MIN_SURFACE_POINTS, limits.MAX_SURFACE_POINTS
    if n != int(n) or not lo_n <= n <= hi_n:
        raise InputError(f"points must be a whole number from {lo_n} to {hi_n} per axis (got {n:g})")
    return lo_v, hi_v, int(n)


def compute_surface(choice: ActivationChoice, amin: Any = DEFAULT_RANGE[0], amax: Any = DEFAULT_RANGE[1],
                    bmin: Any = DEFAULT_RANGE[0], bmax: Any = DEFAULT_RANGE[1],
                    points: Any = DEFAULT_POINTS) -> Surface:
    """z = f(a, b) of a gated ``choice`` and its gradient on a ``points`` × ``points`` grid."""
    if not choice.is_gated:
        raise InputError(f"{choice.label} is element-wise (one input): draw it as a curve; surfaces are for "
                         "the gated units glu, reglu, geglu and swiglu")
    a_lo, a_hi, n = check_grid(amin, amax, points, "a")
    b_lo, b_hi, _ = check_grid(bmin, bmax, points, "b")
    return _surface(choice, a_lo, a_hi, b_lo, b_hi, n)


@memo(maxsize=64)
def _surface(choice: ActivationChoice, a_lo: float, a_hi: float, b_lo: float, b_hi: float, n: int) -> Surface:
    a = np.linspace(a_lo, a_hi, n)
    b = np.linspace(b_lo, b_hi, n)
    grid_a, grid_b = torch.meshgrid(torch.from_numpy(a), torch.from_numpy(b), indexing="ij")
    grid_a, grid_b = grid_a.clone().requires_grad_(True), grid_b.clone().requires_grad_(True)
    with torch.enable_grad():
        z = choice.gated_function()(grid_a, grid_b)
        dz_da, dz_db = torch.autograd.grad(z.sum(), (grid_a, grid_b))
    return Surface(choice, a, b, z.detach().numpy(), dz_da.numpy(), dz_db.numpy())
