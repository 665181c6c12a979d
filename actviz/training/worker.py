"""Worker processes: training jobs and heavy diagnostics run here, never in the web process.

A worker is forked from a *forkserver* that imported torch, the engine, the datasets and the rest once
(``PRELOAD``), so a new worker is ready in milliseconds instead of the 2–3 s a cold Python takes to
import them.  Two kinds:

- a **job worker** runs exactly one training job and exits (memory goes back to the system; the next
  job gets a fresh process).  Before training it lowers its own address-space limit (``RLIMIT_AS``) to
  what it holds at rest plus the job's estimated peak plus a margin: an allocation beyond it fails
  inside this process (``DefaultCPUAllocator: can't allocate memory``) and the job ends as
  ``failed: out of memory (estimated X, budget Y)`` while the server and every other job go on.
- a **task worker** serves short computations (the gradient-flow page) one after another, with a
  ceiling of its resting size plus the per-computation budget; the dataset cache stays warm between
  tasks.  The server kills it to cancel a task and forks a new one.

Messages on the pipe are small tuples.  A job streams ``run_started``/``live``/``epoch``/``run_finished``
records (numbers and small lists, never models), its control state after each command, and at the end
the paths of the checkpoint files it wrote (the trained models travel once, through the disk).  With
``resume_to`` in the job it saves resume points there while it trains; with ``resume_from`` it reads them
first (before its memory ceiling is set: they are read whole) and goes on from their epoch.  The
server sends ``control`` commands (the engine's pause/resume/step/set_lr/cancel) and ``hold``/``release``
(time slicing: the job waits at its next progress report, using no CPU, until released).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from actviz import budget
from actviz.errors import InputError

# What the forkserver imports once for every worker: our modules and what torch imports lazily on the
# first model (sympy) and the first optimizer (dynamo, distributed), which otherwise cost a new worker 3 s.
PRELOAD = ["actviz.training.worker", "actviz.training.engine", "actviz.training.resume", "actviz.data.datasets",
           "actviz.network.checkpoint", "actviz.network.diagnostics", "actviz.views.gradient_flow", "sklearn.datasets",
           "pandas", "sympy", "torch._dynamo", "torch.distributed", "torch.onnx"]
NICE = 15                     # jobs yield the CPU to the web process first
MARGIN_BYTES = 384 * 2**20    # thread stacks, allocator arenas and library mappings the estimate does not count
OOM_MARKERS = ("can't allocate memory", "not enough memory", "DefaultCPUAllocator", "std::bad_alloc",
               "Cannot allocate memory")


def vm_size() -> int:
    """This process's address space in bytes (what RLIMIT_AS limits)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def set_ceiling(extra_bytes: int) -> int:
    """Lower this process's address-space limit to what it holds now plus ``extra_bytes`` (and a margin)."""
    limit = vm_size() + int(extra_bytes) + MARGIN_BYTES
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or any(m in str(exc) for m in OOM_MARKERS)


def oom_message(estimate_bytes: int, budget_bytes: int | None) -> str:
    allowed = budget.human_bytes(budget_bytes) if budget_bytes else "none"
    return (f"out of memory (estimated {budget.human_bytes(estimate_bytes)}, budget {allowed}): it needed more "
            "than its estimate; use a smaller network, batch or dataset")


def _prepare(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))
    try:
        os.nice(NICE)
    except OSError:
        pass
    try:  # at most two malloc arenas: each one reserves 64 MB of address space per thread otherwise
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


class _Channel:
    """The worker's end of the pipe: sends from any thread (one lock), receives on the control thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, *msg: Any) -> None:
        with self.lock:
            self.conn.send(msg)


class Gate:
    """Time slicing: while held, progress reports block (the engine waits there, using no CPU)."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self.cancelled = threading.Event()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait(self) -> None:
        while not self._open.wait(0.25):
            if self.cancelled.is_set():
                return


class PipeSink:
    """The engine's progress sink in a worker: every report goes to the server as a small tuple."""

    def __init__(self, channel: _Channel, gate: Gate, control: Any) -> None:
        self.channel, self.gate, self.control = channel, gate, control

    def run_started(self, run: int) -> None:
        self.gate.wait()
        self.channel.send("run_started", run)

    def live_point(self, run: int, epoch_float: float, train_loss: float, progress: float) -> None:
        self.gate.wait()
        self.channel.send("live", run, float(epoch_float), float(train_loss), float(progress))

    def epoch_done(self, run: int, record: Any, layer_grad_norms: list[float], boundary: Any) -> None:
        self.channel.send("epoch", run, record, list(layer_grad_norms), boundary)
        self.send_state()
        self.gate.wait()

    def run_finished(self, run: int, status: Any, message: str, summary: dict[str, Any]) -> None:
        self.channel.send("run_finished", run, str(status), message, summary)

    def __getattr__(self, name: str) -> Any:
        """Reports the engine adds later (e.g. weights for the network view) travel the same way."""
        if name.startswith("_"):
            raise AttributeError(name)

        def forward(*args: Any) -> None:
            self.channel.send("report", name, args)
        return forward

    def send_state(self) -> None:
        state = getattr(self.control, "state", None)
        if callable(state):
            # Read under the channel's lock: the engine's thread and the command listener both send it, and
            # a state read earlier must not arrive after one read later (a stale "stepping" after "paused").
            with self.channel.lock:
                self.channel.conn.send(("state", state()))


def make_control() -> Any:
    """The engine's control object (pause/resume/step/set_lr/cancel), or a cancel event before it exists."""
    try:
        from actviz.training.control import TrainControl  # type: ignore[import-not-found]
    except ImportError:
        return threading.Event()
    return TrainControl()


def controls_supported() -> bool:
    """Whether the engine offers pause/resume/step/set_lr (its control object), not only cancel."""
    return hasattr(make_control(), "apply")


def apply_command(control: Any, command: str, args: tuple[Any, ...]) -> None:
    if hasattr(control, "apply"):
        control.apply(command, *args)
    elif command == "cancel":
        control.set()
    else:
        raise InputError(f"this engine cannot {command} a running job yet")


# --- the processes ------------------------------------------------------------------------------------

def job_main(conn: Any, threads: int) -> None:
    """A job worker: announce itself, wait for one job, run it, report, exit."""
    _prepare(threads)
    channel = _Channel(conn)
    channel.send("ready", os.getpid())
    try:
        message = conn.recv()
    except (EOFError, OSError):
        return
    if not message or message[0] != "job":
        return
    try:
        _run_job(channel, conn, message[1])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _run_job(channel: _Channel, conn: Any, job: dict[str, Any]) -> None:
    from actviz.data import tables
    from actviz.training import resume
    from actviz.training.engine import train

    gate, control = Gate(), make_control()
    sink = PipeSink(channel, gate, control)
    listener = threading.Thread(target=_listen, args=(conn, channel, gate, control, sink), daemon=True)
    listener.start()
    cfg = job["config"]
    if job.get("threads"):
        import torch

        torch.set_num_threads(max(1, int(job["threads"])))
    estimate_bytes, budget_bytes = int(job["estimate_bytes"]), job.get("budget_bytes")
    try:
        if job.get("csv_table") is not None:
            tables.register_table(cfg.dataset, job["csv_table"])
        resuming = resume.engine_kwargs(job)  # saved state read before the ceiling: it is read whole
        if job.get("ceiling", True):
            channel.send("ceiling", set_ceiling(estimate_bytes))
        runs = train(cfg, sink, control, **resuming)
        folder = Path(job["model_dir"])
        paths = [_save(folder, job["job_id"], i, cfg, run) for i, run in enumerate(runs)]
        cancelled = bool(control.is_set())
        sink.send_state()
        channel.send("done", paths, cancelled)
    except InputError as exc:
        channel.send("failed", str(exc))
    except BaseException as exc:  # noqa: BLE001 - the server must hear why the job ended
        if is_out_of_memory(exc):
            channel.send("failed", oom_message(estimate_bytes, budget_bytes))
        else:
            traceback.print_exc()
            channel.send("failed", f"internal error: {type(exc).__name__}: {str(exc)[:300]}")


def checkpoint_bytes(cfg: Any, run: Any) -> bytes | None:
    """The run's model (at its kept weights) as a checkpoint of the one schema (None without a model)."""
    from actviz.network import checkpoint

    model = getattr(run, "model", None)
    if model is None:
        return None
    summary = getattr(run, "summary", None) or {}
    result = {k: summary.get(k) for k in ("test_acc", "test_loss", "best_epoch", "best_val_acc", "dead_fraction")
              if isinstance(summary.get(k), (int, float))}
    training = {k: v for k, v in cfg.to_json().items() if k not in ("dataset", "activations")}
    return checkpoint.save(model, cfg.dataset, training, result)


def write_checkpoint(path: Path, data: bytes) -> str:
    """Write a checkpoint file whole or not at all (a reader never sees half a file)."""
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return str(path)


def _save(folder: Path, job_id: str, index: int, cfg: Any, run: Any) -> str | None:
    """The run's model as a checkpoint file the server reads once the job is done."""
    data = checkpoint_bytes(cfg, run)
    return None if data is None else write_checkpoint(folder / f"{job_id}-{index}.zip", data)


def _listen(conn: Any, channel: _Channel, gate: Gate, control: Any, sink: PipeSink) -> None:
    """Commands from the server while the job trains."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server went away: stop
            gate.cancelled.set()
            apply_command(control, "cancel", ())
            gate.release()
            return
        kind = message[0]
        if kind == "hold":
            gate.hold()
        elif kind == "release":
            gate.release()
        elif kind == "control":
            command, args = message[1], tuple(message[2])
            try:
                apply_command(control, command, args)
            except InputError as exc:
                channel.send("notice", str(exc))
            if command == "cancel":
                gate.cancelled.set()
                gate.release()
            sink.send_state()


def task_main(conn: Any, threads: int, budget_bytes: int | None) -> None:
    """A task worker: run short computations one after another until told to stop; its ceiling is its
    resting size plus one computation's budget."""
    _prepare(threads)
    channel = _Channel(conn)
    limit = set_ceiling(budget_bytes) if budget_bytes else 0
    channel.send("ready", os.getpid(), limit)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "task":
            return
        task_id, fn, args, kwargs, estimate_bytes = message[1:6]
        try:
            channel.send("result", task_id, fn(*args, **kwargs))
        except InputError as exc:
            channel.send("error", task_id, "input", str(exc))
        except BaseException as exc:  # noqa: BLE001
            if is_out_of_memory(exc):
                channel.send("error", task_id, "memory", oom_message(int(estimate_bytes), budget_bytes))
            else:
                traceback.print_exc()
                channel.send("error", task_id, "internal", f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
