"""Driving a training job while it runs: pause, resume, step one epoch, set the learning rate, cancel.

One small thread-safe object, :class:`TrainControl`, that the engine checks at every batch boundary.
Commands are plain values (``control.apply("pause")``, ``control.apply("set_lr", 0.01)``), so a job
manager that trains in another process forwards them as they are (send the tuple over a pipe and
call :meth:`apply` on the worker's side); :meth:`state` is a plain dict for the page.

- ``pause``: the engine blocks at the next batch boundary (no CPU used) until ``resume``, ``step``
  or ``cancel``.
- ``step``: train until the end of the current epoch (or one whole epoch when paused at an epoch
  boundary), then pause again.
- ``set_lr``: the base learning rate from the next optimizer step on (a schedule keeps scaling it).
- ``cancel``: stop at the next batch boundary; the runs end as ``stopped`` with their results so far.

``cancel_event`` lets an existing ``threading.Event`` (or a ``multiprocessing.Event``) double as the
cancel flag; ``train(cfg, sink, event)`` still works and wraps the event in a control.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from actviz import limits, validate
from actviz.errors import InputError

COMMANDS = ("pause", "resume", "step", "set_lr", "cancel")


class EventLike(Protocol):
    def is_set(self) -> bool: ...
    def set(self) -> None: ...


class TrainControl:
    def __init__(self, cancel_event: EventLike | None = None) -> None:
        self._cond = threading.Condition()
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self._paused = False
        self._step_pending = False   # "step": run to the end of the epoch, then pause
        self._lr: float | None = None
        self._lr_version = 0
        self._waiting = False        # the engine is blocked in wait()
        self._epoch = 0              # last epoch the engine finished (for the page)

    # --- commands (any thread) -----------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._paused, self._step_pending = True, False
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused, self._step_pending = False, False
            self._cond.notify_all()

    def step(self) -> None:
        """Run one epoch (to the end of the current one if paused mid-epoch), then pause."""
        with self._cond:
            self._paused, self._step_pending = False, True
            self._cond.notify_all()

    def set_lr(self, lr: Any) -> None:
        value = validate.number(lr, "the learning rate", *limits.LR_RANGE)
        with self._cond:
            self._lr = value
            self._lr_version += 1
            self._cond.notify_all()

    def cancel(self) -> None:
        self._cancel.set()
        with self._cond:
            self._cond.notify_all()

    def apply(self, command: str, *args: Any) -> None:
        """The same commands by name, for forwarding across a process boundary."""
        if command not in COMMANDS:
            raise InputError(f"unknown training command {str(command)[:20]!r}; use one of {', '.join(COMMANDS)}")
        getattr(self, command)(*args)

    # --- what the page and the engine read ------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return bool(self._cancel.is_set())

    def is_set(self) -> bool:
        """Alias of ``cancelled``: a control can stand where a cancel ``threading.Event`` was checked."""
        return self.cancelled

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    @property
    def stepping(self) -> bool:
        """A ``step`` is under way (the engine pauses at the end of this epoch)."""
        with self._cond:
            return self._step_pending

    @property
    def lr(self) -> float | None:
        """The learning rate set while training (None: the configured one)."""
        with self._cond:
            return self._lr

    def state(self) -> dict[str, Any]:
        with self._cond:
            return {"paused": self._paused, "waiting": self._waiting, "stepping": self._step_pending,
                    "lr": self._lr, "cancelled": self.cancelled, "epoch": self._epoch}

    # --- engine side -----------------------------------------------------------------------------
    def wait(self, poll_s: float = 0.25) -> bool:
        """At a batch boundary: block while paused; False once cancelled (stop training)."""
        if self.cancelled:
            return False
        with self._cond:
            while self._paused and not self.cancelled:
                self._waiting = True
                # The timeout re-checks a cancel flag that was set without notify (a foreign Event).
                self._cond.wait(poll_s)
            self._waiting = False
        return not self.cancelled

    def lr_override(self) -> tuple[int, float | None]:
        """(version, learning rate): the engine applies a new rate when the version changes."""
        with self._cond:
            return self._lr_version, self._lr

    def epoch_finished(self, epoch: int) -> None:
        """Called by the engine after every epoch: a pending ``step`` turns into a pause here."""
        with self._cond:
            self._epoch = epoch
            if self._step_pending:
                self._step_pending, self._paused = False, True


def as_control(value: TrainControl | EventLike | None) -> TrainControl:
    """A control for whatever the caller passed: a control, a cancel event, or nothing."""
    if isinstance(value, TrainControl):
        return value
    if value is None:
        return TrainControl()
    if callable(getattr(value, "is_set", None)) and callable(getattr(value, "set", None)):
        return TrainControl(value)
    raise TypeError(f"expected a TrainControl or a threading.Event, got {type(value).__name__}")
