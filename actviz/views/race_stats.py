"""A race over several seeds, as the training lab shows it: one row per activation (mean ± std and a
95 % interval over its seeds), the verdict on the leader's margin in words, and mean-with-band curves."""

from __future__ import annotations

from typing import Any

import pandas as pd

from actviz.training import stats
from actviz.training.jobs import JobSnapshot

__all__ = ["race_summary", "seed_bands"]


def race_summary(job: JobSnapshot) -> tuple[pd.DataFrame, stats.Verdict]:
    """One row per activation over its seeds (mean ± std and 95 % interval of the test accuracy, or of the
    test R² and loss for regression), and the verdict on the leader's margin, in words.  Runs still
    training count once they have finished."""
    cfg = job.config
    regression = cfg.dataset.task == "regression"
    labels = [a.label for a in cfg.activations]
    finals: list[list[dict[str, Any]]] = [[] for _ in labels]
    for r in job.runs:
        if r.status.finished:
            finals[r.group].append({"status": str(r.status), **r.summary})
    summary, verdict = stats.job_summary(labels, finals, regression)
    metric, name = ("test_r2", "test R²") if regression else ("test_acc", "test accuracy")
    rows = []
    for label, s in summary.items():
        mean, std, ci = s.get(f"{metric}_mean"), s.get(f"{metric}_std"), s.get(f"{metric}_ci95")
        row = {"activation": label, "seeds": s["seeds"], f"mean {name}": mean, "± std": std,
               "95 % interval": f"{ci[0]:.4f} – {ci[1]:.4f}" if ci else "—"}
        if regression:
            row["mean test loss"] = s.get("test_loss_mean")
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(f"mean {name}", ascending=False, na_position="last", kind="stable")
    return table.reset_index(drop=True), verdict


def seed_bands(job: JobSnapshot, metric: str) -> dict[str, stats.Band]:
    """Per activation, one metric of the epoch records of its seeds as mean, std, min and max per epoch (for
    curves drawn as a mean with a band)."""
    out: dict[str, stats.Band] = {}
    for i, act in enumerate(job.config.activations):
        out[act.label] = stats.band([r.history for r in job.runs if r.group == i], metric)
    return out
