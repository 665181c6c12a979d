"""What a training job will cost, checked before it is queued (see :mod:`actviz.budget`).

The job manager, the worker that runs the job and the CLI all ask here, so a job is refused the same way
everywhere: on the page as a message, on the command line with exit status 2.
"""

from __future__ import annotations

from typing import Any

from actviz import budget, limits
from actviz.data import datasets


def job_threads(lim: limits.Limits | None = None) -> int:
    """Torch threads of one job's worker: the cores shared by the jobs that may run at once."""
    lim = lim or limits.current()
    return max(1, limits._cpu_count() // max(1, int(lim.max_running_jobs)))


def training(cfg: Any, threads: int | None = None) -> budget.Estimate:
    """Peak memory and work of training ``cfg`` (a TrainConfig), from sizes alone."""
    return budget.training(cfg, datasets.shape(cfg.dataset), threads or job_threads())


def check_training(cfg: Any, threads: int | None = None, allowed: budget.Budget | None = None) -> budget.Estimate:
    """The estimate if it fits the budget, else :class:`~actviz.budget.BudgetError` naming the knob."""
    return budget.check(training(cfg, threads), allowed)
