"""A job's record: what the manager knows about one training job, and the copy pages render.

:class:`Job` is fed by its backend — as the engine's progress sink in the same process, or through
messages from a worker process (:meth:`Job.on_message`, see :mod:`.worker`) — and read by pages through
:meth:`Job.snapshot`.  Every method takes the job's own lock; the manager's scheduling fields
(``held``, ``ran_s``, ``turn_started``) are only touched under the manager's lock.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from actviz.budget import Estimate
from actviz.errors import InputError
from actviz.training.config import EpochRecord, RunProgress, RunStatus, TrainConfig


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"   # queued or training when the server stopped (read back after a restart)

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.INTERRUPTED)
_STOPPED = getattr(RunStatus, "STOPPED", RunStatus.CANCELLED)
_FAILED = getattr(RunStatus, "FAILED", None)


@dataclass
class JobSnapshot:
    """A consistent copy of a job's state for rendering (safe to read without locks)."""

    id: str
    status: JobStatus
    config: TrainConfig
    runs: list[RunProgress]
    queue_position: int | None
    created: float
    started: float | None
    finished: float | None
    error: str | None
    watchers: int
    version: int
    created_at: float | None = None         # wall clock (seconds since the epoch), for "13:52" labels
    paused: bool = False                    # paused by its user (the engine waits at the next batch)
    lr: float | None = None                 # the learning rate in effect: set while training, else the configured one
    taking_turns: bool = False              # waiting a few seconds while another job has its turn
    estimate: dict[str, Any] = field(default_factory=dict)   # memory_mb, minutes, ... (see budget.Estimate)
    notice: str | None = None               # the last thing the worker said about a command
    resume_epoch: int | None = None         # interrupted: the epoch its saved training state can go on from
    resume_note: str | None = None          # interrupted: why it cannot go on (then only Run again)
    resumed_from: int | None = None         # a job that went on from an interrupted one's epoch


def _plan(config: TrainConfig) -> list[RunProgress]:
    plan = getattr(config, "plan", None)
    if callable(plan):  # one run per activation and seed
        return [p.progress() for p in plan()]
    return [RunProgress(a.label, a.key) for a in config.activations]


class Job:
    """One training job; also the engine's progress sink (every method takes the job's lock)."""

    def __init__(self, config: TrainConfig, session: str, now: float, estimate: Estimate | None = None):
        self.id = secrets.token_urlsafe(12)
        self.key = config.key()
        self.config = config
        self.estimate = estimate or Estimate("this training job")
        self.status = JobStatus.QUEUED
        self.sessions: set[str] = {session}
        self.created = now
        self.created_at = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.error: str | None = None
        self.cancel_event = threading.Event()   # kept for callers of the old interface
        self.runs = _plan(config)
        self.models: list[Any] = []
        self.version = 0
        self.control_state: dict[str, Any] = {}
        self.notice: str | None = None
        self.ceiling: int | None = None
        self.submitted_at = time.monotonic()
        self.first_progress_s: float | None = None   # seconds from submit to the first live point (ops log)
        self.restored = False   # read back from the job list after a restart (models are checkpoint paths)
        self.resume_epoch: int | None = None    # interrupted and resumable: from this epoch (see .resume)
        self.resume_note: str | None = None     # interrupted and not resumable: why
        self.resume_from: list[str] | None = None   # a resumed job: the resume points it starts from ...
        self.resumed_from: int | None = None        # ... saved at this epoch
        # Scheduling (the manager's lock).
        self.held = False
        self.user_paused = False
        self.ran_s = 0.0
        self.turn_started = now
        self.last_account = now
        self.stopping = False
        self.stop_reason: str | None = None
        self.on_done: Callable[[Job, JobStatus, str | None, list[Any]], None] | None = None
        self._reported_end = False
        self._lock = threading.Lock()

    # --- ProgressSink (the engine in this process, or the worker's messages) ---------------------------
    def run_started(self, run: int) -> None:
        with self._lock:
            self.runs[run].status = RunStatus.RUNNING
            self.version += 1

    def live_point(self, run: int, epoch_float: float, train_loss: float, progress: float) -> None:
        with self._lock:
            self._first_progress()
            r = self.runs[run]
            r.live.append((epoch_float, train_loss))
            r.progress = progress
            self.version += 1

    def epoch_done(self, run: int, record: EpochRecord, layer_grad_norms: list[float],
                   boundary: list[list[float]] | None) -> None:
        with self._lock:
            self._first_progress()
            r = self.runs[run]
            r.history.append(record)
            r.live.append((float(record.epoch), record.train_loss))
            r.grad_norms.append(layer_grad_norms)
            if boundary is not None:
                r.boundary = boundary
            r.progress = record.epoch / self.config.epochs
            self.version += 1

    def _first_progress(self) -> None:
        if self.first_progress_s is None:
            self.first_progress_s = time.monotonic() - self.submitted_at

    def run_finished(self, run: int, status: RunStatus | str, message: str, summary: dict[str, Any]) -> None:
        with self._lock:
            r = self.runs[run]
            r.status, r.message, r.summary = _run_status(status), message, summary
            r.progress = 1.0
            self.version += 1

    def publish_weights(self, run: int, layers: list[Any]) -> None:
        """The engine's latest weights of a small 2-D run (per Linear, input to output) for the network view."""
        with self._lock:
            self.runs[run].weights = layers
            self.version += 1

    # --- a worker's messages ---------------------------------------------------------------------------
    def on_message(self, message: tuple[Any, ...]) -> None:
        kind, args = message[0], message[1:]
        if kind == "run_started":
            self.run_started(*args)
        elif kind == "live":
            self.live_point(*args)
        elif kind == "epoch":
            self.epoch_done(*args)
        elif kind == "run_finished":
            self.run_finished(*args)
        elif kind == "state":
            with self._lock:
                self.control_state = dict(args[0])
                self.user_paused = bool(self.control_state.get("paused"))
                self.version += 1
        elif kind == "notice":
            with self._lock:
                self.notice = str(args[0])
                self.version += 1
        elif kind == "ceiling":
            self.ceiling = int(args[0])
        elif kind == "report":  # reports the engine adds later, applied if this record knows them
            handler = getattr(self, str(args[0]), None)
            if callable(handler) and not str(args[0]).startswith("_"):
                handler(*args[1])
        elif kind == "done":
            models, cancelled = args
            status = JobStatus.CANCELLED if (cancelled or self.stopping) else JobStatus.DONE
            self._end(status, self.stop_reason if status == JobStatus.CANCELLED else None, list(models))
        elif kind == "failed":
            self._end(JobStatus.FAILED, str(args[0]), [])

    def on_exit(self, message: str | None) -> None:
        """The worker ended; without a final report that is a crash (or its memory ceiling)."""
        self._end(JobStatus.FAILED, message or "the worker ended without reporting a result", [])

    def _end(self, status: JobStatus, error: str | None, models: list[Any]) -> None:
        with self._lock:
            if self._reported_end:
                return
            self._reported_end = True
        if self.on_done is not None:
            self.on_done(self, status, error, models)
        else:
            self.models = models
            self.set_status(status, time.monotonic(), error)

    # --- the manager's side ------------------------------------------------------------------------
    def attach(self, session: str) -> None:
        with self._lock:
            self.sessions.add(session)
            self.version += 1

    def detach(self, session: str) -> None:
        with self._lock:
            self.sessions.discard(session)
            self.version += 1

    def forget(self, sessions: Iterable[str]) -> int:
        """Drop sessions that have gone; returns how many still follow the job."""
        with self._lock:
            self.sessions -= set(sessions)
            return len(self.sessions)

    def account(self, now: float) -> None:
        """Add the computing time since the last call (only while it has its turn)."""
        if not self.held and not self.user_paused:
            self.ran_s += max(0.0, now - self.last_account)
        self.last_account = now

    def set_held(self, held: bool, now: float) -> None:
        self.account(now)
        self.held = held
        if not held:
            self.turn_started = now
        with self._lock:
            self.version += 1

    def note_command(self, command: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            if command == "pause":
                self.user_paused = True
            elif command in ("resume", "step"):
                self.user_paused = False
            elif command == "set_lr":
                self.control_state = {**self.control_state, "lr": args[0]}
            self.version += 1

    def snapshot(self, queue_position: int | None) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(
                self.id, self.status, self.config, [r.copy() for r in self.runs], queue_position, self.created,
                self.started, self.finished, self.error, len(self.sessions), self.version,
                created_at=self.created_at, paused=bool(self.control_state.get("paused", self.user_paused)),
                lr=self.control_state.get("lr") or self.config.lr,
                taking_turns=self.held and self.status == JobStatus.RUNNING, estimate=self.estimate.to_json(),
                notice=self.notice, resume_epoch=self.resume_epoch, resume_note=self.resume_note,
                resumed_from=self.resumed_from)

    def set_status(self, status: JobStatus, now: float, error: str | None = None) -> None:
        with self._lock:
            self.status = status
            if status == JobStatus.RUNNING:
                self.started = now
                self.turn_started = self.last_account = now
            if status in FINISHED:
                self.finished = now
                self.held = False
                for r in self.runs:
                    if r.status.finished:
                        continue
                    if status == JobStatus.CANCELLED:
                        r.status = _STOPPED
                    elif status == JobStatus.FAILED:
                        r.status, r.message = _FAILED or _STOPPED, error or "the job failed"
            self.error = error
            self.version += 1


def admit(limits: Any, session: str, jobs: list[Job], queue: list[Job]) -> None:
    """InputError unless ``session`` may queue one more job: its unfinished jobs (every tab of a browser
    together) within ``max_jobs_per_session``, the queue not full, and — while many sessions wait — its
    waiting jobs within its share of the ``max_queued_jobs`` places."""
    mine = [j for j in jobs if session in j.sessions and not j.status.finished]
    if len(mine) >= limits.max_jobs_per_session:
        raise InputError(f"you already have {len(mine)} jobs queued or running (the limit is "
                         f"{limits.max_jobs_per_session}, for all your tabs together); stop one or "
                         "wait for it to finish")
    if len(queue) >= limits.max_queued_jobs:
        raise InputError(f"the server's queue is full ({len(queue)} jobs waiting); please try again in a minute")
    owners = {s for j in queue for s in j.sessions} | {session}
    share = max(1, min(limits.max_jobs_per_session, limits.max_queued_jobs // len(owners)))
    if sum(1 for j in mine if j.status == JobStatus.QUEUED) >= share:
        raise InputError(f"the queue is busy: while many people wait, each may have {share} job(s) "
                         "waiting; wait for yours to start before adding another")


def _run_status(value: RunStatus | str) -> RunStatus | str:
    try:
        return RunStatus(value)
    except ValueError:
        return value
