"""The job manager's side of the on-disk job list (:mod:`.store`): what it writes when, and what it reads back.

A job is written when it is queued, when it starts, at most every ``SAVE_EVERY_S`` seconds while its
progress changes (the scheduler's rounds call :meth:`Persistence.tick`, so the engine's reports never
wait for the disk and a fast job costs a bounded number of writes) and when it ends — with the paths of
its trained models.  Those files live in the store's ``models`` folder: a backend that wrote them
elsewhere (a temporary spool) has them moved there before the job is recorded as finished, and they are
deleted only together with the job's row (:meth:`Persistence.forget`, when the manager frees the job).

After a restart :meth:`Persistence.restore` gives the manager its jobs back: finished ones as they were
(a missing model file is said on the job), queued or training ones as finished *interrupted* records
(:func:`.store.interrupted`).  A training job also saves *resume points* in the models folder while it
trains (:mod:`.resume`; :meth:`Persistence.resume_payload` tells its worker where): an interrupted job whose
points are there says from which epoch it can go on (``Job.resume_epoch``, or ``Job.resume_note`` saying
why not), and they are deleted when the job ends normally or is freed.  Nothing here may stop the server:
a damaged database is moved aside and a new one started, with a log line.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actviz.budget import MB, Estimate
from actviz.errors import InputError
from actviz.training import resume as resume_mod
from actviz.training import store as store_mod
from actviz.training.backends import _load_checkpoint
from actviz.training.records import Job, JobStatus
from actviz.training.store import JobStore, StoredJob

LOG = logging.getLogger("actviz.persist")
SAVE_EVERY_S = 2.0          # a training job's progress is written at most this often ...
SAVE_COST_S = 1.3e-3        # ... and, for a long job, at most every this many seconds per epoch record kept
SAVE_MAX_S = 60.0           # (encoding a record costs ~26 µs of the web process: writes stay near 2 % of it)
MAX_LIVE_STORED = 1000      # live (within-epoch) loss points kept on disk per run, evenly thinned
ORPHAN_AGE_S = 3600.0       # model files no stored job refers to are removed at start-up after this long
MISSING_MODEL = "its trained model file is missing"


def open_for(folder: str | None) -> JobStore | None:
    """The store in ``folder`` (None: memory only).  A database that cannot be read is moved aside as
    ``jobs.sqlite3.damaged-<time>`` and a new one begun, so the server starts with what it can."""
    if folder is None:
        return None
    opened = store_mod.open_store(folder)
    if opened is not None:
        try:
            with opened._db_lock:  # a damaged file often opens fine and fails at the first read
                opened._db.execute("SELECT count(*) FROM jobs").fetchone()
            return opened
        except sqlite3.Error as exc:
            LOG.error("the job list %s cannot be read (%s); starting a new one", opened.path, exc)
            opened.close(1.0)
            with store_mod._STORES_LOCK:
                store_mod._STORES.pop(os.path.abspath(folder), None)
    path = Path(folder) / store_mod.FILENAME
    if path.exists():
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        try:
            path.replace(aside)
            for extra in ("-wal", "-shm"):
                Path(str(path) + extra).unlink(missing_ok=True)
            LOG.error("moved the unreadable job list to %s; earlier jobs are not shown", aside)
        except OSError as exc:
            LOG.error("cannot move the unreadable job list %s aside (%s)", path, exc)
            return None
    return store_mod.open_store(folder)


def load_model(ref: Any) -> Any:
    """A restored job's trained model from its file (the checkpoint checks of any upload), or None when the
    file is gone or damaged (logged; the page says the model is not available)."""
    if not isinstance(ref, str):
        return None
    try:
        return _load_checkpoint(ref)
    except InputError as exc:
        LOG.warning("the model file %s cannot be read: %s", ref, exc)
        return None


class Persistence:
    """Writes a manager's jobs to ``store`` and reads them back (times converted between the manager's
    monotonic clock and the wall clock the store keeps).  Without a store every call does nothing."""

    def __init__(self, store: JobStore | None, clock: Callable[[], float]):
        self.store = store
        self._clock = clock
        self._saved: dict[str, tuple[int, float]] = {}   # job id -> (version, clock) of its last save
        self._frozen = False

    @classmethod
    def open(cls, folder: str | None, clock: Callable[[], float]) -> Persistence:
        """The persistence of a manager keeping its jobs in ``folder`` (None: in memory only)."""
        return cls(open_for(folder), clock)

    # --- writing ---------------------------------------------------------------------------------------
    def _wall(self, mono: float | None) -> float | None:
        return None if mono is None else time.time() - (self._clock() - mono)

    def record(self, job: Job) -> StoredJob:
        with job._lock:
            runs = [r.copy() for r in job.runs]
            for r in runs:  # (the network view's weights stay: ≤ 2,000 numbers, the picture of an interrupted run)
                if len(r.live) > MAX_LIVE_STORED:
                    step = len(r.live) / MAX_LIVE_STORED
                    r.live = [r.live[int(i * step)] for i in range(MAX_LIVE_STORED - 1)] + [r.live[-1]]
            models = [m if isinstance(m, str) else None for m in job.models]
            return StoredJob(job.id, job.key, job.config, str(job.status), sorted(job.sessions), job.created_at,
                             self._wall(job.started), self._wall(job.finished), job.error, runs, models,
                             {"estimate": job.estimate.to_json(), "lr": job.control_state.get("lr"),
                              "resumed_from": job.resumed_from},
                             time.time())

    def save(self, job: Job) -> None:
        if self.store is None or self._frozen:
            return
        try:
            self.store.save(self.record(job))
        except Exception:  # the job goes on in memory whatever the disk does
            LOG.exception("could not record job %s", job.id[:6])
        self._saved[job.id] = (job.version, self._clock())

    def tick(self, jobs: list[Job]) -> None:
        """Save the training jobs whose progress changed, each at most every ``SAVE_EVERY_S`` seconds (less
        often as its history grows, so that rewriting it stays a small part of the web process's time)."""
        if self.store is None:
            return
        now = self._clock()
        for job in jobs:
            version, when = self._saved.get(job.id, (-1, -SAVE_MAX_S))
            records = sum(len(r.history) for r in job.runs)
            every = min(SAVE_MAX_S, max(SAVE_EVERY_S, SAVE_COST_S * records))
            if job.version != version and now - when >= every:
                self.save(job)

    def resume_paths(self, job_id: str, runs: int) -> list[str]:
        return [] if self.store is None else [str(self.store.resume_path(job_id, i)) for i in range(runs)]

    def resume_payload(self, job: Job) -> dict[str, Any]:
        """What a job's worker needs to save resume points (none without a store) and, for a job that goes
        on from an interrupted one, to read its points."""
        out: dict[str, Any] = {"resume_from": job.resume_from} if job.resume_from else {}
        if self.store is not None:
            out.update(resume_to=self.resume_paths(job.id, len(job.runs)), resume_every_s=resume_mod.EVERY_S)
        return out

    def resume_source(self, job: Job) -> list[str]:
        """The resume points an interrupted job can go on from, checked again now; InputError saying why not."""
        paths = self.resume_paths(job.id, len(job.runs))
        try:
            job.resume_epoch, job.resume_note = resume_mod.peek(paths, job.config), None
        except InputError as exc:
            job.resume_epoch, job.resume_note = None, str(exc)
            with job._lock:
                job.version += 1
            raise
        return paths

    def adopt(self, job_id: str, models: list[Any]) -> list[Any]:
        """The finished job's model files, moved into the store's folder if a backend wrote them elsewhere.
        Its resume points go (it ended), unless the server is stopping: then they are what it resumes from."""
        if self.store is None:
            return models
        if not self._frozen:
            self.store.remove_files(self.store.resume_files(job_id))
        out = []
        home = self.store.models_dir.resolve()
        for i, m in enumerate(models):
            if isinstance(m, str) and os.path.exists(m) and not Path(m).resolve().is_relative_to(home):
                target = self.store.model_path(job_id, i)
                try:
                    shutil.move(m, target)
                    m = str(target)
                except OSError as exc:
                    LOG.warning("cannot keep model %s in %s: %s", m, home, exc)
            out.append(m)
        return out

    def forget(self, job: Job) -> None:
        """The job is freed: its row and its model files go together."""
        if self.store is None:
            return
        self._saved.pop(job.id, None)
        self.store.delete(job.id)
        self.store.remove_files([m for m in job.models if isinstance(m, str)] + self.store.resume_files(job.id))

    def freeze(self, unfinished: list[Job]) -> None:
        """The server is stopping: record the unfinished jobs as they stand now and nothing after, so the
        next start reads them as interrupted (not as stopped by their users)."""
        for job in unfinished:
            self.save(job)
        self._frozen = True

    def close(self) -> None:
        if self.store is not None and not self.store.flush():
            LOG.warning("some job records were not written to %s before shutdown", self.store.path)

    # --- reading ---------------------------------------------------------------------------------------
    def restore(self, max_age_s: float) -> list[Job]:
        """The stored jobs as finished records (interrupted ones saying so), oldest first."""
        if self.store is None:
            return []
        try:
            stored = self.store.load(max_age_s=max_age_s)
        except (sqlite3.Error, OSError) as exc:
            LOG.error("cannot read the job list %s (%s); starting without earlier jobs", self.store.path, exc)
            return []
        jobs, keep = [], set()
        for record in stored:
            try:
                was = record.status
                record = store_mod.interrupted(record)
                job = self._job(record)
            except Exception as exc:  # one odd row must not hide the others
                LOG.warning("skipping stored job %s: %s", record.id[:12], exc)
                continue
            keep.update(m for m in job.models if isinstance(m, str))
            if job.status == JobStatus.INTERRUPTED and record.started_at is not None:
                keep.update(self._resumable(job))
            jobs.append(job)
            if was != record.status or job.error != record.error:
                self.save(job)   # written back as it now reads (interrupted, or a model missing)
        removed = self.store.remove_orphans(keep, ORPHAN_AGE_S)
        if removed:
            LOG.info("removed %d model file(s) no stored job refers to", removed)
        interrupted = sum(j.status == JobStatus.INTERRUPTED for j in jobs)
        LOG.info("restored %d job(s) from %s (%d interrupted by the restart)", len(jobs), self.store.path,
                 interrupted)
        return jobs

    def _resumable(self, job: Job) -> list[str]:
        """An interrupted job's resume points (kept), with the epoch they go on from or why they cannot."""
        try:
            return self.resume_source(job)
        except InputError:
            return self.resume_paths(job.id, len(job.runs))

    def _job(self, record: StoredJob) -> Job:
        now, wall = self._clock(), time.time()
        mono = lambda t: None if t is None else now - (wall - t)  # noqa: E731
        job = Job(record.config, "", mono(record.created_at) or now, _estimate(record.extra.get("estimate")))
        job.id, job.key, job.restored = record.id, record.key, True
        job.sessions = set(record.sessions)
        job.created_at = record.created_at
        job.status = JobStatus(record.status)
        job.started, job.finished = mono(record.started_at), mono(record.finished_at)
        job.error = record.error
        if len(record.runs) == len(job.runs):
            job.runs = record.runs
        job.models = list(record.models)
        job._reported_end = True
        lr = record.extra.get("lr")
        if isinstance(lr, (int, float)):
            job.control_state = {"lr": float(lr)}
        resumed = record.extra.get("resumed_from")
        job.resumed_from = resumed if isinstance(resumed, int) else None
        if job.status == JobStatus.DONE:
            missing = [i for i, m in enumerate(job.models) if m and not os.path.isfile(m)]
            if missing or (not job.models and any(r.history for r in job.runs)):
                which = ", ".join(job.runs[i].label for i in missing) if missing else "every run"
                job.error = f"{MISSING_MODEL} ({which}): the results are shown, the model cannot be looked into"
                for i in missing:
                    job.models[i] = None
        job.version = 1
        return job


def _estimate(data: Any) -> Estimate:
    """The job's estimate as recorded (only what the page shows of it)."""
    if not isinstance(data, dict):
        return Estimate("this training job")
    parts = data.get("memory_parts_mb")
    memory = {str(k): int(float(v) * MB) for k, v in parts.items() if isinstance(v, (int, float))} \
        if isinstance(parts, dict) else {}
    minutes, tflop = data.get("minutes"), data.get("tflop")
    return Estimate(str(data.get("what") or "this training job"), memory,
                    flops=float(tflop) * 1e12 if isinstance(tflop, (int, float)) else 0.0,
                    seconds=60.0 * float(minutes) if isinstance(minutes, (int, float)) else 0.0)
