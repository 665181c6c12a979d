"""What the training lab says about jobs and runs (UI-free): picker labels, how each run ended, where its
progress bar ends, the one accuracy it reports, and replaying a finished race at the class's pace."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

from actviz.cache import memo
from actviz.data import datasets
from actviz.training.config import RunProgress, RunStatus
from actviz.training.jobs import JobSnapshot, JobStatus

LABEL_CHARS = 64
ELLIPSIS = "…"

# How a run ended, in words (statuses the engine may not produce yet read as their own name).
RUN_WORDS = {"pending": "waiting", "running": "training", "done": "done", "early_stopped": "stopped early",
             "diverged": "diverged", "stopped": "stopped", "cancelled": "stopped", "failed": "failed"}
JOB_WORDS = {JobStatus.QUEUED: "waiting in the queue", JobStatus.RUNNING: "training", JobStatus.DONE: "finished",
             JobStatus.CANCELLED: "stopped", JobStatus.FAILED: "failed",
             JobStatus.INTERRUPTED: "interrupted by a server restart"}


def cut(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with "…" when anything was cut."""
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,·;") + ELLIPSIS


def wall_clock(job: JobSnapshot, now_wall: float | None = None, now_mono: float | None = None) -> float:
    """When the job was created, as wall-clock seconds (the manager keeps a monotonic clock)."""
    created_at = getattr(job, "created_at", None)
    if isinstance(created_at, (int, float)):
        return float(created_at)
    now_wall = time.time() if now_wall is None else now_wall
    now_mono = time.monotonic() if now_mono is None else now_mono
    return now_wall - (now_mono - job.created)


def job_label(number: int, job: JobSnapshot, created_wall: float) -> str:
    """The whole label: ``#3 · 13:52 · Moons · ReLU, Sigmoid, Tanh`` (``#3 · interrupted · 13:52 · …`` for a job
    a server restart interrupted: said before the setup, which may be cut)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(created_wall))
    if job.status == JobStatus.INTERRUPTED:
        stamp = f"interrupted · {stamp}"
    data = datasets.TITLES.get(job.config.dataset.name, job.config.dataset.name)
    acts = ", ".join(a.label for a in job.config.activations)
    seeds = int(getattr(job.config, "seeds", 1) or 1)
    return f"#{number} · {stamp} · {data} · {acts}" + (f" × {seeds} seeds" if seeds > 1 else "")


def job_labels(jobs: list[JobSnapshot]) -> dict[str, tuple[str, str]]:
    """Per job id: (short label for the picker, the whole label for hovering)."""
    out = {}
    for n, job in enumerate(jobs, start=1):
        whole = job_label(n, job, wall_clock(job))
        out[job.id] = (cut(whole), whole)
    return out


def run_status(r: RunProgress) -> str:
    return str(r.status.value if isinstance(r.status, RunStatus) else r.status)


def bar_fraction(r: RunProgress, epochs: int) -> float:
    """Where a run's progress bar ends: a finished run's bar ends at the epoch it stopped at."""
    status = run_status(r)
    if status in ("done",):
        return 1.0
    if status not in ("pending", "running") or r.progress >= 1.0:
        return min(1.0, len(r.history) / max(epochs, 1))
    return min(max(float(r.progress), 0.0), 1.0)


def accuracy(r: RunProgress) -> tuple[float | None, str]:
    """The one score a run reports, and what it is: while training the last epoch's test accuracy (test R²
    for regression); once finished the summary's (for an early-stopped run, that of the weights it keeps:
    its best epoch's)."""
    s = r.summary or {}
    finished = run_status(r) not in ("pending", "running")
    for key, name in (("test_acc", "test accuracy"), ("test_r2", "test R²")):
        if finished and isinstance(s.get(key), (int, float)) and math.isfinite(s[key]):
            best = s.get("best_epoch")
            if run_status(r) == "early_stopped" and best:
                return float(s[key]), f"{name} at the best validation epoch, {best}"
            return float(s[key]), name
    for key, name in (("test_acc", "test accuracy"), ("test_r2", "test R²")):
        value = getattr(r.history[-1], key, math.nan) if r.history else math.nan
        if value is not None and math.isfinite(value):
            return float(value), f"{name} after epoch {r.history[-1].epoch}"
    return None, ""


def score_text(value: float, what: str) -> str:
    """``95.1%`` for an accuracy, ``R² 0.953`` for a regression score."""
    return f"R² {value:.3f}" if "R²" in what else f"{value:.1%}"


def run_line(r: RunProgress, epochs: int) -> str:
    """``ReLU · 95.1%`` while it trains or once done; how it ended and at which epoch otherwise
    (``Tanh · 81.0% · stopped early at epoch 8``).  The job's epoch counter is on the status line."""
    status = run_status(r)
    parts = [r.label]
    acc, what = accuracy(r)
    if acc is not None:
        parts.append(score_text(acc, what))
    if status not in ("running", "done"):
        word = RUN_WORDS.get(status, status)
        if r.history and status not in ("pending",) and len(r.history) < epochs:
            word += f" at epoch {r.history[-1].epoch}"
        parts.append(word)
    return " · ".join(parts)


# --- several seeds per activation -----------------------------------------------------------------------

def chips(job: JobSnapshot) -> list[tuple[int, str, float, str, str]]:
    """The race strip: (colour index, text, bar fraction, status, hover) per run — or, when each activation
    trains from several seeds, per activation: its mean score ± std over the seeds that finished (else over
    the latest epochs), the bar at the mean progress over its seeds."""
    epochs = job.config.epochs
    seeds = int(getattr(job.config, "seeds", 1) or 1)
    if seeds <= 1:
        out = []
        for i, r in enumerate(job.runs):
            acc, what = accuracy(r)
            hover = f"{r.label}: {what} {score_text(acc, what)}" if acc is not None else r.label
            out.append((i, run_line(r, epochs), bar_fraction(r, epochs), run_status(r), hover))
        return out
    groups: dict[int, list[RunProgress]] = {}
    for r in job.runs:
        groups.setdefault(int(getattr(r, "group", 0)), []).append(r)
    out = []
    for g, runs in sorted(groups.items()):
        label = job.config.activations[g].label
        scores = [(v, w) for v, w in (accuracy(r) for r in runs) if v is not None]
        done = sum(run_status(r) not in ("pending", "running") for r in runs)
        parts = [label]
        if scores:
            values = [v for v, _ in scores]
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
            what = scores[0][1]
            pm = f" ± {std:.3f}" if "R²" in what else f" ± {std:.1%}"
            parts.append(score_text(mean, what) + pm)
        parts.append(f"{done}/{len(runs)} seeds done" if done < len(runs) else f"{len(runs)} seeds")
        frac = sum(bar_fraction(r, epochs) for r in runs) / len(runs)
        status = "running" if done < len(runs) else "done"
        hover = "; ".join(f"{r.label}: {score_text(*accuracy(r)) if accuracy(r)[0] is not None else '—'}"
                          for r in runs)
        out.append((g, " · ".join(parts), frac, status, hover))
    return out


# --- replay ------------------------------------------------------------------------------------------

def replay_epochs(job: JobSnapshot) -> int:
    """How many epochs the replay walks through (the longest run's)."""
    return max((len(r.history) for r in job.runs), default=0)


def replay_frame(job: JobSnapshot, elapsed: float, duration: float) -> int:
    """Epochs shown ``elapsed`` seconds into a replay lasting ``duration`` seconds (0 .. all)."""
    total = replay_epochs(job)
    if duration <= 0 or elapsed >= duration:
        return total
    return max(0, min(total, int(total * max(elapsed, 0.0) / duration)))


def _replayed_run(r: RunProgress, shown: int, epochs: int) -> RunProgress:
    history = r.history[:shown]
    ended = shown >= len(r.history)
    done = float(history[-1].epoch) if history else 0.0
    extra = {} if ended or not hasattr(r, "weights") else {"weights": None}  # only the final weights are kept
    return replace(r.copy(), history=history, live=[(e, v) for e, v in r.live if e <= done], **extra,
                   grad_norms=r.grad_norms[:shown], boundary=r.boundary if ended else None,
                   status=r.status if ended else RunStatus.RUNNING, message=r.message if ended else "",
                   progress=len(history) / max(epochs, 1), summary=r.summary if ended else {})


@memo(maxsize=64, key=lambda job, shown: (job.id, job.version, shown))
def replayed(job: JobSnapshot, shown: int) -> JobSnapshot:
    """The finished job as it stood after ``shown`` epochs (a new version number per frame, so the
    page's figure caches tell frames apart)."""
    total = replay_epochs(job)
    runs = [_replayed_run(r, shown, job.config.epochs) for r in job.runs]
    status = job.status if shown >= total else JobStatus.RUNNING
    return replace(job, runs=runs, status=status, version=-(shown + 1))


def describe_status(job: JobSnapshot, paused: bool = False) -> str:
    if paused and job.status == JobStatus.RUNNING:
        return "paused"
    return JOB_WORDS.get(job.status, str(job.status))


def snapshot_attr(job: Any, name: str, default: Any = None) -> Any:
    """A field the server adds to job snapshots (``paused``, ``lr``), or ``default`` until it exists."""
    return getattr(job, name, default)


FIRST_POINT_WAIT_S = 0.6   # a worker that has room reports its first running loss within ~0.1 s


def wait_for_first_point(manager: Any, job_id: str, session: str, timeout: float = FIRST_POINT_WAIT_S,
                         sleep: Any = time.sleep) -> bool:
    """After Start: wait briefly for the new job's first live point, so the page drawn in answer to the
    click already shows it (otherwise it appears only at the live panel's next poll, 0.5–1 s later).
    Returns whether a point came; a job queued behind others is not waited for."""
    deadline = time.monotonic() + timeout
    while True:
        job = manager.snapshot(job_id, session)
        if job is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return False
        if any(r.live or r.history for r in job.runs):
            return True
        if job.status == JobStatus.QUEUED and job.queue_position:
            return False  # waiting behind other jobs: its first point is not near
        if time.monotonic() >= deadline:
            return False
        sleep(0.02)
