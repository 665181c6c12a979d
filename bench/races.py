"""Races on the stacked engine vs the loop a student would write (issue: honest races).

- ``classroom_race``: the training lab's classroom race (moons, 1,000 points, 16-16, Adam lr 0.01,
  batch 64, 40 epochs, ReLU/Sigmoid/Tanh/GELU/Swish): the engine's wall time over a plain PyTorch
  loop doing the same work per activation (same nets, same batches, an evaluation of the validation
  and test splits after every epoch).  Target ≤ 0.5×.
- ``seeds_race``: the same race with 5 seeds per activation (25 nets) over the plain loop of the
  5 × 1 race.  Target ≤ 1.5×.

Both sides run with the same number of torch intra-op threads in the same process, alternately;
each ratio is the median of paired samples.  ``engine_separate`` is the engine with stacking off
(every net its own model, stepped in the same loop): what stacking buys.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.network import models
from actviz.training.config import TrainConfig
from actviz.training.engine import intra_op_threads, train

RACE = ("relu", "sigmoid", "tanh", "gelu", "swish")


class _NullSink:
    def run_started(self, run: int) -> None: ...
    def live_point(self, *args: Any) -> None: ...
    def epoch_done(self, *args: Any) -> None: ...
    def run_finished(self, *args: Any) -> None: ...


def race_config(seeds: int = 1, epochs: int = 40) -> TrainConfig:
    spec = datasets.DatasetSpec(name="moons", n_samples=1000, noise=0.2, seed=0)
    return TrainConfig(spec, tuple(choose(a) for a in RACE), hidden=(16, 16), optimizer="adam", lr=0.01,
                       batch_size=64, epochs=epochs, seed=42, seeds=seeds)


def plain_loop(cfg: TrainConfig, ds: datasets.Dataset | None = None) -> float:
    """What a student writes: one net at a time, nn.Module + torch.optim (Adam, or SGD with momentum),
    the same batches."""
    ds = ds if ds is not None else datasets.load(cfg.dataset)
    x, y = ds.x_train, ds.y_train
    n = len(x)
    t0 = time.perf_counter()
    for seed in cfg.run_seeds:
        for act in cfg.activations:
            model = models.build_mlp(ds.n_features, cfg.hidden, models.output_size(ds.n_classes), act, cfg.init, seed)
            opt = (torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
                   else torch.optim.Adam(model.parameters(), lr=cfg.lr))
            gen = torch.Generator().manual_seed(seed)
            for _ in range(cfg.epochs):
                model.train()
                perm = torch.randperm(n, generator=gen)
                for b in range(0, n, cfg.batch_size):
                    idx = perm[b:b + cfg.batch_size]
                    opt.zero_grad()
                    models.loss_fn(model(x[idx]), y[idx]).backward()
                    opt.step()
                model.eval()
                models.evaluate(model, ds.x_val, ds.y_val)
                models.evaluate(model, ds.x_test, ds.y_test)
    return time.perf_counter() - t0


def engine(cfg: TrainConfig, stacked: bool = True, ds: datasets.Dataset | None = None) -> float:
    if ds is None:
        datasets.load(cfg.dataset)
    t0 = time.perf_counter()
    train(cfg, _NullSink(), stacked=stacked, dataset=ds)
    return time.perf_counter() - t0


def _same_threads_plain(cfg: TrainConfig, ds: datasets.Dataset | None = None):
    """The plain loop on the intra-op thread count the engine picks for this job (like for like)."""
    n_features = ds.n_features if ds is not None else datasets.load(cfg.dataset).n_features
    threads = intra_op_threads(cfg, n_features)

    def plain() -> float:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return plain_loop(cfg, ds)
        finally:
            torch.set_num_threads(before)
    return plain, threads


def _paired(work, reference, rounds: int) -> tuple[float, float, float]:
    work(), reference()  # warm-up
    w, r, ratios = [], [], []
    for _ in range(rounds):
        tr = reference()
        tw = work()
        w.append(tw)
        r.append(tr)
        ratios.append(tw / tr)
    return statistics.median(w), statistics.median(r), statistics.median(ratios)


def bench_classroom_race(quick: bool = False) -> dict[str, Any]:
    cfg = race_config(epochs=10 if quick else 40)
    plain, threads = _same_threads_plain(cfg)
    rounds = 2 if quick else 5
    work_s, ref_s, ratio = _paired(lambda: engine(cfg), plain, rounds)
    sep_s, _, sep_ratio = _paired(lambda: engine(cfg, stacked=False), plain, 1 if quick else 3)
    return {"metric": "classroom race (5 activations, moons, 16-16, 40 epochs): engine / plain PyTorch loop",
            "value": ratio, "unit": "ratio", "target": 0.5, "met": ratio <= 0.5,
            "reference": "plain per-activation PyTorch loop of the same work", "ratio_to_reference": ratio,
            "engine_s": work_s, "plain_loop_s": ref_s, "engine_separate_s": sep_s,
            "engine_separate_vs_plain": sep_ratio, "intra_op_threads": threads}


def bench_seeds_race(quick: bool = False) -> dict[str, Any]:
    one = race_config(seeds=1, epochs=10 if quick else 40)
    five = race_config(seeds=5, epochs=10 if quick else 40)
    plain, threads = _same_threads_plain(one)
    work_s, ref_s, ratio = _paired(lambda: engine(five), plain, 2 if quick else 5)
    return {"metric": "5 activations x 5 seeds on the engine / plain PyTorch loop of 5 x 1",
            "value": ratio, "unit": "ratio", "target": 1.5, "met": ratio <= 1.5,
            "reference": "plain per-activation PyTorch loop, one seed", "ratio_to_reference": ratio,
            "engine_5x5_s": work_s, "plain_loop_5x1_s": ref_s, "intra_op_threads": threads}
