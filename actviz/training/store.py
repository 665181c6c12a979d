"""The job list on disk: what a server restart must not lose.

One SQLite file (the standard library's ``sqlite3``) in the state folder, ``$ACTVIZ_STATE_DIR/jobs.sqlite3``,
holds one row per job: its configuration, status, the session tokens that follow it, its wall-clock times,
every run's progress (epoch records, live points, gradient norms, boundary, summary) and the paths of its
trained models — checkpoint files of the one schema (:mod:`actviz.network.checkpoint`) that the workers
write into ``$ACTVIZ_STATE_DIR/models``.  Objects are stored as plain JSON through :mod:`.codec`, never
pickled.

Writes go through one background thread (:meth:`JobStore.save` returns at once; several saves of one job
before the thread gets to them are written once), so a job's progress reports never wait for the disk.
A job is saved when it is queued, when it starts, now and then while it trains (the job manager decides
how often) and when it ends; :meth:`JobStore.load` gives the records back after a restart, and
:func:`interrupted` turns one that was still queued or training into a finished record that says so.

Without a state folder there is no store and everything stays in memory, as before.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from actviz.training import codec
from actviz.training.config import RunProgress, RunStatus, TrainConfig

LOG = logging.getLogger("actviz.store")
FILENAME = "jobs.sqlite3"
SCHEMA_VERSION = 1
INTERRUPTED = "interrupted"            # the job status of a job a restart interrupted
UNFINISHED = ("queued", "running")     # job statuses that cannot survive a restart as they are
_STOPPED = getattr(RunStatus, "STOPPED", RunStatus.CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    status      TEXT NOT NULL,
    config      TEXT NOT NULL,
    sessions    TEXT NOT NULL,
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    error       TEXT,
    runs        TEXT NOT NULL,
    models      TEXT NOT NULL,
    extra       TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (key);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class StoredJob:
    """One job as it is kept on disk (times are wall-clock seconds since the epoch)."""

    id: str
    key: str
    config: TrainConfig
    status: str
    sessions: list[str]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    runs: list[RunProgress] = field(default_factory=list)
    models: list[str | None] = field(default_factory=list)   # checkpoint file per run (absolute paths)
    extra: dict[str, Any] = field(default_factory=dict)       # estimate, lr in effect, ... (plain JSON)
    updated_at: float = 0.0

    @property
    def epochs_done(self) -> int:
        return max((len(r.history) for r in self.runs), default=0)


def interrupted(record: StoredJob, now: float | None = None) -> StoredJob:
    """``record`` as it reads after a restart: a job that was waiting or training is *interrupted* (finished,
    with a message saying at which epoch), its unfinished runs stopped; a finished job is unchanged."""
    if record.status not in UNFINISHED:
        return record
    when = record.updated_at or now or time.time()
    done, total = record.epochs_done, record.config.epochs
    if record.status == "queued" or record.started_at is None:
        message = "interrupted by a server restart while it waited in the queue; start it again"
    else:
        message = (f"interrupted by a server restart after {done} of {total} epochs; start it again "
                   "(the epochs trained so far are kept here)")
    runs = [r.copy() for r in record.runs]
    for r in runs:
        if not getattr(r.status, "finished", r.status not in ("pending", "running")):
            r.status, r.message = _STOPPED, "interrupted by a server restart"
    return replace(record, status=INTERRUPTED, error=message, runs=runs, finished_at=when)


class JobStore:
    """The SQLite job list in ``folder`` (created if needed); see the module docstring."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.models_dir = self.folder / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / FILENAME
        self._pending: dict[str, StoredJob | None] = {}     # job id -> record to write, or None: delete it
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._db_lock = threading.Lock()
        self._db = self._connect()
        self._writer = threading.Thread(target=self._write_loop, name="actviz-store", daemon=True)
        self._writer.start()

    # --- the manager's side ----------------------------------------------------------------------
    def save(self, record: StoredJob) -> None:
        """Write ``record`` soon (in the background); a later save of the same job replaces this one."""
        with self._cond:
            if self._closed:
                return
            self._pending[record.id] = record
            self._cond.notify_all()

    def delete(self, job_id: str) -> None:
        """Forget a job (its model files are the caller's: see :meth:`remove_files`)."""
        with self._cond:
            if self._closed:
                return
            self._pending[job_id] = None
            self._cond.notify_all()

    def load(self, max_age_s: float | None = None, now: float | None = None) -> list[StoredJob]:
        """Every job on disk, oldest first.  Finished jobs older than ``max_age_s`` are deleted (with their
        model files), and rows this version cannot read are skipped with a log line, never fatal."""
        self.flush()
        now = time.time() if now is None else now
        out, expired = [], []
        with self._db_lock:
            rows = self._db.execute("SELECT id, key, status, config, sessions, created_at, started_at, "
                                    "finished_at, error, runs, models, extra, updated_at FROM jobs "
                                    "ORDER BY created_at").fetchall()
        for row in rows:
            try:
                record = self._record(row)
            except (codec.CodecError, ValueError, TypeError) as exc:
                LOG.warning("skipping stored job %s: %s", str(row[0])[:12], exc)
                continue
            end = record.finished_at if record.status not in UNFINISHED else None
            if max_age_s is not None and end is not None and now - end > max_age_s:
                expired.append(record)
                continue
            out.append(record)
        for record in expired:
            self.remove_files([*record.models, *self.resume_files(record.id)])
            self.delete(record.id)
        if expired:
            LOG.info("deleted %d stored job(s) older than %.0f s", len(expired), max_age_s)
        return out

    def model_path(self, job_id: str, run: int) -> Path:
        """Where a run's trained model is kept (the file name the workers use)."""
        return self.models_dir / f"{job_id}-{run}.zip"

    def resume_path(self, job_id: str, run: int) -> Path:
        """Where a run keeps its resume point while it trains (:mod:`.resume`)."""
        return self.models_dir / f"{job_id}-{run}.resume.zip"

    def resume_files(self, job_id: str) -> list[str]:
        """Every resume point of a job on disk (and a half-written one)."""
        return [str(p) for pattern in ("-[0-9]*.resume.zip", "-[0-9]*.resume.zip.part")
                for p in self.models_dir.glob(glob.escape(job_id) + pattern)]

    def remove_files(self, paths: list[str | None]) -> None:
        for p in paths:
            if p and Path(p).resolve().is_relative_to(self.models_dir.resolve()):
                try:
                    os.unlink(p)
                except OSError:
                    pass

    def remove_orphans(self, keep: set[str], older_than_s: float) -> int:
        """Delete model files no stored job refers to (a crash between writing a model and its record),
        once they are older than ``older_than_s``; returns how many."""
        keep = {str(Path(p).resolve()) for p in keep}
        removed, cutoff = 0, time.time() - older_than_s
        for path in list(self.models_dir.glob("*.zip")) + list(self.models_dir.glob("*.part")):
            try:
                if str(path.resolve()) not in keep and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                pass
        return removed

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every save and delete so far is on disk; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._writer.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join(timeout)

    # --- internals ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            os.chmod(self.path, 0o600)  # it holds session tokens
        except OSError:
            pass
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            LOG.warning("%s has schema %s; this version writes %s", self.path, row[0], SCHEMA_VERSION)
        return db

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    with self._db_lock:
                        self._db.close()
                    return
                batch, self._pending = self._pending, {}
                self._busy = True
            try:
                self._write(batch)
            except Exception:  # a full disk must not take the server down: the jobs stay in memory
                LOG.exception("could not write %d job record(s) to %s", len(batch), self.path)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, batch: dict[str, StoredJob | None]) -> None:
        rows, deletes = [], []
        for job_id, record in batch.items():
            if record is None:
                deletes.append((job_id,))
                continue
            try:
                rows.append(self._row(record))
            except codec.CodecError as exc:
                LOG.warning("cannot store job %s: %s", job_id[:12], exc)
        with self._db_lock:  # the connection is shared with load()
            db = self._db
            db.execute("BEGIN")
            try:
                db.executemany("DELETE FROM jobs WHERE id = ?", deletes)
                db.executemany("INSERT OR REPLACE INTO jobs (id, key, status, config, sessions, created_at, "
                               "started_at, finished_at, error, runs, models, extra, updated_at) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _relative(self, path: str | None) -> str | None:
        if not path:
            return None
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.folder.resolve()))
        except ValueError:
            return str(p)

    def _row(self, r: StoredJob) -> tuple[Any, ...]:
        return (r.id, r.key, str(r.status), codec.dumps(r.config), json.dumps(sorted(r.sessions)), r.created_at,
                r.started_at, r.finished_at, r.error, codec.dumps(list(r.runs)),
                json.dumps([self._relative(m) for m in r.models]), codec.dumps(r.extra), r.updated_at or time.time())

    def _record(self, row: tuple[Any, ...]) -> StoredJob:
        (job_id, key, status, config, sessions, created_at, started_at, finished_at, error, runs, models, extra,
         updated_at) = row
        cfg = codec.loads(config)
        if not isinstance(cfg, TrainConfig):
            raise codec.CodecError("the stored config is not a training config")
        progress = codec.loads(runs)
        if not isinstance(progress, list) or not all(isinstance(r, RunProgress) for r in progress):
            raise codec.CodecError("the stored runs are not run records")
        paths = [str(self.folder / m) if m and not os.path.isabs(m) else m for m in json.loads(models)]
        tokens = json.loads(sessions)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise codec.CodecError("the stored sessions are not a list of tokens")
        info = codec.loads(extra)
        return StoredJob(job_id, key, cfg, status, tokens, float(created_at),
                         None if started_at is None else float(started_at),
                         None if finished_at is None else float(finished_at), error, progress, paths,
                         info if isinstance(info, dict) else {}, float(updated_at))


_STORES: dict[str, JobStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(folder: str | os.PathLike[str] | None) -> JobStore | None:
    """The process's store for ``folder`` (one per folder), or None without a folder or when it cannot be
    used (logged: the server then keeps its jobs in memory rather than not starting)."""
    if folder is None:
        return None
    key = os.path.abspath(folder)
    with _STORES_LOCK:
        if key not in _STORES:
            try:
                _STORES[key] = JobStore(key)
            except (OSError, sqlite3.Error) as exc:
                LOG.error("cannot keep jobs in %s (%s); they will not survive a restart", key, exc)
                return None
        return _STORES[key]
