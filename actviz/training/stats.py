"""Several seeds per activation: mean ± std and 95 % intervals, curves with bands, and whether the
leader's margin over the next activation is beyond seed noise.

- Intervals are Student-t intervals of the mean: ``mean ± t(0.975, n-1) · s / √n`` with the sample
  standard deviation ``s`` (n - 1 in the denominator); one value has no spread and no interval.
- The margin verdict pairs the seeds: seed ``s`` gave both activations the same initial weights and
  batches, so the difference ``d_s = leader_s - runner_up_s`` removes what the seed did to both.  The
  margin is beyond seed noise when the 95 % t interval of the mean difference excludes 0.  Below
  three paired seeds no claim is made (two differences cannot tell signal from noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_SEEDS_FOR_CLAIM = 3
# Two-sided 95 % quantiles of Student's t, t(0.975, df), for df = 1 ... 30 (scipy.stats.t.ppf).
T975 = (12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252,
        2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830, 2.160368656, 2.144786688,
        2.131449546, 2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447, 2.079613845,
        2.073873068, 2.068657610, 2.063898562, 2.059538553, 2.055529439, 2.051830516, 2.048407142,
        2.045229642, 2.042272456)


def t975(df: int) -> float:
    if df < 1:
        return math.nan
    return T975[df - 1] if df <= len(T975) else 1.959963985


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    std: float | None           # sample standard deviation (None below two values)
    ci95: tuple[float, float] | None
    minimum: float | None
    maximum: float | None


def summarize(values: Sequence[float | None]) -> Summary:
    """Mean, sample std, 95 % t interval, min and max of the finite values (None entries are skipped)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Summary(0, None, None, None, None, None)
    mean = sum(xs) / n
    if n < 2:
        return Summary(1, mean, None, None, xs[0], xs[0])
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, (mean - half, mean + half), min(xs), max(xs))


METRICS = (("test_acc", True), ("test_loss", False), ("test_r2", True), ("test_rmse", False))


def seed_summary(finals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``train --json`` prints as ``summary[activation]``: per metric mean, std and 95 % interval over
    the activation's seeds (``finals`` are the runs' summaries, one per seed, statuses included)."""
    out: dict[str, Any] = {"seeds": len(finals)}
    for metric, _ in METRICS:
        values = [f.get(metric) for f in finals]
        if all(v is None for v in values) and metric not in ("test_acc", "test_loss"):
            continue
        s = summarize(values)
        out[f"{metric}_mean"] = s.mean
        out[f"{metric}_std"] = s.std
        ci = s.ci95
        if ci and metric == "test_acc":  # an accuracy's interval stays within [0, 1]
            ci = (max(0.0, ci[0]), min(1.0, ci[1]))
        out[f"{metric}_ci95"] = list(ci) if ci else None
        out[f"{metric}_n"] = s.n
    out["statuses"] = {}
    for f in finals:
        status = str(f.get("status", "done"))
        out["statuses"][status] = out["statuses"].get(status, 0) + 1
    return out


@dataclass(frozen=True)
class Verdict:
    metric: str
    leader: str | None
    runner_up: str | None
    n: int                                  # seeds where both have a value
    mean_diff: float | None
    ci95: tuple[float, float] | None
    beyond_noise: bool | None               # None: no claim (fewer than 3 paired seeds, or one activation)
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "leader": self.leader, "runner_up": self.runner_up, "n": self.n,
                "mean_diff": self.mean_diff, "ci95": list(self.ci95) if self.ci95 else None,
                "beyond_noise": self.beyond_noise, "text": self.text}


_NAMES = {"test_acc": "test accuracy", "test_loss": "test loss", "test_r2": "test R²", "test_rmse": "test RMSE"}


def _fmt(metric: str, value: float) -> str:
    if metric == "test_acc":
        return f"{value * 100:.1f} points"
    return f"{value:.3g}"


def margin_verdict(by_activation: Mapping[str, Sequence[float | None]], metric: str = "test_acc",
                   higher_is_better: bool = True) -> Verdict:
    """Is the leader's margin over the next activation beyond seed noise?

    ``by_activation`` maps a label to its per-seed values, aligned by seed (entry ``s`` of every list is
    seed ``s``; None where a run has no value).  Leader and runner-up are ranked by their mean.
    """
    name = _NAMES.get(metric, metric)
    means = {label: summarize(v).mean for label, v in by_activation.items()}
    ranked = sorted((m, label) for label, m in means.items() if m is not None)
    if higher_is_better:
        ranked.reverse()
    if len(ranked) < 2:
        return Verdict(metric, ranked[0][1] if ranked else None, None, 0, None, None, None,
                       "Only one activation has results; there is no margin to judge.")
    leader, runner = ranked[0][1], ranked[1][1]
    pairs = [(a, b) for a, b in zip(by_activation[leader], by_activation[runner], strict=False)
             if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    diffs = [(a - b) if higher_is_better else (b - a) for a, b in pairs]
    s = summarize(diffs)
    n = s.n
    if n < MIN_SEEDS_FOR_CLAIM:
        seeds = "one seed" if n == 1 else f"{n} seeds"
        return Verdict(metric, leader, runner, n, s.mean, s.ci95, None,
                       f"{leader} leads {runner} on {name}, but with {seeds} no claim can be made about seed "
                       f"noise: train at least {MIN_SEEDS_FOR_CLAIM} seeds.")
    lo, hi = s.ci95 if s.ci95 else (s.mean, s.mean)
    beyond = lo > 0
    margin = _fmt(metric, s.mean or 0.0)
    interval = f"95 % interval {_fmt(metric, lo)} to {_fmt(metric, hi)}"
    if beyond:
        text = (f"{leader} leads {runner} by {margin} of {name} on average over {n} paired seeds "
                f"({interval}): the margin is beyond seed noise.")
    else:
        text = (f"{leader} leads {runner} by {margin} of {name} on average over {n} paired seeds, but the "
                f"{interval} includes 0: the margin is within seed noise, so this race does not rank them.")
    return Verdict(metric, leader, runner, n, s.mean, (lo, hi), beyond, text)


@dataclass(frozen=True)
class Band:
    epochs: list[int]
    mean: list[float]
    std: list[float | None]
    lo: list[float]        # minimum over seeds
    hi: list[float]        # maximum over seeds
    n: list[int]           # seeds that reached the epoch


def band(histories: Sequence[Sequence[Any]], metric: str) -> Band:
    """Mean, std, min and max of one metric of EpochRecords per epoch, over the seeds that reached it
    (a seed that stopped early leaves the band at its last epoch)."""
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for rec in history:
            value = getattr(rec, metric) if not isinstance(rec, Mapping) else rec.get(metric)
            if value is not None and math.isfinite(value):
                by_epoch.setdefault(int(rec["epoch"] if isinstance(rec, Mapping) else rec.epoch), []).append(value)
    epochs = sorted(by_epoch)
    stats = [summarize(by_epoch[e]) for e in epochs]
    return Band(epochs, [s.mean for s in stats], [s.std for s in stats], [s.minimum for s in stats],
                [s.maximum for s in stats], [s.n for s in stats])


def job_summary(labels: Sequence[str], finals: Sequence[Sequence[Mapping[str, Any]]], regression: bool = False
                ) -> tuple[dict[str, dict[str, Any]], Verdict]:
    """Per activation (``labels[i]``) its seed summary, and the margin verdict on the headline metric
    (test accuracy; test R² for regression).  ``finals[i]`` are activation ``i``'s run summaries by seed."""
    summary = {label: seed_summary(f) for label, f in zip(labels, finals, strict=True)}
    metric = "test_r2" if regression else "test_acc"
    verdict = margin_verdict({label: [f.get(metric) for f in runs] for label, runs in zip(labels, finals,
                                                                                          strict=True)}, metric)
    return summary, verdict
