"""A race on the UvA tutorial's FashionMNIST net (784-512-256-256-128-10, batch 256): does stacking pay
where the matmuls, not Python overhead, dominate?  (Issue: honest races.)

One job of four activations (ReLU, Tanh, GELU, Swish), SGD with momentum, 16 batches an epoch of
synthetic 784-feature data (bench.training explains why synthetic), an evaluation of the validation and
test splits after every epoch.  Three ways of doing the same work, interleaved in one run:

- the engine, stacked (the four nets as one batched model);
- the engine with stacking off (every net its own model, stepped in the same loop);
- a plain PyTorch loop, one net after another, over the same batches (bench.races.plain_loop).

Targets: stacked never slower than separate (separate / stacked ≥ 0.95), the engine at least as fast as
the plain loop (plain / engine ≥ 1.0).  Reported beside them: the bare-matmul bound — torch.mm of the
same forward + backward shapes for the same number of steps — over the engine's time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.training.config import TrainConfig
from bench.races import _same_threads_plain, engine
from bench.training import BATCH, HIDDEN, _fake_fashion, _steps_per_second_matmul

ACTS = ("relu", "tanh", "gelu", "swish")
STEPS_PER_EPOCH = 16


def big_config(epochs: int) -> TrainConfig:
    return TrainConfig(datasets.DatasetSpec(name="digits"), tuple(choose(a) for a in ACTS), hidden=HIDDEN,
                       optimizer="sgd", lr=1e-2, momentum=0.9, batch_size=BATCH, epochs=epochs, seed=42)


def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn()``: the CPU time of this process is a second opinion on a shared
    machine, where other processes stretch the wall clock (it counts OpenMP's spinning threads too)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def _bound() -> None:
    _steps_per_second_matmul(STEPS_PER_EPOCH)


def bench_big_net_race(quick: bool = False) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    epochs = 1 if quick else 2
    cfg = big_config(epochs)
    ds = _fake_fashion(STEPS_PER_EPOCH * BATCH)
    plain, threads = _same_threads_plain(cfg, ds)
    ways = {"stacked": lambda: engine(cfg, True, ds), "separate": lambda: engine(cfg, False, ds), "plain": plain}
    nets = len(ACTS) * epochs  # the bound's runs: one epoch of one net each
    for fn in ways.values():
        fn()  # warm-up
    wall: dict[str, list[float]] = {k: [] for k in (*ways, "bound")}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    names = list(ways)
    for k in range(2 if quick else 5):
        for name in names[k % 3:] + names[:k % 3]:  # rotate, so a burst of load does not always hit the same one
            w, c = _timed(ways[name])
            wall[name].append(w)
            cpu[name].append(c)
        w, c = _timed(lambda: [_bound() for _ in range(nets)])
        wall["bound"].append(w)
        cpu["bound"].append(c)

    def ratio(times: dict[str, list[float]], num: str, den: str) -> list[float]:
        return [a / b for a, b in zip(times[num], times[den], strict=True)]

    stacking, vs_plain = ratio(wall, "separate", "stacked"), ratio(wall, "plain", "stacked")
    vs_bound = ratio(wall, "bound", "stacked")
    med = statistics.median
    span = lambda v: [round(min(v), 3), round(max(v), 3)]  # noqa: E731
    return {"metric": "784-512-256-256-128-10, batch 256, 4 activations: engine separate / stacked (speed-up)",
            "value": med(stacking), "unit": "ratio", "target": 0.95,
            "met": med(stacking) >= 0.95 and med(vs_plain) >= 1.0,
            "reference": "the same engine with stacking off, same run", "ratio_to_reference": med(stacking),
            "stacked_ratio_range": span(stacking),
            "plain_over_engine": med(vs_plain), "plain_target": 1.0, "plain_met": med(vs_plain) >= 1.0,
            "plain_ratio_range": span(vs_plain),
            "bare_matmul_bound_over_engine": med(vs_bound),
            "cpu_time": {"separate_over_stacked": med(ratio(cpu, "separate", "stacked")),
                         "plain_over_engine": med(ratio(cpu, "plain", "stacked")),
                         "bare_matmul_bound_over_engine": med(ratio(cpu, "bound", "stacked"))},
            **{f"{k}_s": med(v) for k, v in wall.items()},
            "epochs": epochs, "steps_per_net": STEPS_PER_EPOCH * epochs, "intra_op_threads": threads}
