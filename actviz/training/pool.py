"""The server's side of the worker processes (see :mod:`.worker`): start them warm, talk to them, end them.

- Workers are forked by a multiprocessing *forkserver* that imported everything once (``worker.PRELOAD``);
  :meth:`WorkerPool.warm` starts it (and a spare job worker) when the server starts, so the first job
  does not wait for torch to import.  A job takes the spare and a new spare is forked at once.
- One dispatcher thread reads every worker's pipe (``multiprocessing.connection.wait``) and hands the
  messages to the job's event handler; a pipe that ends without a final message is a worker that died
  (killed by its memory ceiling or by the kernel): the job fails with the out-of-memory message.
- Short computations (the gradient-flow page) go to task workers: :meth:`run_task` waits for the result
  while polling ``interrupt`` (the page's "is my session still there, was I rerun?"), and cancels by
  killing the task worker and forking a fresh one.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import connection, spawn
from typing import Any, Protocol

from actviz.errors import InputError
from actviz.training import worker

LOG = logging.getLogger("actviz.jobs")
OOM_SIGNALS = (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)
TASK_RECYCLE_RSS = 1536 * 2**20   # a task worker that grew beyond this is replaced after its task
_CONTEXT: Any = None
_CONTEXT_LOCK = threading.Lock()


_spawning = threading.local()


def _preparation_data(name: str, _original: Callable[[str], dict[str, Any]] = spawn.get_preparation_data
                      ) -> dict[str, Any]:
    """multiprocessing re-imports the parent's ``__main__`` in a new process.  In a Streamlit server
    ``__main__`` is whatever page script is running (Streamlit installs each script as ``__main__``):
    our workers must never run a page, so for them the main module is left out."""
    data = _original(name)
    if getattr(_spawning, "active", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


def context() -> Any:
    """The forkserver context, with the preload list set once per process."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(worker.PRELOAD)
            spawn.get_preparation_data = _preparation_data
            _CONTEXT = ctx
        return _CONTEXT


class JobEvents(Protocol):
    """What the pool reports about one job (the job manager's side)."""

    def on_message(self, message: tuple[Any, ...]) -> None: ...
    def on_exit(self, message: str | None) -> None: ...


@dataclass(eq=False)
class Worker:
    kind: str                      # "job" or "task"
    process: Any
    conn: Any
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    pid: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    events: JobEvents | None = None
    finished: bool = False         # a final message ("done"/"failed") arrived
    estimate_bytes: int = 0
    budget_bytes: int | None = None
    tasks: int = 0

    def send(self, *message: Any) -> bool:
        try:
            with self.send_lock:
                self.conn.send(message)
            return True
        except (OSError, ValueError, BrokenPipeError):
            return False

    def kill(self) -> None:
        if self.process.is_alive():
            try:
                os.kill(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass


class JobProcess:
    """One running job as the manager drives it (the process backend's execution handle)."""

    def __init__(self, pool: WorkerPool, w: Worker) -> None:
        self._pool, self._worker = pool, w

    @property
    def pid(self) -> int | None:
        return self._worker.process.pid

    def control(self, command: str, *args: Any) -> None:
        self._worker.send("control", command, list(args))

    def hold(self) -> None:
        self._worker.send("hold")

    def release(self) -> None:
        self._worker.send("release")

    def kill(self) -> None:
        self._worker.kill()

    def cpu_seconds(self) -> float | None:
        """CPU time the worker has used (user + system, all its threads), or None once it has gone."""
        return _cpu_seconds(self._worker.process.pid)


@dataclass
class _Task:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: tuple[str, str] | None = None


class WorkerPool:
    def __init__(self, threads: int = 1, spare: int = 1, task_workers: int = 1, task_budget_bytes: int | None = None):
        self.threads, self.spare, self.task_count = max(1, threads), max(0, spare), max(1, task_workers)
        self.task_budget_bytes = task_budget_bytes
        self._lock = threading.Lock()
        self._workers: dict[Any, Worker] = {}          # conn -> worker
        self._spares: list[Worker] = []
        self._idle_tasks: list[Worker] = []
        self._task_slots = threading.Semaphore(self.task_count)
        self._tasks: dict[int, _Task] = {}
        self._task_ids = itertools.count(1)
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._closed = False
        self._dispatcher: threading.Thread | None = None
        self.started_workers = 0

    # --- lifecycle ---------------------------------------------------------------------------------------
    def warm(self, block: bool = False) -> None:
        """Start the forkserver (imports done once), a spare job worker and the task workers."""
        def go() -> None:
            try:
                self._ensure_dispatcher()
                with self._lock:
                    missing = self.spare - len(self._spares)
                for _ in range(missing):
                    self._add_spare()
                for w in list(self._spares):
                    w.ready.wait(120)
            except Exception:  # a failed warm-up must not take the server down: jobs start cold instead
                LOG.exception("warming the worker pool failed")
        if block:
            go()
        else:
            threading.Thread(target=go, name="actviz-warmup", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
        for w in workers:
            w.kill()
        self._wake()
        if self._dispatcher is not None:
            self._dispatcher.join(5)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"processes": len(self._workers), "spares": len(self._spares),
                    "started": self.started_workers}

    def pids(self, kind: str | None = None) -> list[int]:
        """Process ids of the live workers (of one kind: "job" or "task")."""
        with self._lock:
            return [w.process.pid for w in self._workers.values() if w.process.pid and kind in (None, w.kind)]

    # --- jobs --------------------------------------------------------------------------------------------
    def start_job(self, payload: dict[str, Any], events: JobEvents) -> JobProcess:
        """Hand ``payload`` (see worker._run_job) to a spare worker; messages then go to ``events``."""
        self._ensure_dispatcher()
        with self._lock:
            w = self._spares.pop(0) if self._spares else None
        if w is None:
            w = self._spawn("job")
        w.events = events
        w.estimate_bytes, w.budget_bytes = int(payload["estimate_bytes"]), payload.get("budget_bytes")
        if not w.send("job", payload):
            w.kill()
        self._add_spare_later()
        return JobProcess(self, w)

    # --- tasks -------------------------------------------------------------------------------------------
    def run_task(self, fn: Callable[..., Any], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                 estimate_bytes: int = 0, interrupt: Callable[[], None] | None = None,
                 timeout_s: float | None = None) -> Any:
        """``fn(*args, **kwargs)`` in a task worker.  ``interrupt`` is called every 0.1 s while waiting and
        may raise to cancel (the worker is killed and replaced).  InputError for refusals and failures."""
        self._ensure_dispatcher()
        deadline = time.monotonic() + timeout_s if timeout_s else None
        while not self._task_slots.acquire(timeout=0.1):
            if interrupt is not None:
                interrupt()
        w = None
        try:
            with self._lock:
                w = self._idle_tasks.pop() if self._idle_tasks else None
            if w is None or not w.process.is_alive():
                w = self._spawn("task")
            task_id = next(self._task_ids)
            task = _Task()
            with self._lock:
                self._tasks[task_id] = task
            w.send("task", task_id, fn, args, kwargs or {}, int(estimate_bytes))
            finished = False
            try:
                while not task.done.wait(0.1):
                    if interrupt is not None:
                        interrupt()
                    if deadline is not None and time.monotonic() > deadline:
                        raise InputError("the computation took longer than this server allows one computation "
                                         "(ACTVIZ_MAX_JOB_MINUTES); use a smaller network or fewer samples")
                    if not w.process.is_alive() and not task.done.is_set():
                        task.done.wait(0.5)
                        if not task.done.is_set():
                            raise InputError(_died(w))
                finished = True
            finally:
                with self._lock:
                    self._tasks.pop(task_id, None)
                if not finished:  # cancelled, timed out or died: this worker's state is unknown
                    w.kill()
                    w = None
            if task.error is not None:
                kind, message = task.error
                if kind == "memory":
                    w.kill()
                    w = None
                raise InputError(message)
            w.tasks += 1
            if _rss(w.process.pid) > TASK_RECYCLE_RSS:
                w.send("exit")
                w = None
            return task.result
        finally:
            if w is not None:
                with self._lock:
                    self._idle_tasks.append(w)
            self._task_slots.release()

    # --- internals ---------------------------------------------------------------------------------------
    def _spawn(self, kind: str) -> Worker:
        ctx = context()
        parent, child = ctx.Pipe(duplex=True)
        if kind == "job":
            target, args = worker.job_main, (child, self.threads)
        else:
            target, args = worker.task_main, (child, self.threads, self.task_budget_bytes)
        process = ctx.Process(target=target, args=args, name=f"actviz-{kind}", daemon=True)
        _spawning.active = True
        try:
            process.start()
        finally:
            _spawning.active = False
        child.close()
        w = Worker(kind, process, parent)
        with self._lock:
            self._workers[parent] = w
            self.started_workers += 1
        self._wake()
        return w

    def _add_spare(self) -> None:
        try:
            w = self._spawn("job")
        except Exception as exc:  # the next job forks its own worker; only the head start is lost
            if not self._closed and not sys.is_finalizing():
                LOG.warning("could not start a spare worker: %s", exc)
            return
        with self._lock:
            self._spares.append(w)

    def _add_spare_later(self) -> None:
        with self._lock:
            needed = not self._closed and len(self._spares) < self.spare
        if needed:
            threading.Thread(target=self._add_spare, name="actviz-spare", daemon=True).start()

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"x")
        except (OSError, ValueError):
            pass

    def _ensure_dispatcher(self) -> None:
        with self._lock:
            if self._dispatcher is None or not self._dispatcher.is_alive():
                self._dispatcher = threading.Thread(target=self._dispatch, name="actviz-dispatcher", daemon=True)
                self._dispatcher.start()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                conns = list(self._workers)
            ready = connection.wait([*conns, self._wake_r], timeout=1.0)
            for conn in ready:
                if conn is self._wake_r:
                    try:
                        while self._wake_r.poll():
                            self._wake_r.recv_bytes()
                    except (OSError, EOFError):
                        pass
                    continue
                with self._lock:
                    w = self._workers.get(conn)
                if w is None:
                    continue
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._ended(w)
                    continue
                except Exception:  # a message that cannot be unpickled: treat the worker as broken
                    LOG.exception("unreadable message from a worker")
                    w.kill()
                    continue
                self._handle(w, message)

    def _handle(self, w: Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            w.pid = message[1]
            w.ready.set()
            return
        if w.kind == "task":
            if kind in ("result", "error"):
                with self._lock:
                    task = self._tasks.get(message[1])
                if task is not None:
                    if kind == "result":
                        task.result = message[2]
                    else:
                        task.error = (message[2], message[3])
                    task.done.set()
            return
        if kind in ("done", "failed"):
            w.finished = True
        if w.events is not None:
            try:
                w.events.on_message(message)
            except Exception:  # a bug in bookkeeping must not stop the dispatcher
                LOG.exception("job event handler failed on %s", kind)

    def _ended(self, w: Worker) -> None:
        w.process.join(2)
        with self._lock:
            self._workers.pop(w.conn, None)
            if w in self._spares:
                self._spares.remove(w)
            if w in self._idle_tasks:
                self._idle_tasks.remove(w)
        try:
            w.conn.close()
        except OSError:
            pass
        if w.kind == "job" and w.events is not None:
            try:
                w.events.on_exit(None if w.finished else _died(w))
            except Exception:
                LOG.exception("job exit handler failed")
        if w.kind == "job" and w.events is None and not self._closed:
            self._add_spare_later()  # a spare that died (killed from outside): replace it


def _died(w: Worker) -> str:
    code = w.process.exitcode
    if code is not None and code < 0 and -code in OOM_SIGNALS:
        return worker.oom_message(w.estimate_bytes, w.budget_bytes)
    return f"the worker process ended unexpectedly (exit code {code}); the server and other jobs are fine"


def _cpu_seconds(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss(pid: int | None) -> int:
    if not pid:
        return 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def return_memory_to_os() -> None:
    """Hand freed heap pages back to the OS after jobs are dropped (glibc keeps them otherwise)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
