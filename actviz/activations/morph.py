"""One parameter of one activation swept across its range, computed once for the browser to play.

The gallery's morph chart carries f, f' (and f'') for every value of the grid as Plotly animation
frames, so dragging its slider is answered in the browser with no server round trip.  Each frame is a
full :func:`curves.compute_curve` (autograd derivatives, undefined points left out), memoised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from actviz import activations, limits
from actviz.activations import curves
from actviz.activations.choice import ActivationChoice, choose
from actviz.cache import memo
from actviz.errors import InputError

DEFAULT_POINTS = 401
DEFAULT_STEPS = 51


@dataclass(frozen=True)
class Morph:
    choice: ActivationChoice     # the activation at its current parameter values
    param: str
    values: np.ndarray           # (K,) the parameter grid, ascending
    start: int                   # index of the current value in ``values``
    x: np.ndarray                # (N,)
    y: np.ndarray                # (K, N), NaN where undefined
    dy: np.ndarray
    d2y: np.ndarray

    @property
    def label(self) -> str:
        return activations.get(self.choice.name).label

    def to_json(self) -> dict[str, Any]:
        def rows(a: np.ndarray) -> list[list[float | None]]:
            return [[float(v) if np.isfinite(v) else None for v in row] for row in a.tolist()]

        return {"name": self.choice.name, "param": self.param, "values": self.values.tolist(),
                "start": self.start, "x": self.x.tolist(), "y": rows(self.y), "dy": rows(self.dy),
                "d2y": rows(self.d2y)}


def parse_target(text: str) -> tuple[str, str]:
    """``"swish.beta"`` -> ("swish", "beta"); InputError unless it names a catalogue parameter."""
    name, dot, param = str(text).strip().partition(".")
    if not dot or not name or not param:
        raise InputError(f"a morph is written activation.parameter, e.g. swish.beta (got {str(text)[:40]!r})")
    act = activations.get(name)
    act.param(param)
    return act.name, param


def value_grid(choice: ActivationChoice, param: str, steps: int = DEFAULT_STEPS) -> tuple[np.ndarray, int]:
    """Parameter values to carry (ascending, valid together with the other parameters) and the index of
    the current one: every slider step when there are few, else ``steps`` values on the slider's steps."""
    spec = activations.get(choice.name).param(param)
    steps = max(2, min(int(steps), limits.MORPH_STEPS_MAX))
    count = int(round((spec.max - spec.min) / spec.step)) + 1
    if count <= steps:
        grid = spec.min + spec.step * np.arange(count)
    else:
        grid = spec.min + spec.step * np.round(np.linspace(0, count - 1, steps))
    current = choice.param_dict[param]
    grid = np.round(grid, 12)
    if current not in grid:  # the current value takes the place of its nearest neighbour when full
        if len(grid) >= steps:
            grid = np.delete(grid, int(np.argmin(np.abs(grid - current))))
        grid = np.unique(np.append(grid, current))
    act = activations.get(choice.name)
    keep = []
    for v in grid:
        try:
            act.resolve_params({**choice.param_dict, param: float(v)})
            keep.append(float(v))
        except InputError:  # e.g. hardtanh's min_val at or above max_val
            continue
    values = np.array(keep)
    return values, int(np.argmin(np.abs(values - current)))


def compute_morph(choice: ActivationChoice, param: str, xmin: float, xmax: float,
                  points: int = DEFAULT_POINTS, steps: int = DEFAULT_STEPS) -> Morph:
    """f, f', f'' of ``choice`` with ``param`` set to each value of its grid, on ``points`` x values."""
    if choice.is_custom:
        raise InputError("only catalogue activations can be morphed")
    activations.get(choice.name).param(param)
    xmin, xmax, points = curves.check_range(xmin, xmax, points)
    return _morph(choice, param, xmin, xmax, points, int(steps))


@memo(maxsize=16)
def _morph(choice: ActivationChoice, param: str, xmin: float, xmax: float, points: int, steps: int) -> Morph:
    values, start = value_grid(choice, param, steps)
    frames = []
    for v in values:
        c = choose(choice.name, {**choice.param_dict, param: float(v)})
        frames.append(curves.compute_curve(c, xmin, xmax, points))
    stack = {k: np.stack([getattr(f, k) for f in frames]) for k in ("y", "dy", "d2y")}
    return Morph(choice, param, values, start, frames[0].x, stack["y"], stack["dy"], stack["d2y"])
