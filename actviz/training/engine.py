"""Training engine: one job trains several activations side by side from the same initial weights.

Design choices (see the training-lab issue):
- Data are preloaded tensors; a batch is a slice of a seeded random permutation (no per-sample
  Dataset/DataLoader, whose Python overhead dominates small nets).
- All activations of a job step in one thread, batch by batch, on the same batches in the same
  order.  One thread per activation would oversubscribe torch's intra-op threads on two cores.
- Evaluation runs under ``torch.inference_mode()``.
- Progress is pushed to a sink (the job) at least every ~0.5 s within an epoch, so the first points
  appear within a second of Start; the sink is the only shared state and takes its own lock.
- A run whose loss or weights turn NaN/inf stops as "diverged"; the others go on.
- Early stopping per run on validation accuracy (as the UvA Deep Learning tutorial 3 does); the best
  weights are kept and the final test accuracy is that of the best checkpoint, which is reloaded.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from actviz.activations.choice import ActivationChoice
from actviz.data import datasets
from actviz.network import diagnostics, models
from actviz.network.models import evaluate
from actviz.training.config import EpochRecord, RunStatus, TrainConfig

LIVE_INTERVAL_S = 0.5
BOUNDARY_RESOLUTION = 60


# --- progress --------------------------------------------------------------------------------------

class ProgressSink(Protocol):
    """Where the engine reports; the job manager's Job implements it (thread-safe)."""

    def run_started(self, run: int) -> None: ...
    def live_point(self, run: int, epoch_float: float, train_loss: float, progress: float) -> None: ...
    def epoch_done(self, run: int, record: EpochRecord, layer_grad_norms: list[float],
                   boundary: list[list[float]] | None) -> None: ...
    def run_finished(self, run: int, status: RunStatus, message: str, summary: dict[str, Any]) -> None: ...


@dataclass
class Run:
    """One activation's run within a job: its model, optimizer and bookkeeping."""

    index: int
    activation: ActivationChoice
    model: models.MLP
    optimizer: torch.optim.Optimizer
    status: RunStatus = RunStatus.RUNNING
    best_val_acc: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    epochs_since_best: int = 0
    epoch_seconds: list[float] = field(default_factory=list)
    message: str = ""
    # Per-epoch accumulators.
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    grad_sq: torch.Tensor | None = None
    steps: int = 0
    busy_s: float = 0.0


def _make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    # fused=True: one kernel per step instead of a chain of foreach ops (Adam's step is ~4x cheaper on
    # the FashionMNIST net of the UvA tutorial); the arithmetic is the same update rule.
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, fused=True)
    return torch.optim.Adam(params, lr=cfg.lr, fused=True)


def boundary_grid(ds: datasets.Dataset, resolution: int = BOUNDARY_RESOLUTION
                  ) -> tuple[torch.Tensor, list[float], list[float]]:
    """Grid points covering a 2-D dataset (with a margin) for decision-boundary heatmaps."""
    pts = torch.cat([ds.x_train, ds.x_val, ds.x_test])
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = 0.1 * (hi - lo)
    xs = torch.linspace(float(lo[0] - pad[0]), float(hi[0] + pad[0]), resolution)
    ys = torch.linspace(float(lo[1] - pad[1]), float(hi[1] + pad[1]), resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1), xs.tolist(), ys.tolist()


@torch.inference_mode()
def class_probability(model: nn.Module, grid: torch.Tensor, resolution: int) -> list[list[float]]:
    """P(class 1) on the grid for binary tasks (predicted class index otherwise), rows = y."""
    logits = model(grid)
    if logits.shape[1] == 1:
        values = torch.sigmoid(logits[:, 0])
    else:
        values = models.predict(logits).to(torch.float32)
    return values.reshape(resolution, resolution).tolist()


def _finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _summary(run: Run, ds: datasets.Dataset) -> dict[str, Any]:
    """Final numbers of a run: best checkpoint's test accuracy, dead neurons, learned parameters."""
    model = run.model
    if run.best_state is not None:
        model.load_state_dict(run.best_state)
    test_loss, test_acc = evaluate(model, ds.x_test, ds.y_test)
    dead = diagnostics.dead_neurons(model, ds.x_train)
    return {
        "best_epoch": run.best_epoch,
        "best_val_acc": run.best_val_acc if run.best_val_acc >= 0 else None,
        "test_acc": test_acc if math.isfinite(test_acc) else None,
        "test_loss": test_loss if math.isfinite(test_loss) else None,
        "seconds_per_epoch": (sum(run.epoch_seconds) / len(run.epoch_seconds)) if run.epoch_seconds else None,
        "dead_fraction": dead.total_fraction,
        "dead_per_layer": list(dead.counts),
        "learned": learned_parameters(model),
    }


def learned_parameters(model: models.MLP) -> dict[str, list[float]]:
    """Values of learnable activation parameters (PReLU's slope, Swish's beta) per hidden layer."""
    out: dict[str, list[float]] = {}
    for act in model.acts:
        for name, p in act.named_parameters():
            out.setdefault(name, []).append(float(p.detach().reshape(-1)[0]))
    return out


def train(cfg: TrainConfig, sink: ProgressSink, cancel: threading.Event | None = None,
          clock: Callable[[], float] = time.monotonic, dataset: datasets.Dataset | None = None) -> list[Run]:
    """Train every activation of ``cfg``; returns the runs (models at their best checkpoint).

    ``dataset`` overrides loading ``cfg.dataset`` (benchmarks feed synthetic tensors this way).
    """
    cancel = cancel or threading.Event()
    # Saturated sigmoid/tanh nets produce denormals, which are very slow on CPUs.  The flag belongs to
    # the calling thread, so it is switched back off afterwards (CLI and tests train in their own).
    torch.set_flush_denormal(True)
    try:
        return _train(cfg, sink, cancel, clock, dataset)
    finally:
        torch.set_flush_denormal(False)


def _train(cfg: TrainConfig, sink: ProgressSink, cancel: threading.Event, clock: Callable[[], float],
           dataset: datasets.Dataset | None) -> list[Run]:
    ds = dataset if dataset is not None else datasets.load(cfg.dataset)
    n_out = models.output_size(ds.n_classes)
    runs: list[Run] = []
    for i, act in enumerate(cfg.activations):
        model = models.build_mlp(ds.n_features, cfg.hidden, n_out, act, cfg.init, cfg.seed)
        runs.append(Run(i, act, model, _make_optimizer(cfg, model.parameters())))
        sink.run_started(i)

    grid, _, _ = boundary_grid(ds) if ds.is_2d else (None, None, None)
    x, y = ds.x_train, ds.y_train
    n = len(x)
    bs = n if cfg.batch_size in (0, None) or cfg.batch_size >= n else cfg.batch_size
    batches = math.ceil(n / bs)
    gen = torch.Generator().manual_seed(cfg.seed)
    last_live = clock()

    for epoch in range(1, cfg.epochs + 1):
        active = [r for r in runs if r.status == RunStatus.RUNNING]
        if not active or cancel.is_set():
            break
        for r in active:
            r.loss_sum, r.correct, r.seen, r.steps, r.busy_s = 0.0, 0, 0, 0, 0.0
            r.grad_sq = None
            r.model.train()
        perm = torch.randperm(n, generator=gen) if bs < n else None
        for b in range(batches):
            if cancel.is_set():
                break
            if perm is None:
                xb, yb = x, y
            else:
                idx = perm[b * bs:(b + 1) * bs]
                xb, yb = torch.index_select(x, 0, idx), torch.index_select(y, 0, idx)
            for r in active:
                if r.status != RunStatus.RUNNING:
                    continue
                t0 = time.perf_counter()
                _step(r, xb, yb, epoch, b, cfg)
                r.busy_s += time.perf_counter() - t0
            now = clock()
            if now - last_live >= LIVE_INTERVAL_S:
                last_live = now
                for r in active:
                    if r.status == RunStatus.RUNNING and r.seen:
                        sink.live_point(r.index, epoch - 1 + (b + 1) / batches, r.loss_sum / r.seen,
                                        (epoch - 1 + (b + 1) / batches) / cfg.epochs)
        if cancel.is_set():
            break
        for r in active:
            if r.status != RunStatus.RUNNING:
                continue
            _end_epoch(r, epoch, ds, cfg, sink, grid)

    for r in runs:
        if r.status == RunStatus.RUNNING:
            r.status = RunStatus.CANCELLED if cancel.is_set() else RunStatus.DONE
            if r.status == RunStatus.CANCELLED:
                r.message = "stopped by the user; the results so far are kept"
        summary = _summary(r, ds)
        sink.run_finished(r.index, r.status, r.message, summary)
    return runs


def _step(r: Run, xb: torch.Tensor, yb: torch.Tensor, epoch: int, b: int, cfg: TrainConfig) -> None:
    r.optimizer.zero_grad(set_to_none=True)
    logits = r.model(xb)
    loss = models.loss_fn(logits, yb)
    value = float(loss.detach())
    if not math.isfinite(value):
        _diverge(r, epoch, b, cfg, "the loss became " + ("NaN" if math.isnan(value) else "infinite"))
        return
    loss.backward()
    # One fused norm per layer (no squared copy of every gradient): ~6% of a step otherwise.
    sq = torch.stack(torch._foreach_norm([lin.weight.grad for lin in r.model.linears])).square_()
    if not bool(torch.isfinite(sq).all()):
        _diverge(r, epoch, b, cfg, "the gradients became NaN or infinite")
        return
    r.optimizer.step()
    r.grad_sq = sq if r.grad_sq is None else r.grad_sq + sq
    r.steps += 1
    r.loss_sum += value * len(xb)
    r.correct += int((models.predict(logits.detach()) == yb).sum())
    r.seen += len(xb)


def _diverge(r: Run, epoch: int, b: int, cfg: TrainConfig, what: str) -> None:
    r.status = RunStatus.DIVERGED
    r.message = (f"{what} at epoch {epoch}, batch {b + 1}: training blew up. The learning rate "
                 f"({cfg.lr:g}) is probably too high for {r.activation.label}; try a smaller one "
                 f"(e.g. {cfg.lr / 10:g}) or a gentler initialisation.")


def _end_epoch(r: Run, epoch: int, ds: datasets.Dataset, cfg: TrainConfig, sink: ProgressSink,
               grid: torch.Tensor | None) -> None:
    t0 = time.perf_counter()
    r.model.eval()
    if not _finite(r.model):
        _diverge(r, epoch, 0, cfg, "the weights became NaN or infinite")
        return
    val_loss, val_acc = evaluate(r.model, ds.x_val, ds.y_val)
    test_loss, test_acc = evaluate(r.model, ds.x_test, ds.y_test)
    seconds = r.busy_s + (time.perf_counter() - t0)
    r.epoch_seconds.append(seconds)
    record = EpochRecord(epoch=epoch, train_loss=r.loss_sum / r.seen if r.seen else math.nan,
                         train_acc=r.correct / r.seen if r.seen else math.nan, val_loss=val_loss, val_acc=val_acc,
                         test_loss=test_loss, test_acc=test_acc, seconds=seconds)
    norms = (r.grad_sq / max(r.steps, 1)).sqrt().tolist() if r.grad_sq is not None else []
    boundary = class_probability(r.model, grid, BOUNDARY_RESOLUTION) if grid is not None else None
    sink.epoch_done(r.index, record, norms, boundary)
    if val_acc > r.best_val_acc:
        r.best_val_acc, r.best_epoch, r.epochs_since_best = val_acc, epoch, 0
        r.best_state = copy.deepcopy(r.model.state_dict())
    else:
        r.epochs_since_best += 1
        if cfg.patience is not None and r.epochs_since_best >= cfg.patience:
            r.status = RunStatus.DONE
            r.message = (f"stopped early at epoch {epoch}: validation accuracy had not improved for "
                         f"{cfg.patience} epochs (best {r.best_val_acc:.2%} at epoch {r.best_epoch})")


