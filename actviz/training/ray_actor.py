"""What runs inside the Ray cluster (see :mod:`.ray_backend` for the server's side): a training job as an
actor, and gradient-flow computations as tasks.  Nothing here imports Ray; the server wraps these with
``ray.remote`` when it first needs them.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from actviz.errors import InputError
from actviz.training import worker

ORPHAN_S = 120.0   # a job actor nobody has polled for this long stops (every replica following it is gone)
WATCH_S = 2.0
_prepared = False


def _prepare_once(threads: int) -> None:
    """Torch threads every time; priority and allocator once per process (Ray reuses task workers)."""
    global _prepared
    if not _prepared:
        worker._prepare(threads)
        _prepared = True
    else:
        import torch

        torch.set_num_threads(max(1, int(threads)))


class _Outbox:
    """The sink's channel inside the actor, shaped like the worker's pipe (``send``, and ``lock`` with
    ``conn.send`` for a report read under the lock): reports are kept in order for every follower."""

    def __init__(self, lock: threading.Condition) -> None:
        self.lock, self.messages = lock, []
        self.conn = SimpleNamespace(send=self.messages.append)

    def send(self, *message: Any) -> None:
        with self.lock:
            self.messages.append(message)


class JobActor:
    """One training job on the cluster: the engine in a thread, its reports kept for the followers."""

    def __init__(self, end: Callable[[int], Any] = os._exit) -> None:
        self._end = end   # how the actor ends itself (tests pass a stand-in: this one ends the process)
        self._lock = threading.Condition()
        self._out = _Outbox(self._lock)
        self._gate = worker.Gate()
        self._control = worker.make_control()
        self._sink = worker.PipeSink(self._out, self._gate, self._control)
        self._followers: set[str] = set()
        self._holders: set[str] = set()
        self._started = self._finished = self._joined = False
        self._checkpoints: list[bytes | None] = []
        self._last_poll = time.monotonic()
        threading.Thread(target=self._watch, name="actviz-watch", daemon=True).start()

    def join(self, follower: str) -> bool:
        """Follow this job; False once it has finished (a later submit trains anew)."""
        with self._lock:
            if self._finished:
                return False
            self._followers.add(follower)
            self._joined = True
            self._last_poll = time.monotonic()
            return True

    def start(self, job: dict[str, Any]) -> None:
        with self._lock:
            if self._started:  # a second replica joined a job already under way
                return
            self._started = True
        threading.Thread(target=self._run, args=(job,), name="actviz-job", daemon=True).start()

    def poll(self, follower: str, cursor: int) -> tuple[list[tuple[Any, ...]], int, float, bool]:
        """(reports since ``cursor``, the new cursor, CPU seconds used, still followed by ``follower``)."""
        with self._lock:
            self._last_poll = time.monotonic()
            messages = self._out.messages
            return messages[cursor:], len(messages), time.process_time(), follower in self._followers

    def command(self, follower: str, command: str, args: list[Any]) -> None:
        if command == "cancel":
            with self._lock:
                if self._followers - {follower}:  # others still follow: only this follower stops
                    self._followers.discard(follower)
                    self._release(follower)
                    return
        try:
            worker.apply_command(self._control, command, tuple(args))
        except InputError as exc:
            self._out.send("notice", str(exc))
        if command == "cancel":
            self._stop()
        self._sink.send_state()

    def _stop(self) -> None:
        worker.apply_command(self._control, "cancel", ())
        self._gate.cancelled.set()
        self._gate.release()

    def hold(self, follower: str) -> None:
        with self._lock:
            self._holders.add(follower)
            self._gate.hold()

    def release(self, follower: str) -> None:
        with self._lock:
            self._release(follower)

    def _release(self, follower: str) -> None:
        self._holders.discard(follower)
        if not self._holders:  # the job waits while any replica has it take a break
            self._gate.release()

    def leave(self, follower: str) -> bool:
        """Stop following (the results were fetched); True when the job is over and nobody follows it."""
        with self._lock:
            self._followers.discard(follower)
            self._release(follower)
            return self._finished and not self._followers

    def checkpoint(self, index: int) -> bytes | None:
        with self._lock:
            return self._checkpoints[index] if 0 <= index < len(self._checkpoints) else None

    def _run(self, job: dict[str, Any]) -> None:
        from actviz.data import tables
        from actviz.training import resume
        from actviz.training.engine import train

        cfg = job["config"]
        estimate_bytes, budget_bytes = int(job["estimate_bytes"]), job.get("budget_bytes")
        checkpoints: list[bytes | None] = []
        try:
            _prepare_once(int(job.get("threads") or 1))
            if job.get("csv_table") is not None:
                tables.register_table(cfg.dataset, job["csv_table"])
            resuming = resume.engine_kwargs(job)  # saved state is read whole: before the ceiling
            if job.get("ceiling", True):
                # This actor's process is the job's alone (it ends with the job): the same address-space
                # ceiling as a worker process's, so a job that outgrows its estimate fails alone, and Ray's
                # memory request (the estimate plus the margin) is a limit, not only a reservation.
                self._out.send("ceiling", worker.set_ceiling(estimate_bytes))
            runs = train(cfg, self._sink, self._control, **resuming)
            checkpoints = [worker.checkpoint_bytes(cfg, run) for run in runs]
            self._sink.send_state()
            final: tuple[Any, ...] = ("done", [i if c is not None else None for i, c in enumerate(checkpoints)],
                                      bool(self._control.is_set()))
        except InputError as exc:
            final = ("failed", str(exc))
        except BaseException as exc:  # noqa: BLE001 - the followers must hear why the job ended
            if worker.is_out_of_memory(exc):
                final = ("failed", worker.oom_message(estimate_bytes, budget_bytes))
            else:
                traceback.print_exc()
                final = ("failed", f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
        with self._lock:  # finished and the last report together: a follower that read it may leave
            self._checkpoints, self._finished = checkpoints, True
            self._out.messages.append(final)

    def _watch(self) -> None:
        """End this actor when nobody needs it: finished and left by every follower, or unpolled for
        ORPHAN_S (the replicas that followed it have gone); a job still training is cancelled first."""
        cancelled = False
        while True:
            time.sleep(WATCH_S)
            with self._lock:
                idle = time.monotonic() - self._last_poll
                finished, alone, started = self._finished, not self._followers, self._started
                left = alone and self._joined  # its only followers left before it started (cancelled while queued)
            if (finished and (alone or idle > ORPHAN_S)) or (not started and (idle > ORPHAN_S or left)):
                self._end(0)  # a detached actor's process ending frees its name and its resources
                return
            if idle > ORPHAN_S and not cancelled:
                cancelled = True
                self._stop()


def run_task(fn: Any, args: tuple[Any, ...], estimate_bytes: int, budget_bytes: int | None) -> tuple[str, Any]:
    """A gradient-flow computation on the cluster; failures come back as (kind, message), like a task worker's."""
    _prepare_once(1)
    try:
        return "result", fn(*args)
    except InputError as exc:
        return "input", str(exc)
    except BaseException as exc:  # noqa: BLE001
        if worker.is_out_of_memory(exc):
            return "memory", worker.oom_message(estimate_bytes, budget_bytes)
        traceback.print_exc()
        return "internal", f"internal error: {type(exc).__name__}: {str(exc)[:300]}"
