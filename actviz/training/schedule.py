"""Learning-rate schedules (TF Playground issue #158), one value per epoch.

The learning rate of epoch ``e`` (1-based) of ``E`` is ``base * factor(e)``, where ``base`` is the
configured rate (or the one set while training) and, after ``W`` warm-up epochs, ``t = e - 1 - W``
runs over ``T = E - W`` scheduled epochs:

- warm-up (``e <= W``): ``e / (W + 1)``, a linear ramp (torch's ``LinearLR(1 / (W + 1), 1, W)``);
- ``constant``: 1;
- ``step``: ``gamma ** floor(t / step)`` (torch's ``StepLR``);
- ``cosine``: ``(1 + cos(pi * t / T)) / 2``, from 1 towards 0 (torch's ``CosineAnnealingLR(T)``);
- ``onecycle``: torch's ``OneCycleLR`` over ``T`` epochs with its defaults: from 1/25 up to 1 over
  the first 30 % (cosine), then down to 1/25/10⁴ (cosine).
"""

from __future__ import annotations

import math

SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine", "onecycle")
LABELS = {"constant": "constant", "step": "step decay", "cosine": "cosine annealing", "onecycle": "one-cycle"}
ONECYCLE_PCT_START = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _onecycle(t: int, total: int) -> float:
    """torch.optim.lr_scheduler.OneCycleLR's factor at step ``t`` of ``total`` (two phases, cosine)."""
    initial = 1.0 / ONECYCLE_DIV
    final = initial / ONECYCLE_FINAL_DIV
    up_end = float(ONECYCLE_PCT_START * total) - 1.0
    down_end = float(total - 1)
    if t <= up_end:
        return _cos_anneal(initial, 1.0, t / up_end) if up_end > 0 else 1.0
    return _cos_anneal(1.0, final, (t - up_end) / (down_end - up_end))


def factor(schedule: str, epoch: int, epochs: int, warmup: int = 0, step: int = 10, gamma: float = 0.5) -> float:
    """The multiplier of the base learning rate in ``epoch`` (1-based) of ``epochs``."""
    if epoch <= warmup:
        return epoch / (warmup + 1)
    t, total = epoch - 1 - warmup, max(1, epochs - warmup)
    if schedule == "step":
        return gamma ** (t // max(1, step))
    if schedule == "cosine":
        return (1.0 + math.cos(math.pi * t / total)) / 2.0
    if schedule == "onecycle":
        return _onecycle(t, total)
    return 1.0


def describe(schedule: str, warmup: int = 0, step: int = 10, gamma: float = 0.5) -> str:
    text = LABELS.get(schedule, schedule)
    if schedule == "step":
        text += f" (×{gamma:g} every {step} epochs)"
    if warmup:
        text += f" after {warmup} warm-up epoch{'s' if warmup != 1 else ''}"
    return text
