"""Input features for 2-D datasets, as TensorFlow Playground offers them (src/playground.ts's INPUTS):
x1, x2, x1², x2², x1·x2, sin x1, sin x2.

A network with features keeps taking the raw point (x1, x2) as its input and expands it as its
first step (see :class:`actviz.network.models.MLP`), so decision surfaces, checkpoints and the
network view all speak in the coordinates of the plane.  ``()`` means the raw inputs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from actviz.errors import InputError

Tensor = torch.Tensor

# name -> (label, f(x1, x2)); the order here is the canonical order of the expanded inputs.
FEATURES: dict[str, tuple[str, Callable[[Tensor, Tensor], Tensor]]] = {
    "x1": ("x₁", lambda a, b: a),
    "x2": ("x₂", lambda a, b: b),
    "x1sq": ("x₁²", lambda a, b: a * a),
    "x2sq": ("x₂²", lambda a, b: b * b),
    "x1x2": ("x₁·x₂", lambda a, b: a * b),
    "sinx1": ("sin x₁", lambda a, b: torch.sin(a)),
    "sinx2": ("sin x₂", lambda a, b: torch.sin(b)),
}
NAMES: tuple[str, ...] = tuple(FEATURES)
RAW: tuple[str, ...] = ("x1", "x2")
_ALIASES = {"x1^2": "x1sq", "x1²": "x1sq", "x2^2": "x2sq", "x2²": "x2sq", "x1*x2": "x1x2", "x1·x2": "x1x2",
            "sin(x1)": "sinx1", "sin_x1": "sinx1", "sin(x2)": "sinx2", "sin_x2": "sinx2"}


def parse(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"x1,x2,x1x2"`` (or a list of names) -> canonical tuple; ``()`` for the raw inputs (x1, x2).

    Names may be written x1^2, x1*x2, sin(x1) ... as well.  InputError for unknown or no names.
    """
    if raw is None:
        return ()
    if isinstance(raw, str):
        if len(raw) > 200:
            raise InputError("the feature list is too long; choose among " + ", ".join(NAMES))
        items = [t.strip() for t in raw.split(",")]
    elif isinstance(raw, Sequence):
        items = [t.strip() if isinstance(t, str) else t for t in raw][:50]
    else:
        raise InputError("features must be a list of names such as x1,x2,x1x2")
    chosen: set[str] = set()
    for item in items:
        if item == "":
            continue
        if not isinstance(item, str):
            raise InputError(f"unknown input feature {str(item)[:20]!r}; choose among {', '.join(NAMES)}")
        name = _ALIASES.get(item.lower().replace(" ", ""), item.lower().replace(" ", ""))
        if name not in FEATURES:
            raise InputError(f"unknown input feature {item[:20]!r}; choose among {', '.join(NAMES)}")
        chosen.add(name)
    if not chosen and items and any(i != "" for i in items):
        raise InputError("choose at least one input feature")
    if not chosen:
        return ()
    out = tuple(n for n in NAMES if n in chosen)
    return () if out == RAW else out


def labels(features: Sequence[str]) -> list[str]:
    return [FEATURES[f][0] for f in (features or RAW)]


def n_inputs(features: Sequence[str], n_raw: int) -> int:
    """How many numbers the first Linear layer receives."""
    return len(features) if features else n_raw


def expand(x: Tensor, features: Sequence[str]) -> Tensor:
    """[N, 2] points -> [N, len(features)] inputs (``x`` itself for the raw inputs)."""
    if not features:
        return x
    if x.shape[-1] != 2:
        raise InputError(f"input features apply to 2-D data only; this data has {x.shape[-1]} columns")
    a, b = x[..., 0], x[..., 1]
    return torch.stack([FEATURES[f][1](a, b) for f in features], dim=-1)
