"""Where jobs run, behind one small interface the job manager drives.

A backend starts a job and returns an :class:`Execution` — the handle the manager uses to forward the
engine's commands (pause, resume, step, set_lr, cancel), to make the job take turns (``hold`` /
``release``: it waits at its next progress report) and to kill it.  Everything the job reports comes
back as messages to the job's ``on_message`` / ``on_exit`` (see :mod:`.worker` for the messages).

- :class:`ProcessBackend` (the server's default): one worker process per job, forked warm, with a memory
  ceiling; trained models come back once, as checkpoint files in a spool folder.
- :class:`ThreadBackend`: jobs in threads of this process with any ``runner(cfg, sink, control)``; for
  tests with stand-in runners.
- :class:`~.ray_backend.RayBackend` (``ACTVIZ_JOB_BACKEND=ray``, chosen in :mod:`.backend_config`): a job
  is a Ray actor running the same engine and sink; its messages come back by polling the actor, its
  models as checkpoint files in this server's spool folder.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from actviz.cache import memo
from actviz.errors import InputError
from actviz.network import checkpoint, models
from actviz.training import worker
from actviz.training.pool import WorkerPool


class Execution(Protocol):
    def control(self, command: str, *args: Any) -> None: ...
    def hold(self) -> None: ...
    def release(self) -> None: ...
    def kill(self) -> None: ...


class Backend(Protocol):
    name: str

    def warm(self) -> None: ...
    def start(self, job: Any, payload: dict[str, Any]) -> Execution: ...
    def load_model(self, ref: Any) -> Any: ...
    def discard(self, refs: list[Any]) -> None: ...
    def run_task(self, fn: Callable[..., Any], args: tuple[Any, ...], estimate_bytes: int,
                 interrupt: Callable[[], None] | None, timeout_s: float | None) -> Any: ...
    def close(self) -> None: ...


def spool_dir() -> Path:
    """Where job workers write trained models: ``$ACTVIZ_STATE_DIR/models`` (a volume in Docker), else a
    private temporary folder of this server process."""
    state = os.environ.get("ACTVIZ_STATE_DIR", "").strip()
    if state:
        path = Path(state) / "models"
        try:
            path.mkdir(parents=True, exist_ok=True)
            return path
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="actviz-models-"))


@memo(maxsize=16)
def _load_checkpoint(path: str) -> Any:
    """A trained model from its checkpoint file (validated like any upload; cached: pages ask on every rerun)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    loaded = checkpoint.load(data)
    init = (loaded.config.get("model") or {}).get("init")
    if isinstance(init, dict):  # the network was built with the default init to receive the weights
        try:
            loaded.model.init = models.InitSpec.from_dict(init)
        except InputError:
            pass
    return loaded.model


class CheckpointFiles:
    """Trained models kept as checkpoint files (a path per run): read back with the checkpoint checks,
    deleted when the job is freed.  Any other reference is the model itself."""

    def load_model(self, ref: Any) -> Any:
        return _load_checkpoint(ref) if isinstance(ref, str) else ref

    def discard(self, refs: list[Any]) -> None:
        for ref in refs:
            if isinstance(ref, str):
                try:
                    os.unlink(ref)
                except OSError:
                    pass


class ProcessBackend(CheckpointFiles):
    name = "processes"

    def __init__(self, threads: int, task_budget_bytes: int | None, spare: int = 1, task_workers: int = 1):
        self.pool = WorkerPool(threads=threads, spare=spare, task_workers=task_workers,
                               task_budget_bytes=task_budget_bytes)
        self._spool: Path | None = None
        self._lock = threading.Lock()

    @property
    def spool(self) -> Path:
        with self._lock:
            if self._spool is None:
                self._spool = spool_dir()
            return self._spool

    def warm(self) -> None:
        self.pool.warm()

    def start(self, job: Any, payload: dict[str, Any]) -> Execution:
        return self.pool.start_job({**payload, "model_dir": str(self.spool)}, job)

    def run_task(self, fn: Callable[..., Any], args: tuple[Any, ...], estimate_bytes: int,
                 interrupt: Callable[[], None] | None, timeout_s: float | None) -> Any:
        return self.pool.run_task(fn, args, None, estimate_bytes, interrupt, timeout_s)

    def close(self) -> None:
        self.pool.close()
        with self._lock:
            spool, self._spool = self._spool, None
        if spool is not None and spool.name.startswith("actviz-models-"):
            shutil.rmtree(spool, ignore_errors=True)


class _StateFeed:
    """The thread backend's counterpart of the worker's ``state`` messages: the control's state copied into
    the job record after every command and every epoch report (the page and the scheduler read it there)."""

    def __init__(self, job: Any, control: Any) -> None:
        self.job, self.control = job, control
        self.lock = threading.Lock()   # a state read earlier must not be applied after one read later

    def push(self) -> None:
        state = getattr(self.control, "state", None)
        on_message = getattr(self.job, "on_message", None)
        if callable(state) and callable(on_message):
            with self.lock:
                on_message(("state", state()))


class _ThreadExecution:
    def __init__(self, control: Any, gate: worker.Gate, feed: _StateFeed) -> None:
        self._control, self.gate, self.feed = control, gate, feed

    def control(self, command: str, *args: Any) -> None:
        worker.apply_command(self._control, command, args)
        if command == "cancel":
            self.gate.cancelled.set()
            self.gate.release()
        self.feed.push()

    def hold(self) -> None:
        self.gate.hold()

    def release(self) -> None:
        self.gate.release()

    def kill(self) -> None:
        self.control("cancel")


class _GatedSink:
    """The job as the engine's sink, waiting at the gate while the job is held (time slicing)."""

    def __init__(self, job: Any, gate: worker.Gate, feed: _StateFeed) -> None:
        self._job, self._gate, self._feed = job, gate, feed

    def run_started(self, run: int) -> None:
        self._gate.wait()
        self._job.run_started(run)

    def live_point(self, *args: Any) -> None:
        self._gate.wait()
        self._job.live_point(*args)

    def epoch_done(self, *args: Any) -> None:
        self._job.epoch_done(*args)
        self._feed.push()
        self._gate.wait()

    def run_finished(self, *args: Any) -> None:
        self._job.run_finished(*args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._job, name)


class ThreadBackend:
    """Jobs in threads of this process, with a pluggable runner (tests, or a trusted single-user setup)."""

    name = "threads"

    def __init__(self, runner: Callable[..., Any]):
        self.runner = runner

    def warm(self) -> None:
        pass

    def start(self, job: Any, payload: dict[str, Any]) -> Execution:
        control, gate = worker.make_control(), worker.Gate()
        feed = _StateFeed(job, control)
        execution = _ThreadExecution(control, gate, feed)

        def run() -> None:
            try:
                runs = self.runner(payload["config"], _GatedSink(job, gate, feed), control, **self._resuming(payload))
                job.on_message(("done", [getattr(r, "model", None) for r in runs], bool(control.is_set())))
            except InputError as exc:
                job.on_message(("failed", str(exc)))
            except Exception as exc:  # a bug must not kill the server; the page shows the message
                traceback.print_exc()
                job.on_message(("failed", f"internal error: {type(exc).__name__}: {exc}"))
            job.on_exit(None)

        threading.Thread(target=run, name=f"actviz-job-{job.id[:6]}", daemon=True).start()
        return execution

    def _resuming(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Resume points for a runner that takes them (the engine's ``train``; stand-ins in tests do not)."""
        try:
            accepted = inspect.signature(self.runner).parameters
        except (TypeError, ValueError):
            return {}
        if "saver" not in accepted:
            return {}
        from actviz.training import resume

        return resume.engine_kwargs(payload)

    def load_model(self, ref: Any) -> Any:
        return ref

    def discard(self, refs: list[Any]) -> None:
        pass

    def run_task(self, fn: Callable[..., Any], args: tuple[Any, ...], estimate_bytes: int,
                 interrupt: Callable[[], None] | None, timeout_s: float | None) -> Any:
        return fn(*args)

    def close(self) -> None:
        pass


class PendingExecution:
    """The execution of a job whose worker is being started: commands wait here and are replayed on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: Execution | None = None
        self._calls: list[tuple[str, tuple[Any, ...]]] = []

    def attach(self, target: Execution) -> None:
        with self._lock:
            self._target, calls, self._calls = target, self._calls, []
        for name, args in calls:
            getattr(target, name)(*args)

    def _call(self, name: str, *args: Any) -> None:
        with self._lock:
            if self._target is None:
                self._calls.append((name, args))
                return
            target = self._target
        getattr(target, name)(*args)

    def control(self, command: str, *args: Any) -> None:
        self._call("control", command, *args)

    def hold(self) -> None:
        self._call("hold")

    def release(self) -> None:
        self._call("release")

    def kill(self) -> None:
        self._call("kill")


def csv_table(config: Any) -> Any:
    """The parsed CSV table a job trains on, handed to its worker (None for other datasets)."""
    if config.dataset.name != "csv":
        return None
    from actviz.data import tables

    table = tables.registered_table(config.dataset)
    if table is None:
        raise InputError("the uploaded CSV file is no longer in memory (only the last few uploads are kept); "
                         "upload it again")
    return table
