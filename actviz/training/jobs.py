"""Background training jobs: one manager per server process, shared by every browser session.

The interface pages use is narrow — ``submit``, ``snapshot``, ``jobs_for``, ``cancel``, ``model`` and the
live controls ``pause``, ``resume``, ``step``, ``set_lr`` — so that the place jobs run (a *backend*, see
:mod:`.backends`) and the place their records live can change without the pages changing.  Policy:

- **budget before work**: a job's peak memory and computing time are estimated before it is queued
  (:mod:`.estimates`); over ``ACTVIZ_MAX_JOB_MEMORY_MB`` / ``ACTVIZ_MAX_JOB_MINUTES`` it is refused
  with a message naming the knob;
- **isolation**: by default every job runs in its own worker process with a memory ceiling; a job that
  runs out of memory or crashes fails alone (``failed: out of memory (estimated X, budget Y)``);
- **fair turns**: at most ``max_running_jobs`` train at once.  When others wait, a job that has had its
  turn for ``time_slice_s`` is *held* (it waits at its next progress report, using no CPU) and the
  waiting job that has had the least computing so far — a new job first — takes its place; so a short
  job submitted behind a long one starts within seconds and long jobs share the workers in turn.  A job
  that runs far beyond its estimated time is stopped;
- **fair shares**: a session (the server-issued token every tab of a browser shares) may have
  ``max_jobs_per_session`` unfinished jobs, and while many sessions wait, each may hold only its share
  of the ``max_queued_jobs`` places in the queue;
- identical work is done once: a job equal to one still queued or running is *attached* to (thirty
  students pressing the same preset cost one job); ``fresh=True`` never attaches;
- a session only sees, controls and downloads the jobs it submitted or attached to; finished jobs are
  freed ``job_ttl_s`` after they finish; jobs whose sessions have all gone for ``session_ttl_s`` are
  cancelled;
- with a state folder (``ACTVIZ_STATE_DIR``) the job list and trained models survive a restart
  (:mod:`.persist`); jobs a restart interrupted come back finished as ``interrupted``, and
  ``resume_interrupted`` goes on from the last resume point a job saved (:mod:`.resume`) as a new job.

One scheduler thread (alive while there are jobs) starts, holds and releases jobs; the backend reports
progress into the :class:`Job` records that pages poll with ``snapshot``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from actviz import budget as budget_mod
from actviz import limits as limits_mod
from actviz.errors import InputError
from actviz.training import backend_config, estimates, persist, pool, worker
from actviz.training.backends import Backend, Execution, PendingExecution, ThreadBackend, csv_table
from actviz.training.config import TrainConfig
from actviz.training.records import FINISHED, Job, JobSnapshot, JobStatus, admit

__all__ = ["FINISHED", "Job", "JobManager", "JobSnapshot", "JobStatus", "manager"]

LOG = logging.getLogger("actviz.jobs")
COMMANDS = ("pause", "resume", "step", "set_lr")
OVERRUN_FACTOR = 3.0      # a job that computed this many times its estimate (and OVERRUN_GRACE_S) is stopped
OVERRUN_GRACE_S = 60.0
TICK_S = 0.2
MAX_LIVE_PER_SLOT = 4     # worker processes alive (running, taking a break or paused) per running slot, + 8


class JobManager:
    def __init__(self, limits: limits_mod.Limits | None = None, clock: Callable[[], float] = time.monotonic,
                 runner: Callable[..., Any] | None = None, backend: Backend | None = None,
                 estimator: Callable[[TrainConfig], budget_mod.Estimate] | None = None,
                 state_dir: str | None | bool = True):
        """``state_dir``: the folder jobs are kept in across restarts (True: ``ACTVIZ_STATE_DIR``; None: memory)."""
        self.limits = limits or limits_mod.current()
        self._clock = clock
        threads = self._threads = estimates.job_threads(self.limits)
        if backend is None:
            backend = ThreadBackend(runner) if runner is not None else backend_config.make(
                threads, budget_mod.Budget.current().memory_bytes)
        self.backend = backend
        self._estimator = estimator or (lambda cfg: estimates.training(cfg, threads))
        # What all live jobs' estimates together may use: the memory left beside the web process.
        self._memory_pool_mb = max(self.limits.max_job_memory_mb,
                                   limits_mod.available_memory_mb() - limits_mod.WEB_RESERVE_MB)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, str] = {}
        self._queue: list[str] = []            # never started, in arrival order
        self._executions: dict[str, Execution] = {}
        self._sessions_seen: dict[str, float] = {}
        self._scheduler: threading.Thread | None = None
        self._wake = threading.Event()
        self._closed = False
        self.peak_running = 0
        self.completed = 0
        # Set by the UI layer: is any browser tab of this session still connected?
        self.liveness: Callable[[str], bool] | None = None
        self._persist = persist.Persistence.open(limits_mod.state_dir() if state_dir is True else state_dir, clock)
        self._jobs.update((job.id, job) for job in self._persist.restore(self.limits.job_ttl_s))
        if self._jobs:
            self._ensure_scheduler()  # frees them when their time is up

    @property
    def _runner(self) -> Callable[..., Any] | None:  # tests swap the stand-in runner of a thread backend
        return getattr(self.backend, "runner", None)

    @_runner.setter
    def _runner(self, runner: Callable[..., Any]) -> None:
        self.backend.runner = runner  # type: ignore[attr-defined]

    def warm(self) -> None:
        """Start the workers now (imports done), so the first job does not wait for them."""
        self.backend.warm()

    # --- the interface pages use --------------------------------------------------------------------
    def submit(self, config: TrainConfig, session: str, fresh: bool = False,
               resume_from: tuple[list[str], int] | None = None) -> tuple[str, bool]:
        """Queue ``config`` for ``session``; returns (job id, attached to an identical running job?).
        ``resume_from``: (resume points, their epoch) to go on from (see :meth:`resume_interrupted`)."""
        now = self._clock()
        with self._lock:
            self._sessions_seen[session] = now
            existing = self._jobs.get(self._by_key.get(config.key(), ""))
            if not fresh and existing is not None and existing.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                existing.attach(session)
                return existing.id, True
            admit(self.limits, session, list(self._jobs.values()), [self._jobs[i] for i in self._queue])
        estimate = budget_mod.check(self._estimator(config))  # outside the lock: may look at a CSV
        with self._lock:
            job = Job(config, session, now, estimate)
            job.resume_from, job.resumed_from = resume_from or (None, None)
            self._jobs[job.id] = job
            self._by_key[job.key] = job.id
            self._queue.append(job.id)
            self._persist.save(job)
            LOG.info("job %s queued (%d runs, %s, %s; queue %d): %s", job.id[:6], len(job.runs),
                     budget_mod.human_bytes(estimate.memory_bytes), budget_mod.human_minutes(estimate.minutes),
                     len(self._queue), job.key[:300])
            self._ensure_scheduler()
            free = len(self._turns()) < self.limits.max_running_jobs
        if free:  # a free worker starts it now, so the page that pressed Start already sees it training
            self._schedule()
        self._wake.set()
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
            if job.status.finished:
                return "the job had already finished"
            others = len(job.sessions) - 1
            if others > 0:
                job.detach(session)
                return (f"you stopped following this run; {others} other session(s) are still watching "
                        "it, so it keeps training for them")
            self._stop(job, None)
            return "stopping; the results so far are kept"

    def pause(self, job_id: str, session: str) -> str:
        return self._command(job_id, session, "pause", (), "paused: it waits at the next batch until you resume "
                             "or step")

    def resume(self, job_id: str, session: str) -> str:
        return self._command(job_id, session, "resume", (), "resumed")

    def step(self, job_id: str, session: str) -> str:
        return self._command(job_id, session, "step", (), "training one epoch, then pausing")

    def set_lr(self, job_id: str, session: str, lr: float) -> str:
        from actviz import validate

        value = validate.number(lr, "the learning rate", *limits_mod.LR_RANGE)
        return self._command(job_id, session, "set_lr", (value,), f"learning rate {value:g} from the next step")

    def resume_interrupted(self, job_id: str, session: str) -> tuple[str, bool]:
        """Go on training a job a restart interrupted, from its last resume point, as a new job (admitted,
        budgeted and scheduled as :meth:`submit`); InputError saying why not (then Run again starts over)."""
        job = self._visible(job_id, session)
        if job is None or job.status != JobStatus.INTERRUPTED:
            raise InputError("only a job a server restart interrupted can go on from where it was")
        return self.submit(job.config, session, True, (self._persist.resume_source(job), job.resume_epoch))

    def model(self, job_id: str, session: str, run: int):
        """The trained model of one run (at the weights it keeps), once the job has finished."""
        with self._lock:
            job = self._visible(job_id, session)
        if job is None or job.status not in FINISHED or not isinstance(run, int) or not 0 <= run < len(job.models):
            return None
        ref = job.models[run]
        return persist.load_model(ref) if job.restored else self.backend.load_model(ref)

    def run_task(self, fn: Callable[..., Any], args: tuple[Any, ...], estimate: budget_mod.Estimate,
                 interrupt: Callable[[], None] | None = None) -> Any:
        """A heavy computation (the gradient-flow page) in a worker process, after its budget check;
        ``interrupt`` may raise to cancel it (the session went away or reran)."""
        allowed = budget_mod.check(estimate)
        timeout = max(30.0, OVERRUN_FACTOR * 60 * float(self.limits.max_job_minutes)) if allowed else None
        return self.backend.run_task(fn, args, estimate.memory_bytes, interrupt, timeout)

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
                watchers = job.forget(gone)
                if job.status.finished:
                    if now - (job.finished or now) > self.limits.job_ttl_s:
                        self._free(job)
                        freed += 1
                elif watchers == 0:
                    if job.status == JobStatus.QUEUED:
                        self._stop(job, "abandoned: no open session was following it")
                        self._free(job)
                        freed += 1
                    else:
                        self._stop(job, None)
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
                    "running": len(self._turns()), "held": sum(1 for j in self._live() if j.held),
                    "peak_running": self.peak_running, "workers": len(self._live()),
                    "completed": self.completed, "sessions": len(self._sessions_seen),
                    "backend": self.backend.name}

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            self._persist.freeze([j for j in self._jobs.values() if not j.status.finished])  # read as interrupted
            for job in list(self._jobs.values()):
                if not job.status.finished:
                    self._stop(job, None)
            scheduler = self._scheduler
        self._wake.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._live():
            time.sleep(0.05)
        if scheduler is not None:
            scheduler.join(max(0.1, deadline - time.monotonic()))
        self.backend.close()
        self._persist.close()

    # --- scheduling --------------------------------------------------------------------------------
    def _live(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.status == JobStatus.RUNNING and j.id in self._executions]

    def _turns(self) -> list[Job]:
        """Jobs using a worker's CPU now: running, neither held for another's turn nor paused by their user."""
        return [j for j in self._live() if not j.held and not j.user_paused]

    def _waiting(self) -> list[Job]:
        held = [j for j in self._live() if j.held and not j.user_paused]
        return [self._jobs[i] for i in self._queue] + held

    def _pick(self, candidates: list[Job]) -> Job:
        """Least computing received first (a new job before a long one resuming), then arrival order."""
        return min(candidates, key=lambda j: (j.ran_s, j.created))

    def _memory_free(self, job: Job) -> bool:
        used = sum(j.estimate.memory_bytes for j in self._live())
        return not self._live() or used + job.estimate.memory_bytes <= self._memory_pool_mb * budget_mod.MB

    def _schedule(self) -> None:
        """One round: stop overruns, fill free workers, give waiting jobs their turn.  Decisions are made
        under the lock; starting worker processes (which may wait for the forkserver) happens after it."""
        now = self._clock()
        starts: list[tuple[Job, dict[str, Any], PendingExecution]] = []
        with self._lock:
            for job in self._live():
                job.account(now)
                self._check_overrun(job)
            slots = self.limits.max_running_jobs - len(self._turns())
            waiting = self._waiting()
            while waiting:
                startable = [j for j in waiting if j.held or self._can_start(j)]
                if not startable:
                    break
                nxt = self._pick(startable)
                if slots <= 0:
                    ready = [j for j in self._turns() if now - j.turn_started >= self.limits.time_slice_s]
                    if not ready or (nxt.held and nxt.ran_s >= min(j.ran_s for j in ready)):
                        break
                    victim = max(ready, key=lambda j: (now - j.turn_started, j.ran_s))
                    victim.set_held(True, now)
                    self._executions[victim.id].hold()
                    LOG.info("job %s takes a break for job %s (turns of %g s)", victim.id[:6], nxt.id[:6],
                             self.limits.time_slice_s)
                    slots += 1
                if nxt.held:
                    nxt.set_held(False, now)
                    self._executions[nxt.id].release()
                else:
                    started = self._start(nxt, now)
                    if started is not None:
                        starts.append(started)
                slots -= 1
                waiting.remove(nxt)
                if slots <= 0 and not waiting:
                    break
            self.peak_running = max(self.peak_running, len(self._turns()))
            self._persist.tick(self._live())
        for job, payload, pending in starts:
            self._launch(job, payload, pending)

    def _check_overrun(self, job: Job) -> None:
        """Stop a job that computed far beyond its estimate: CPU time when the backend measures it (a busy
        machine slows the wall clock, not the work), else the time it had its turn."""
        if job.stopping:
            return
        threads = job.estimate.threads(self._threads)
        cpu = getattr(self._executions.get(job.id), "cpu_seconds", None)
        used = cpu() if callable(cpu) else None
        spent = used / threads if used is not None else job.ran_s
        if spent > OVERRUN_FACTOR * job.estimate.seconds + OVERRUN_GRACE_S:
            self._stop(job, f"stopped after {budget_mod.human_minutes(spent / 60)} of computing, far beyond its "
                            f"estimate of {budget_mod.human_minutes(job.estimate.minutes)} (ACTVIZ_MAX_JOB_MINUTES "
                            "bounds the estimate)")

    def _can_start(self, job: Job) -> bool:
        """A worker process for one more job: within the process cap and the memory all live jobs share."""
        return len(self._live()) < MAX_LIVE_PER_SLOT * self.limits.max_running_jobs + 8 and self._memory_free(job)

    def _start(self, job: Job, now: float) -> tuple[Job, dict[str, Any], PendingExecution] | None:
        """Mark ``job`` running (under the lock); the worker is started by :meth:`_launch` after it."""
        self._queue.remove(job.id)
        try:
            table = csv_table(job.config)
        except InputError as exc:
            job.set_status(JobStatus.FAILED, now, str(exc))
            self._drop_key(job)
            self._persist.save(job)
            return None
        job.on_done = self._finished
        job.set_status(JobStatus.RUNNING, now)
        self._persist.save(job)
        payload = {"job_id": job.id, "config": job.config, "estimate_bytes": job.estimate.memory_bytes,
                   "threads": job.estimate.threads(self._threads),
                   "budget_bytes": budget_mod.Budget.current().memory_bytes, "csv_table": table,
                   **self._persist.resume_payload(job)}
        pending = PendingExecution()
        self._executions[job.id] = pending
        LOG.info("job %s started (running %d/%d, queued %d)", job.id[:6], len(self._turns()),
                 self.limits.max_running_jobs, len(self._queue))
        return job, payload, pending

    def _launch(self, job: Job, payload: dict[str, Any], pending: PendingExecution) -> None:
        try:
            execution = self.backend.start(job, payload)
        except Exception as exc:  # no worker could be started: the job fails, the server stays up
            LOG.exception("could not start job %s", job.id[:6])
            job.on_exit(f"could not start a worker: {exc}")
            return
        with self._lock:
            if self._executions.get(job.id) is pending:
                self._executions[job.id] = execution
        pending.attach(execution)

    def _finished(self, job: Job, status: JobStatus, error: str | None, models: list[Any]) -> None:
        """Called by the job when its backend reported the end (from the backend's thread)."""
        models = self._persist.adopt(job.id, models)  # into the state folder before the job says it is done
        with self._lock:
            self._executions.pop(job.id, None)
            job.models = models
            job.set_status(status, self._clock(), error)
            if status != JobStatus.DONE:
                self._drop_key(job)
            self._persist.save(job)
            self.completed += 1
            first = f"; first live point {1e3 * job.first_progress_s:.0f} ms after submit" \
                if job.first_progress_s is not None else ""
            LOG.info("job %s %s (running %d/%d, queued %d)%s%s", job.id[:6], status.value, len(self._turns()),
                     self.limits.max_running_jobs, len(self._queue), first, f": {error}" if error else "")
        self._wake.set()

    def _stop(self, job: Job, reason: str | None) -> None:
        if job.status == JobStatus.QUEUED:
            self._queue.remove(job.id)
            job.set_status(JobStatus.CANCELLED, self._clock(), reason)
            self._drop_key(job)
            self._persist.save(job)
            return
        job.stopping, job.stop_reason = True, reason
        execution = self._executions.get(job.id)
        if execution is not None:
            execution.control("cancel")
            execution.release()

    def _command(self, job_id: str, session: str, command: str, args: tuple[Any, ...], ok: str) -> str:
        with self._lock:
            job = self._visible(job_id, session)
            if job is None:
                raise InputError("that job does not exist any more (or is not yours)")
            if job.status != JobStatus.RUNNING or job.id not in self._executions:
                raise InputError("the job is not training" + (" yet: it waits in the queue"
                                                               if job.status == JobStatus.QUEUED else ""))
            if not worker.controls_supported():
                raise InputError(f"this server's training engine cannot {command.replace('_', ' ')} a running job")
            self._executions[job.id].control(command, *args)
            job.note_command(command, args)
        self._wake.set()
        return ok

    def _ensure_scheduler(self) -> None:
        if self._scheduler is None or not self._scheduler.is_alive():
            self._scheduler = threading.Thread(target=self._run_scheduler, name="actviz-scheduler", daemon=True)
            self._scheduler.start()

    def _run_scheduler(self) -> None:
        period = max(0.5, min(self.limits.job_ttl_s, self.limits.session_ttl_s) / 4)
        last_cleanup = time.monotonic()
        while True:
            self._wake.wait(TICK_S)
            self._wake.clear()
            try:
                self._schedule()
                if time.monotonic() - last_cleanup >= period:
                    last_cleanup = time.monotonic()
                    freed = self.cleanup()
                    if freed:
                        LOG.info("freed %d finished or abandoned job(s)", freed)
                        pool.return_memory_to_os()
            except Exception:  # the scheduler must survive a bug in one round
                LOG.exception("scheduling round failed")
            with self._lock:
                if (self._closed and not self._live()) or not self._jobs:
                    self._scheduler = None
                    return

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
        self._persist.forget(job)  # the row and the model files go together
        if not job.restored:
            self.backend.discard(job.models)
        job.models = []


_MANAGER: JobManager | None = None
_MANAGER_LOCK = threading.Lock()


def manager() -> JobManager:
    """The process-wide manager, shared by every session of this server."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = JobManager()
        return _MANAGER
