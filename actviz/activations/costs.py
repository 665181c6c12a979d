"""Forward cost of activations relative to ReLU, measured on this machine."""

from __future__ import annotations

import time

import numpy as np
import torch

from actviz.activations.choice import ActivationChoice, choose

_COST_N = 1 << 20
_COST_INNER = 5


def measure_costs(choices: list[ActivationChoice], repeats: int = 7) -> dict[ActivationChoice, float]:
    """Forward time per element of each choice relative to ReLU, measured side by side now.

    float32 on 2^20 elements.  Every sample of a choice is paired with a ReLU sample taken just
    before it, and the median of those ratios is reported, so a busy machine slows both sides of
    each ratio alike.
    """
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


