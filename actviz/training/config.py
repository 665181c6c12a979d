"""What a training job is: :class:`TrainConfig` (validated at the boundary), the statuses a run can
end in, and the record it writes after every epoch.  Everything here is plain data; the engine that
acts on it is :mod:`.engine`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from actviz import limits, validate
from actviz.activations import choice as choice_mod
from actviz.activations.choice import ActivationChoice
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import models

OPTIMIZERS = ("sgd", "adam")
MAX_ACTIVATIONS = limits.MAX_COMPARED


class RunStatus(StrEnum):
    """Where one activation's run is.  A run starts PENDING, trains as RUNNING and ends in one of the rest."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DIVERGED = "diverged"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


@dataclass(frozen=True)
class EpochRecord:
    """What a run reports after each epoch (losses are means over the split; NaN when undefined)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    test_loss: float
    test_acc: float
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunProgress:
    """What is known about one activation's run so far (plain data: pages, plots and the CLI read it)."""

    label: str
    key: str
    status: RunStatus = RunStatus.PENDING
    message: str = ""
    history: list[EpochRecord] = field(default_factory=list)
    live: list[tuple[float, float]] = field(default_factory=list)  # (fractional epoch, running train loss)
    grad_norms: list[list[float]] = field(default_factory=list)   # epoch x layer
    boundary: list[list[float]] | None = None
    progress: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> RunProgress:
        """A snapshot copy.  The engine only ever appends records and replaces the boundary grid, so
        sharing the records themselves is safe and keeps polling cheap (no deep copy per poll)."""
        return RunProgress(self.label, self.key, self.status, self.message, list(self.history), list(self.live),
                           list(self.grad_norms), self.boundary, self.progress, dict(self.summary))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; equal configs train identically."""

    dataset: datasets.DatasetSpec
    activations: tuple[ActivationChoice, ...]
    hidden: tuple[int, ...] = (64, 64)
    init: models.InitSpec = field(default_factory=models.InitSpec)
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 64  # 0 means full batch
    epochs: int = 10
    patience: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        validate_config(self)

    def key(self) -> str:
        """Canonical identity used to de-duplicate jobs."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.key(),
            "activations": [a.as_dict() for a in self.activations],
            "hidden": list(self.hidden),
            "init": self.init.key(),
            "optimizer": self.optimizer,
            "lr": self.lr,
            "momentum": self.momentum if self.optimizer == "sgd" else None,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "patience": self.patience,
            "seed": self.seed,
        }


def validate_config(cfg: TrainConfig) -> None:
    """InputError for any value the engine should not be asked to run (checked at the boundary)."""
    if not cfg.activations:
        raise InputError("choose at least one activation to train")
    if len(cfg.activations) > MAX_ACTIVATIONS:
        raise InputError(f"at most {MAX_ACTIVATIONS} activations can be compared in one job")
    if len({a.key for a in cfg.activations}) != len(cfg.activations):
        raise InputError("the same activation (with the same parameters) is listed twice")
    if cfg.optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
    for name, value, (lo, hi) in (("learning rate", cfg.lr, limits.LR_RANGE),
                                  ("momentum", cfg.momentum, limits.MOMENTUM_RANGE)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InputError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
        validate.number(value, name, lo, hi)
    max_epochs = min(limits.MAX_EPOCHS, int(limits.current().max_epochs))
    for name, value, lo, hi in (("epochs", cfg.epochs, 1, max_epochs),
                                ("batch size", cfg.batch_size, 0, limits.MAX_BATCH),
                                ("seed", cfg.seed, 0, limits.MAX_SEED)):
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise InputError(f"{name} must be a whole number in [{lo}, {hi}], got {value!r}")
    if cfg.patience is not None and (not isinstance(cfg.patience, int) or not 1 <= cfg.patience <= max_epochs):
        raise InputError(f"patience must be a whole number of epochs in [1, {max_epochs}] (or none)")
    models.check_hidden(cfg.hidden)


def parse_activation_list(names: str | Sequence[str], params: dict[str, dict[str, str]] | None = None,
                          learnable: Sequence[str] = ()) -> tuple[ActivationChoice, ...]:
    """``"relu,sigmoid"`` plus ``{"swish": {"beta": "2"}}`` -> validated choices."""
    items = [s.strip() for s in (names.split(",") if isinstance(names, str) else names) if s.strip()]
    if not items:
        raise InputError("give at least one activation, e.g. --activations relu,sigmoid")
    params = params or {}
    unknown = set(params) - set(items)
    if unknown:
        raise InputError(f"--param given for {', '.join(sorted(unknown))}, which is not in the activation list")
    out = []
    for name in items:
        learn = [p for p in learnable if p.startswith(name + ".")]
        out.append(choice_mod.choose(name, params.get(name), [p.split(".", 1)[1] for p in learn]))
    return tuple(out)
