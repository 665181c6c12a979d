"""What saving resume points costs a training job (issue: a shared server — persistence).

The UvA tutorial's FashionMNIST net (784-512-256-256-128-10) racing four activations with SGD and momentum
on synthetic data (bench.training explains why synthetic): about 2 MB of weights and momentum per run,
rewritten at every save.  Interleaved in one run:

- the job without resume points;
- the job under the saving policy with its 5 s floor taken away (``every_s=0``): only the rule that
  saving takes at most ``resume.MAX_SHARE`` of the job's time spaces the saves — the worst the policy
  allows, whatever the job;
- the job saving after every epoch (no policy), for scale.

Target: the policy's job at most 5 % slower than the job without resume points (the share is 2 %).
Reported beside it: one save's duration, and over one epoch's.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from actviz.training import resume
from actviz.training.engine import train
from bench.big_race import STEPS_PER_EPOCH, big_config
from bench.races import _NullSink
from bench.training import BATCH, _fake_fashion


class _Timed(resume.Saver):
    """A saver that keeps the duration of each save it makes."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.durations: list[float] = []

    def offer(self, job: Any, epoch: int, force: bool = False) -> bool:
        t0 = time.perf_counter()
        saved = super().offer(job, epoch, force)
        if saved:
            self.durations.append(time.perf_counter() - t0)
        return saved


def bench_resume_points(quick: bool = False) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    epochs = 2 if quick else 4
    cfg = big_config(epochs)
    ds = _fake_fashion(STEPS_PER_EPOCH * BATCH)
    folder = Path(tempfile.mkdtemp(prefix="actviz-bench-resume-"))
    paths = [resume.path_for(folder, "bench", i) for i in range(len(cfg.plan()))]
    saves: list[float] = []

    def run(saver: resume.Saver | None) -> float:
        t0 = time.perf_counter()
        train(cfg, _NullSink(), dataset=ds, saver=saver)
        if isinstance(saver, _Timed):
            saves.extend(saver.durations)
        return time.perf_counter() - t0

    ways = {"none": lambda: run(None), "policy": lambda: run(_Timed(paths, every_s=0.0)),
            "every_epoch": lambda: run(_Timed(paths, every_s=0.0, max_share=None))}
    try:
        for fn in ways.values():
            fn()  # warm-up
        saves.clear()
        wall: dict[str, list[float]] = {k: [] for k in ways}
        names = list(ways)
        for k in range(1 if quick else 3):
            for name in names[k % 3:] + names[:k % 3]:  # rotate: a burst of load does not always hit one
                wall[name].append(ways[name]())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    med = statistics.median
    policy = med([a / b for a, b in zip(wall["policy"], wall["none"], strict=True)])
    every = med([a / b for a, b in zip(wall["every_epoch"], wall["none"], strict=True)])
    epoch_s = med(wall["none"]) / epochs
    return {"metric": "FashionMNIST-net race, 4 activations: job time with resume points (policy) / without",
            "value": policy, "unit": "ratio", "target": 1.05, "met": policy <= 1.05,
            "reference": "the same job without resume points, same run", "ratio_to_reference": policy,
            "every_epoch_over_none": every, "save_ms": 1e3 * med(saves) if saves else None,
            "save_over_epoch": med(saves) / epoch_s if saves else None, "epoch_ms": 1e3 * epoch_s,
            "epochs": epochs, "max_share": resume.MAX_SHARE, "every_s_default": resume.EVERY_S}
