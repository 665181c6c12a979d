"""Budgets before work: what a heavy computation will cost, estimated before it starts.

Every heavy computation — a training job, a gradient-flow or neurons run, loading a checkpoint or a
CSV file — is described here by an :class:`Estimate` of its **peak memory** (data, parameters,
gradients, optimizer state, the best-epoch copy, activations kept for the backward pass, evaluation
buffers — for every activation and seed it trains, at its batch size) and its **work** (floating-point
operations per epoch × epochs, plus a per-step overhead), made from the sizes alone: nothing is
allocated to find out.  :func:`check` refuses an estimate over the :class:`Budget` with a message that
says what it would need, what the limit is and which knob raises it (``ACTVIZ_MAX_JOB_MEMORY_MB``,
``ACTVIZ_MAX_JOB_MINUTES``; the CLI's ``--no-budget`` on one's own machine).

The memory model is an upper bound of what PyTorch's CPU allocator holds at the peak (measured against
real runs in tests/test_budget.py); the time model uses rates measured on the development
machine (``FLOPS_PER_THREAD``, ``STEP_SECONDS``) — a budget, not a promise.  Functions take sizes or
duck-typed configs (anything with ``dataset``, ``hidden``, ``activations``, ``batch_size``, ...), so
this module sits below the training package that uses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from actviz import limits
from actviz.errors import InputError

F32 = 4
FLOPS_PER_THREAD = 12e9     # effective training FLOP/s of one core on small dense layers (measured, conservative)
STEP_SECONDS = 5e-4         # Python + dispatch + optimizer overhead of one optimizer step of one model
EPOCH_SECONDS = 5e-3        # per model and epoch: evaluation calls, records, progress
EVAL_CHUNK = 8192           # models.EVAL_CHUNK and diagnostics.DEAD_CHUNK
BOUNDARY_POINTS = 60 * 60   # decision-boundary grid of 2-D datasets
ALLOCATOR_SLACK = 1.25      # fragmentation and short-lived temporaries on top of the tensors counted
FIXED_BYTES = 128 * 2**20   # per computation: first-use buffers of torch kernels, generators, Python objects
MB = 2**20
PARALLEL_STEP_FLOPS = 2e7   # an optimizer step below this runs faster on one thread than on several


class BudgetError(InputError):
    """A computation refused because its estimate exceeds a budget; ``knob`` names what raises it."""

    def __init__(self, message: str, knob: str):
        super().__init__(message)
        self.knob = knob


@dataclass(frozen=True)
class DataShape:
    """Sizes of a dataset, known without loading it."""

    n_train: int
    n_val: int
    n_test: int
    n_features: int
    n_classes: int
    load_factor: float = 24.0  # bytes per value while it is built (float64 copies, standardising, splits)

    @property
    def n_total(self) -> int:
        return self.n_train + self.n_val + self.n_test

    @property
    def n_out(self) -> int:
        return 1 if self.n_classes <= 2 else self.n_classes

    def bytes_resident(self) -> int:
        return self.n_total * (self.n_features * F32 + 8)

    def bytes_peak(self) -> int:
        return int(self.n_total * (self.n_features * self.load_factor + 16))


@dataclass(frozen=True)
class Estimate:
    """Peak memory (by part, bytes) and work (FLOPs, steps, seconds) of one computation."""

    what: str
    memory: dict[str, int] = field(default_factory=dict)
    flops: float = 0.0
    seconds: float = 0.0
    advice_memory: str = ""
    advice_time: str = ""
    step_flops: float = 0.0   # work of one optimizer step (all models): below PARALLEL_STEP_FLOPS one thread is faster

    def threads(self, available: int) -> int:
        """Torch threads worth giving it: small steps run faster on one (threads only add synchronisation)."""
        return max(1, int(available)) if self.step_flops >= PARALLEL_STEP_FLOPS else 1

    @property
    def memory_bytes(self) -> int:
        return int(sum(self.memory.values()))

    @property
    def memory_mb(self) -> float:
        return self.memory_bytes / MB

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0

    def describe_memory(self) -> str:
        parts = sorted(((v, k) for k, v in self.memory.items() if v >= MB), reverse=True)[:5]
        inside = ", ".join(f"{k} {human_bytes(v)}" for v, k in parts)
        return f"about {human_bytes(self.memory_bytes)}" + (f" ({inside})" if inside else "")

    def describe_time(self) -> str:
        return f"about {human_minutes(self.minutes)} of computing ({self.flops / 1e12:.3g} TFLOP)"

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "memory_mb": round(self.memory_mb, 1), "minutes": round(self.minutes, 3),
                "tflop": self.flops / 1e12, "memory_parts_mb": {k: round(v / MB, 1) for k, v in self.memory.items()}}


@dataclass(frozen=True)
class Budget:
    """What one computation may use; ``None`` means no limit (the CLI's ``--no-budget``)."""

    memory_mb: float | None
    minutes: float | None

    @classmethod
    def current(cls) -> Budget:
        """The server's budget (from the limits), or none after :func:`lift` (the CLI's ``--no-budget``)."""
        if _lifted:
            return cls.unlimited()
        lim = limits.current()
        return cls(float(lim.max_job_memory_mb), float(lim.max_job_minutes))

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(None, None)

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory_mb is None else int(self.memory_mb * MB)


_lifted = False


def lift() -> None:
    """No budgets for the rest of this process: ``python -m actviz ... --no-budget`` on one's own machine."""
    global _lifted
    _lifted = True


def human_bytes(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    if n >= MB:
        return f"{n / MB:.0f} MB"
    return f"{n / 1024:.0f} KB"


def human_minutes(minutes: float) -> str:
    if minutes >= 120:
        return f"{minutes / 60:.1f} h"
    if minutes >= 1:
        return f"{minutes:.0f} min"
    return f"{minutes * 60:.0f} s"


def check(estimate: Estimate, budget: Budget | None = None) -> Estimate:
    """``estimate`` if it fits ``budget`` (the server's by default), else BudgetError naming the knob."""
    budget = budget or Budget.current()
    if budget.memory_mb is not None and estimate.memory_mb > budget.memory_mb:
        advice = f"; {estimate.advice_memory}" if estimate.advice_memory else ""
        raise BudgetError(f"{estimate.what} would need {estimate.describe_memory()} of memory, more than this "
                          f"server allows one computation ({human_bytes(budget.memory_mb * MB)}, set by "
                          f"ACTVIZ_MAX_JOB_MEMORY_MB){advice}", "ACTVIZ_MAX_JOB_MEMORY_MB")
    if budget.minutes is not None and estimate.minutes > budget.minutes:
        advice = f"; {estimate.advice_time}" if estimate.advice_time else ""
        raise BudgetError(f"{estimate.what} would need {estimate.describe_time()}, more than this server allows "
                          f"one computation ({human_minutes(budget.minutes)}, set by ACTVIZ_MAX_JOB_MINUTES)"
                          f"{advice}", "ACTVIZ_MAX_JOB_MINUTES")
    return estimate


# --- sizes -------------------------------------------------------------------------------------------

def _split(n: int, max_train: int | None) -> tuple[int, int, int]:
    n_test = max(1, round(n * 0.15))
    n_val = max(1, round(n * 0.15))
    n_train = n - n_test - n_val
    if max_train is not None:
        n_train = min(n_train, int(max_train))
    return n_train, n_val, n_test


def data_shape(spec: Any, csv_shape: tuple[int, int, int] | None = None) -> DataShape:
    """The sizes of ``spec`` (a DatasetSpec) without loading it.

    ``csv_shape`` is (rows, features, classes) of an uploaded table (the registry knows it).
    """
    name = spec.name
    max_train = getattr(spec, "max_train", None)
    if name in ("moons", "circles", "xor", "spiral", "gaussian", "reg_plane", "reg_gaussians"):  # 1 output either way
        return DataShape(*_split(int(spec.n_samples), max_train), n_features=2, n_classes=2)
    if name == "digits":
        return DataShape(*_split(1797, max_train), n_features=64, n_classes=10)
    if name in ("mnist", "fashion_mnist"):
        n_train = 50_000 if max_train is None else min(50_000, int(max_train))
        # uint8 files -> float32 in place; the training split is a view
        return DataShape(n_train, 10_000, 10_000, n_features=784, n_classes=10, load_factor=6.0)
    if name == "csv":
        rows, features, classes = csv_shape or (int(limits.current().max_upload_rows), limits.MAX_CSV_COLUMNS, 2)
        return DataShape(*_split(rows, max_train), n_features=features, n_classes=classes)
    raise InputError(f"unknown dataset {str(name)[:40]!r}")


def weights(sizes: Sequence[int]) -> int:
    """Multiply-adds of one forward pass per sample (= weight count) of a dense net with these sizes."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def parameters(sizes: Sequence[int]) -> int:
    return weights(sizes) + sum(sizes[1:]) + len(sizes)  # + biases + learnable activation parameters


def _saved_per_unit(activations: Sequence[Any]) -> int:
    """Floats autograd keeps per hidden unit and sample: the activation's output (the next Linear's
    input), its input or own saved tensors (more for a composed custom formula)."""
    return max((8 if getattr(a, "is_custom", False) else 2) for a in activations) if activations else 2


# --- computations ------------------------------------------------------------------------------------

def training(cfg: Any, shape: DataShape, threads: int = 1) -> Estimate:
    """A training job: every activation (× every seed) trained side by side at ``cfg.batch_size``."""
    hidden = tuple(cfg.hidden)
    sizes = (shape.n_features, *hidden, shape.n_out)
    acts = tuple(cfg.activations)
    models = len(acts) * int(getattr(cfg, "seeds", 1) or 1)
    p = parameters(sizes)
    w = weights(sizes)
    n = shape.n_train
    batch = n if not cfg.batch_size or cfg.batch_size >= n else int(cfg.batch_size)
    widest = max(sizes)
    optimizer_floats = 2 if cfg.optimizer == "adam" else (1 if getattr(cfg, "momentum", 0) else 0)
    per_unit = _saved_per_unit(acts)
    memory = {
        "data": batch * shape.n_features * F32,  # the batch copy; the dataset itself is added below
        "parameters": models * p * F32,
        "gradients": models * p * F32,
        "optimizer state": models * p * F32 * optimizer_floats,
        # the best epoch's weights, plus the new copy made before the old one is dropped
        "best-epoch copies": models * p * F32 * 2,
        "optimizer temporaries": models * p * F32,
        # a resume point copies one run's weights and optimizer state at a time while it is written
        "resume point": p * F32 * (1 + optimizer_floats),
        # saved for the backward pass, plus the gradients in flight through the widest layer
        "activations": models * batch * (sum(hidden) * per_unit + 2 * widest + shape.n_out * 4) * F32,
        "evaluation": 2 * min(max(n, shape.n_val, shape.n_test), EVAL_CHUNK) * widest * F32
        + (BOUNDARY_POINTS * widest * F32 * 2 if shape.n_features == 2 else 0),
    }
    memory = _with_slack(memory, shape)
    epoch_flops = models * (6 * w * n + 2 * w * (shape.n_val + shape.n_test) + 10 * sum(hidden) * n
                            + (2 * w * BOUNDARY_POINTS if shape.n_features == 2 else 0))
    final_flops = models * 2 * w * (n + shape.n_test)  # dead neurons and the best checkpoint's test score
    flops = cfg.epochs * epoch_flops + final_flops
    steps = models * cfg.epochs * math.ceil(n / batch)
    seconds = flops / (FLOPS_PER_THREAD * max(1, threads)) + steps * STEP_SECONDS + models * cfg.epochs * EPOCH_SECONDS
    return Estimate("this training job", memory, flops, seconds,
                    advice_memory="use a smaller network, a smaller batch (0 means the whole training set at once) "
                                  "or fewer activations",
                    advice_time="use fewer epochs, a smaller network, fewer activations or fewer training samples",
                    step_flops=6.0 * w * batch * models)


def diagnostics(shape: DataShape, hidden: Sequence[int], activations: Sequence[Any], batch_size: int,
                count_dead: bool = True, symmetry_runs: int = 0, symmetry_steps: int = 0,
                symmetry_batch: int = 0, threads: int = 1) -> Estimate:
    """The gradient-flow page (or ``gradients``/``neurons``): one forward and backward of one batch per
    activation, dead units over the training split, optional symmetry training.  Activations are
    compared one after the other, so the transient memory is that of one."""
    hidden = tuple(hidden)
    sizes = (shape.n_features, *hidden, shape.n_out)
    p, w = parameters(sizes), weights(sizes)
    n = shape.n_train
    batch = min(int(batch_size), n)
    widest = max(sizes)
    k = max(1, len(activations))
    sym_batch = n if not symmetry_batch or symmetry_batch >= n else int(symmetry_batch)
    memory = {
        "data": batch * shape.n_features * F32,
        "parameters and gradients": 2 * p * F32 + (2 * p * F32 if symmetry_runs else 0),
        # pre- and post-activations, derivatives, autograd's saved tensors, statistics' temporaries
        "activations": batch * sum(hidden) * (_saved_per_unit(activations) + 3) * F32,
        "symmetry training": (sym_batch * sum(hidden) * _saved_per_unit(activations) * F32) if symmetry_runs else 0,
        "dead-unit count": (2 * min(n, EVAL_CHUNK) * widest * F32) if count_dead else 0,
        "reports": k * (sum(sizes) * 64 + 4 * 2**20),
    }
    memory = _with_slack(memory, shape)
    flops = k * (6 * w * batch + (2 * w * n if count_dead else 0)) + symmetry_runs * symmetry_steps * 6 * w * sym_batch
    steps = k + symmetry_runs * symmetry_steps
    seconds = flops / (FLOPS_PER_THREAD * max(1, threads)) + steps * STEP_SECONDS
    return Estimate("this gradient-flow computation", memory, flops, seconds,
                    advice_memory="use a smaller batch, a smaller network or fewer samples",
                    advice_time="use fewer SGD steps, a smaller network or fewer samples")


def neurons(shape: DataShape, hidden: Sequence[int], threads: int = 1) -> Estimate:
    """Dead and saturated units of one net over the whole training split (``neurons`` command)."""
    sizes = (shape.n_features, *tuple(hidden), shape.n_out)
    memory = _with_slack({"parameters": parameters(sizes) * F32,
                          "chunks": 3 * min(shape.n_train, EVAL_CHUNK) * max(sizes) * F32}, shape)
    flops = 4 * weights(sizes) * shape.n_train  # forward, plus the derivative for saturation
    return Estimate("this dead-unit count", memory, flops, flops / (FLOPS_PER_THREAD * max(1, threads)),
                    advice_memory="use a smaller network or fewer samples",
                    advice_time="use a smaller network or fewer samples")


def checkpoint(n_in: int, hidden: Sequence[int], n_out: int, file_bytes: int = 0) -> Estimate:
    """Building the network a checkpoint describes and loading its tensors into it."""
    p = parameters((int(n_in), *tuple(hidden), int(n_out)))
    memory = _with_slack({"file": int(file_bytes) * 2, "weights read": p * F32, "network": p * F32,
                          "conversion": p * F32})
    return Estimate("this checkpoint", memory, 0.0, 0.0,
                    advice_memory="it describes a network larger than this server builds")


def csv_load(n_bytes: int, rows: int, columns: int) -> Estimate:
    """Parsing an uploaded CSV table (pandas frame, float64 features, the label column's strings)."""
    cells = max(1, rows) * max(1, columns)
    memory = _with_slack({"text": 3 * int(n_bytes), "table": cells * 8 * 3, "labels": max(1, rows) * 96})
    return Estimate("this CSV file", memory, 0.0, 0.0,
                    advice_memory="upload fewer rows or columns")


def _with_slack(memory: dict[str, int], shape: DataShape | None = None) -> dict[str, int]:
    """Add the allocator's slack; with ``shape``, the data count once resident, or at their building
    peak when that is higher than everything else together (the data are built before the rest)."""
    out = {k: int(v * ALLOCATOR_SLACK) for k, v in memory.items() if v}
    if shape is not None:
        others = sum(out.values())
        resident = int(shape.bytes_resident() * ALLOCATOR_SLACK)
        out["data"] = max(resident, int(shape.bytes_peak() * ALLOCATOR_SLACK) - others) + out.get("data", 0)
    out["overhead"] = FIXED_BYTES
    return out
