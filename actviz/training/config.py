"""What a training job is: :class:`TrainConfig` (validated at the boundary), the statuses a run can
end in, and the record it writes after every epoch.  Everything here is plain data; the engine that
acts on it is :mod:`.engine`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from actviz import limits, validate
from actviz.activations import choice as choice_mod
from actviz.activations.choice import ActivationChoice
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import features as features_mod
from actviz.network import models, perlayer
from actviz.network.perlayer import Choice, PerLayer
from actviz.training import schedule as schedule_mod

OPTIMIZERS = ("sgd", "adam")
MAX_ACTIVATIONS = limits.MAX_COMPARED
MAX_SEEDS = limits.MAX_SEEDS


class RunStatus(StrEnum):
    """Where one run is.  A run starts PENDING, trains as RUNNING and ends in one of the rest:

    - ``done``: trained every epoch (or reached its stop condition);
    - ``early_stopped``: validation stopped improving for ``patience`` epochs; it keeps its best epoch's weights;
    - ``diverged``: its loss or weights became NaN/inf or exploded far above their starting value;
    - ``stopped``: the user stopped the job;
    - ``failed``: the job failed with an error before the run could finish.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    EARLY_STOPPED = "early_stopped"
    DIVERGED = "diverged"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "stopped"  # the older name of STOPPED (an alias: the same member)

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


@dataclass(frozen=True)
class EpochRecord:
    """What a run reports after each epoch (losses are means over the split; NaN when undefined:
    accuracies on regression tasks, R² on classification tasks)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    test_loss: float
    test_acc: float
    seconds: float
    lr: float = math.nan       # the learning rate of the epoch's last step
    val_r2: float = math.nan
    test_r2: float = math.nan
    # Learnable activation parameters at the end of the epoch: name -> value per hidden layer
    # (PReLU's init, Swish's beta, ...); {} when the activation learns nothing.
    learned: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Flat: learned values become ``learned_<name>_L<layer>`` columns (CSV rows, JSON history)."""
        out = {k: v for k, v in asdict(self).items() if k != "learned"}
        for name, values in self.learned.items():
            out.update({f"learned_{name}_L{i + 1}": float(v) for i, v in enumerate(values)})
        return out


@dataclass
class RunProgress:
    """What is known about one run so far (plain data: pages, plots and the CLI read it)."""

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
    group: int = 0   # index of its activation in the config's list (runs of one activation share it)
    seed: int = 0    # the seed of its initial weights, batch order and dropout masks
    # Small 2-D nets only: the current weights, (W as rows = output units, b) per Linear layer from input
    # to output, replaced (never mutated) several times a second while training (the lab's network view).
    weights: list[tuple[list[list[float]], list[float]]] | None = None

    def copy(self) -> RunProgress:
        """A snapshot copy.  The engine only ever appends records and replaces the boundary grid and the
        weights, so sharing them is safe and keeps polling cheap (no deep copy per poll)."""
        return RunProgress(self.label, self.key, self.status, self.message, list(self.history), list(self.live),
                           list(self.grad_norms), self.boundary, self.progress, dict(self.summary), self.group,
                           self.seed, self.weights)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a job: an activation trained from one seed."""

    index: int
    activation: Choice
    group: int
    seed: int
    label: str
    key: str

    def progress(self) -> RunProgress:
        return RunProgress(self.label, self.key, group=self.group, seed=self.seed)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training job; equal configs train identically.

    Every activation is trained from ``seeds`` initialisations: run ``(activation i, seed k)`` uses
    seed ``seed + k`` for its initial weights, its batch order and its dropout masks, so all
    activations of one seed start from the same weights and see the same batches.
    """

    dataset: datasets.DatasetSpec
    activations: tuple[Choice, ...]
    hidden: tuple[int, ...] = (64, 64)
    init: models.InitSpec = field(default_factory=models.InitSpec)
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 64  # 0 means full batch
    epochs: int = 10
    patience: int | None = None
    seed: int = 42
    seeds: int = 1
    features: tuple[str, ...] = ()      # 2-D inputs: TF Playground's features; () = the raw (x1, x2)
    l1: float = 0.0                     # rate of the L1 penalty on the weights (not the biases)
    l2: float = 0.0                     # rate of the L2 penalty 0.5 * w² on the weights
    dropout: float = 0.0                # after every hidden activation, while training
    schedule: str = "constant"          # see actviz.training.schedule
    warmup: int = 0                     # warm-up epochs before the schedule
    lr_step: int = 10                   # step schedule: epochs between drops
    lr_gamma: float = 0.5               # step schedule: the factor of each drop
    stop_val_acc: float | None = None   # stop a run once its validation accuracy reaches this
    stop_loss: float | None = None      # stop a run once its training loss falls below this

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
            "seeds": self.seeds,
            "features": list(self.features),
            "l1": self.l1,
            "l2": self.l2,
            "dropout": self.dropout,
            "schedule": self.schedule,
            "warmup": self.warmup,
            "lr_step": self.lr_step if self.schedule == "step" else None,
            "lr_gamma": self.lr_gamma if self.schedule == "step" else None,
            "stop_val_acc": self.stop_val_acc,
            "stop_loss": self.stop_loss,
        }

    @property
    def run_seeds(self) -> tuple[int, ...]:
        return tuple(self.seed + k for k in range(self.seeds))

    def plan(self) -> list[PlannedRun]:
        """Every run of the job, activation by activation, seed by seed (run index = i * seeds + k)."""
        out = []
        for i, act in enumerate(self.activations):
            for k, seed in enumerate(self.run_seeds):
                label = act.label if self.seeds == 1 else f"{act.label} · seed {seed}"
                key = act.key if self.seeds == 1 else f"{act.key}@seed{seed}"
                out.append(PlannedRun(i * self.seeds + k, act, i, seed, label, key))
        return out

    def lr_at(self, epoch: int, base: float | None = None) -> float:
        """The learning rate of ``epoch`` (1-based) under the schedule, from ``base`` (default ``lr``)."""
        return (self.lr if base is None else base) * schedule_mod.factor(
            self.schedule, epoch, self.epochs, self.warmup, self.lr_step, self.lr_gamma)


def _whole(value: Any, name: str, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InputError(f"{name} must be a whole number in [{lo}, {hi}], got {value!r}")


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InputError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return validate.number(value, name, lo, hi)


def validate_config(cfg: TrainConfig) -> None:
    """InputError for any value the engine should not be asked to run (checked at the boundary)."""
    put = lambda k, v: object.__setattr__(cfg, k, v)
    if not isinstance(cfg.activations, tuple) or not cfg.activations:
        raise InputError("choose at least one activation to train")
    if len(cfg.activations) > MAX_ACTIVATIONS:
        raise InputError(f"at most {MAX_ACTIVATIONS} activations can be compared in one job")
    if not all(isinstance(a, (ActivationChoice, PerLayer)) for a in cfg.activations):
        raise InputError("every activation must be an activation choice")
    if len({a.key for a in cfg.activations}) != len(cfg.activations):
        raise InputError("the same activation (with the same parameters) is listed twice")
    if cfg.optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
    for name, value, (lo, hi) in (("learning rate", cfg.lr, limits.LR_RANGE),
                                  ("momentum", cfg.momentum, limits.MOMENTUM_RANGE),
                                  ("the L1 rate", cfg.l1, limits.REGULARISATION_RANGE),
                                  ("the L2 rate", cfg.l2, limits.REGULARISATION_RANGE),
                                  ("dropout", cfg.dropout, limits.DROPOUT_RANGE),
                                  ("the step schedule's factor", cfg.lr_gamma, limits.LR_GAMMA_RANGE)):
        _number(value, name, lo, hi)
    max_epochs = min(limits.MAX_EPOCHS, int(limits.current().max_epochs))
    _whole(cfg.epochs, "epochs", 1, max_epochs)
    _whole(cfg.batch_size, "batch size", 0, limits.MAX_BATCH)
    _whole(cfg.seeds, "the number of seeds", 1, MAX_SEEDS)
    _whole(cfg.seed, "seed", 0, limits.MAX_SEED - (cfg.seeds - 1))
    _whole(cfg.warmup, "warm-up epochs", 0, cfg.epochs - 1)
    _whole(cfg.lr_step, "epochs between learning-rate steps", 1, max_epochs)
    if cfg.patience is not None and (not isinstance(cfg.patience, int) or isinstance(cfg.patience, bool)
                                     or not 1 <= cfg.patience <= max_epochs):
        raise InputError(f"patience must be a whole number of epochs in [1, {max_epochs}] (or none)")
    put("schedule", validate.option(cfg.schedule, "learning-rate schedule", schedule_mod.SCHEDULES))
    if cfg.stop_val_acc is not None:
        _number(cfg.stop_val_acc, "the validation accuracy to stop at", 0.0, 1.0)
        if cfg.stop_val_acc <= 0:
            raise InputError("the validation accuracy to stop at must be above 0 (e.g. 0.95)")
        if cfg.dataset.task == "regression":
            raise InputError("a regression task has no accuracy to stop at; stop on the loss instead")
    if cfg.stop_loss is not None:
        _number(cfg.stop_loss, "the loss to stop at", *limits.STOP_LOSS_RANGE)
    put("features", features_mod.parse(list(cfg.features)) if isinstance(cfg.features, (tuple, list))
        else features_mod.parse(cfg.features))
    if cfg.features and cfg.dataset.name not in datasets.SYNTHETIC and cfg.dataset.name != "csv":
        raise InputError("input features (x1², sin x1, ...) apply to the 2-D datasets only")
    models.check_hidden(cfg.hidden)
    for a in cfg.activations:
        perlayer.layer_choices(a, len(cfg.hidden))


def parse_activation_list(names: str | Sequence[str], params: dict[str, dict[str, str]] | None = None,
                          learnable: Sequence[str] = (), custom: ActivationChoice | None = None
                          ) -> tuple[Choice, ...]:
    """``"relu,sigmoid,relu>tanh"`` plus ``{"swish": {"beta": "2"}}`` -> validated choices.

    An item is one activation (``swish`` or ``swish(beta=2)``) or one per hidden layer
    (``relu>tanh``); ``custom`` names the separately given custom formula.
    """
    items = perlayer.split_items(names) if isinstance(names, str) else [s.strip() for s in names if s.strip()]
    if not items:
        raise InputError("give at least one activation, e.g. --activations relu,sigmoid")
    params = params or {}
    unknown = set(params) - perlayer.mentioned_names(items) - {choice_mod.CUSTOM}
    if unknown:
        raise InputError(f"--param given for {', '.join(sorted(unknown))}, which is not in the activation list")
    return tuple(perlayer.parse_item(item, params, learnable, custom) for item in items)
