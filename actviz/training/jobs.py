"""Background training jobs: one manager per server process, shared by every browser session.

The interface pages use is deliberately narrow — submit, snapshot, jobs_for, cancel, model — so
that another backend (a process pool, or a cluster engine such as Ray) could implement it without
the pages changing.  This module's ``JobManager`` runs jobs in a bounded pool of worker threads:

- at most ``max_running`` jobs train at once; the rest wait in a FIFO queue whose position the page
  shows; submitting beyond ``max_queued`` or a session's ``max_jobs_per_session`` is refused with a
  clear InputError;
- identical work is done once: a job whose full configuration equals one already queued, running or
  finished (and not yet freed) is *attached* to, not trained again — training is deterministic for a
  given seed, so thirty students pressing the same preset cost one job and each sees it live;
- a session only sees, cancels and downloads the jobs it submitted or attached to;
- finished jobs are freed ``job_ttl_s`` after they finish; jobs whose sessions have all gone quiet for
  ``session_ttl_s`` (browser closed) are cancelled and freed; idle worker threads exit after
  ``worker_idle_s``, so threads and tensors do not accumulate across many jobs.

Worker threads never touch Streamlit; pages poll ``snapshot``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from actviz import limits as limits_mod
from actviz.errors import InputError
from actviz.training.config import EpochRecord, RunProgress, RunStatus, TrainConfig
from actviz.training.engine import train

LOG = logging.getLogger("actviz.jobs")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED)


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


class Job:
    """One training job; also the engine's progress sink (every method takes the job's lock)."""

    def __init__(self, config: TrainConfig, session: str, now: float):
        self.id = secrets.token_urlsafe(12)
        self.key = config.key()
        self.config = config
        self.status = JobStatus.QUEUED
        self.sessions: set[str] = {session}
        self.created = now
        self.started: float | None = None
        self.finished: float | None = None
        self.error: str | None = None
        self.cancel_event = threading.Event()
        self.runs = [p.progress() for p in config.plan()]  # one per activation and seed
        self.models: list[Any] = []
        self.version = 0
        self._lock = threading.Lock()

    # ProgressSink -------------------------------------------------------------------------------
    def run_started(self, run: int) -> None:
        with self._lock:
            self.runs[run].status = RunStatus.RUNNING
            self.version += 1

    def live_point(self, run: int, epoch_float: float, train_loss: float, progress: float) -> None:
        with self._lock:
            r = self.runs[run]
            r.live.append((epoch_float, train_loss))
            r.progress = progress
            self.version += 1

    def publish_weights(self, run: int, weights: list) -> None:
        """The engine's latest weights of a small 2-D run (the lab's network view draws them)."""
        with self._lock:
            self.runs[run].weights = weights
            self.version += 1

    def epoch_done(self, run: int, record: EpochRecord, layer_grad_norms: list[float],
                   boundary: list[list[float]] | None) -> None:
        with self._lock:
            r = self.runs[run]
            r.history.append(record)
            r.live.append((float(record.epoch), record.train_loss))
            r.grad_norms.append(layer_grad_norms)
            if boundary is not None:
                r.boundary = boundary
            r.progress = record.epoch / self.config.epochs
            self.version += 1

    def run_finished(self, run: int, status: RunStatus, message: str, summary: dict[str, Any]) -> None:
        with self._lock:
            r = self.runs[run]
            r.status, r.message, r.summary = status, message, summary
            r.progress = 1.0
            self.version += 1

    # ---------------------------------------------------------------------------------------------
    def snapshot(self, queue_position: int | None) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(self.id, self.status, self.config, [r.copy() for r in self.runs], queue_position,
                               self.created, self.started, self.finished, self.error, len(self.sessions),
                               self.version)

    def set_status(self, status: JobStatus, now: float, error: str | None = None) -> None:
        with self._lock:
            self.status = status
            if status == JobStatus.RUNNING:
                self.started = now
            if status in FINISHED:
                self.finished = now
                for r in self.runs:
                    if not r.status.finished and status == JobStatus.CANCELLED:
                        r.status = RunStatus.STOPPED
                    elif not r.status.finished and status == JobStatus.FAILED:
                        r.status, r.message = RunStatus.FAILED, error or "the job failed"
            self.error = error
            self.version += 1


class JobManager:
    def __init__(self, limits: limits_mod.Limits | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 runner: Callable[..., Any] = train):
        self.limits = limits or limits_mod.current()
        self._clock = clock
        self._runner = runner
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, str] = {}
        self._queue: deque[str] = deque()
        self._sessions_seen: dict[str, float] = {}
        self._workers: set[threading.Thread] = set()
        self._idle_workers = 0
        self._running = 0
        self.peak_running = 0
        self.completed = 0
        self._closed = False
        self._janitor: threading.Thread | None = None
        # Set by the UI layer: is any browser tab of this session still connected?  Lets a student sit
        # on another page (no polling) without the job being taken for abandoned.
        self.liveness: Callable[[str], bool] | None = None

    # --- the interface pages use ------------------------------------------------------------------
    def submit(self, config: TrainConfig, session: str) -> tuple[str, bool]:
        """Queue ``config`` for ``session``; returns (job id, attached to an identical job?)."""
        now = self._clock()
        with self._lock:
            self._sessions_seen[session] = now
            existing_id = self._by_key.get(config.key())
            existing = self._jobs.get(existing_id) if existing_id else None
            if existing is not None and existing.status not in (JobStatus.CANCELLED, JobStatus.FAILED):
                with existing._lock:
                    existing.sessions.add(session)
                    existing.version += 1
                return existing.id, True
            active = [j for j in self._jobs.values() if session in j.sessions and not j.status.finished]
            if len(active) >= self.limits.max_jobs_per_session:
                raise InputError(f"you already have {len(active)} jobs queued or running (the limit is "
                                 f"{self.limits.max_jobs_per_session}); stop one or wait for it to finish")
            if len(self._queue) >= self.limits.max_queued_jobs:
                raise InputError(f"the server's queue is full ({len(self._queue)} jobs waiting); "
                                 "please try again in a minute")
            job = Job(config, session, now)
            self._jobs[job.id] = job
            self._by_key[job.key] = job.id
            self._queue.append(job.id)
            LOG.info("job %s queued (%d activations, queue %d): %s", job.id[:6], len(config.activations),
                     len(self._queue), job.key)
            self._ensure_worker()
            self._ensure_janitor()
            self._lock.notify_all()
            return job.id, False

    def snapshot(self, job_id: str, session: str) -> JobSnapshot | None:
        with self._lock:
            job = self._visible(job_id, session)
            if job is None:
                return None
            self._sessions_seen[session] = self._clock()
            position = self._position(job_id)
        return job.snapshot(position)

    def jobs_for(self, session: str) -> list[JobSnapshot]:
        with self._lock:
            mine = [j for j in self._jobs.values() if session in j.sessions]
            self._sessions_seen[session] = self._clock()
            positions = {j.id: self._position(j.id) for j in mine}
        return [j.snapshot(positions[j.id]) for j in sorted(mine, key=lambda j: j.created)]

    def cancel(self, job_id: str, session: str) -> str:
        """Stop following a job; the job itself stops once nobody follows it."""
        with self._lock:
            job = self._visible(job_id, session)
            if job is None:
                raise InputError("that job does not exist any more (or is not yours)")
            if job.status in FINISHED:
                return "the job had already finished"
            others = len(job.sessions) - 1
            if others > 0:
                with job._lock:
                    job.sessions.discard(session)
                    job.version += 1
                return (f"you stopped following this run; {others} other session(s) are still watching "
                        "it, so it keeps training for them")
            job.cancel_event.set()
            if job.status == JobStatus.QUEUED:
                self._queue.remove(job_id)
                job.set_status(JobStatus.CANCELLED, self._clock())
                self._drop_key(job)
            return "stopping; the results so far are kept"

    def model(self, job_id: str, session: str, run: int):
        """The trained model of one run (at its best checkpoint), once the job has finished."""
        with self._lock:
            job = self._visible(job_id, session)
        if job is None or job.status not in FINISHED or not 0 <= run < len(job.models):
            return None
        return job.models[run]

    # --- housekeeping ----------------------------------------------------------------------------
    def cleanup(self) -> int:
        """Free expired jobs and cancel abandoned ones; returns how many jobs were freed."""
        now = self._clock()
        freed = 0
        with self._lock:
            tokens = list(self._sessions_seen)
        alive = {t for t in tokens if self._alive(t)}
        with self._lock:
            for t in alive:
                self._sessions_seen[t] = now
            gone = {s for s, seen in self._sessions_seen.items() if now - seen > self.limits.session_ttl_s}
            for s in gone:
                del self._sessions_seen[s]
            for job in list(self._jobs.values()):
                with job._lock:
                    job.sessions -= gone
                    watchers = len(job.sessions)
                if job.status in FINISHED:
                    # Kept for the whole TTL even with nobody watching: a latecomer pressing the same
                    # preset attaches to it instead of training it again.
                    if now - (job.finished or now) > self.limits.job_ttl_s:
                        self._free(job)
                        freed += 1
                elif watchers == 0:
                    job.cancel_event.set()
                    if job.status == JobStatus.QUEUED:
                        self._queue.remove(job.id)
                        job.set_status(JobStatus.CANCELLED, now, "abandoned: no open session was following it")
                        self._free(job)
                        freed += 1
        return freed

    def _alive(self, session: str) -> bool:
        if self.liveness is None:
            return False
        try:
            return bool(self.liveness(session))
        except Exception:  # a broken probe must not free anyone's job: count the session as alive
            LOG.exception("session liveness probe failed")
            return True

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_status: dict[str, int] = {}
            for j in self._jobs.values():
                by_status[j.status] = by_status.get(j.status, 0) + 1
            return {"jobs": len(self._jobs), "by_status": by_status, "queued": len(self._queue),
                    "running": self._running, "peak_running": self.peak_running,
                    "workers": len(self._workers), "completed": self.completed,
                    "sessions": len(self._sessions_seen)}

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                job.cancel_event.set()
            self._lock.notify_all()
            workers = list(self._workers)
        for w in workers:
            w.join(timeout)

    # --- internals ---------------------------------------------------------------------------------
    def _visible(self, job_id: str, session: str) -> Job | None:
        job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        return job if job is not None and session in job.sessions else None

    def _position(self, job_id: str) -> int | None:
        try:
            return self._queue.index(job_id) + 1
        except ValueError:
            return None

    def _drop_key(self, job: Job) -> None:
        if self._by_key.get(job.key) == job.id:
            del self._by_key[job.key]

    def _free(self, job: Job) -> None:
        self._drop_key(job)
        self._jobs.pop(job.id, None)
        job.models = []

    def _ensure_worker(self) -> None:
        if self._idle_workers == 0 and len(self._workers) < self.limits.max_running_jobs:
            t = threading.Thread(target=self._work, name=f"actviz-worker-{len(self._workers) + 1}", daemon=True)
            self._workers.add(t)
            t.start()

    def _ensure_janitor(self) -> None:
        """A housekeeping thread that lives only while there are jobs (so idle servers hold no threads)."""
        if self._janitor is None or not self._janitor.is_alive():
            self._janitor = threading.Thread(target=self._tidy, name="actviz-janitor", daemon=True)
            self._janitor.start()

    def _tidy(self) -> None:
        period = max(0.5, min(self.limits.job_ttl_s, self.limits.session_ttl_s) / 4)
        while True:
            time.sleep(period)
            freed = self.cleanup()
            if freed:
                LOG.info("freed %d finished or abandoned job(s)", freed)
                _return_memory_to_os()
            with self._lock:
                if self._closed or not self._jobs:
                    self._janitor = None
                    return

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle_workers += 1
                deadline = time.monotonic() + self.limits.worker_idle_s
                while not self._queue and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._lock.wait(remaining)
                self._idle_workers -= 1
                if self._closed or not self._queue:
                    self._workers.discard(me)
                    return
                job = self._jobs[self._queue.popleft()]
                self._running += 1
                self.peak_running = max(self.peak_running, self._running)
                job.set_status(JobStatus.RUNNING, self._clock())
                LOG.info("job %s started (running %d/%d, queued %d)", job.id[:6], self._running,
                         self.limits.max_running_jobs, len(self._queue))
            status, error = JobStatus.DONE, None
            try:
                runs = self._runner(job.config, job, job.cancel_event)
                job.models = [r.model for r in runs]
                if job.cancel_event.is_set():
                    status = JobStatus.CANCELLED
            except InputError as exc:
                status, error = JobStatus.FAILED, str(exc)
            except Exception as exc:  # a bug must not kill the worker; the page shows the message
                status, error = JobStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
                traceback.print_exc()
            with self._lock:
                job.set_status(status, self._clock(), error)
                if status != JobStatus.DONE:
                    self._drop_key(job)
                self._running -= 1
                self.completed += 1
                LOG.info("job %s %s (running %d/%d, queued %d)", job.id[:6], status, self._running,
                         self.limits.max_running_jobs, len(self._queue))


def _return_memory_to_os() -> None:
    """Hand freed heap pages back to the OS after jobs are dropped (glibc keeps them otherwise,
    so a server's memory would only ever grow after a busy lesson)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


_MANAGER: JobManager | None = None
_MANAGER_LOCK = threading.Lock()


def manager() -> JobManager:
    """The process-wide manager, shared by every session of this server."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = JobManager()
        return _MANAGER
