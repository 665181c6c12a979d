"""Training engine: one job trains several activations (each from one or several seeds) side by side.

Design choices (see the training-lab and honest-races issues):
- Data are preloaded tensors; a batch is a slice of a seeded random permutation (no per-sample
  Dataset/DataLoader, whose Python overhead dominates small nets).  Seed ``s`` fixes a run's initial
  weights, its batch order and its dropout masks, so every activation of one seed starts from the same
  weights and sees the same batches.
- Every run of a job has the same architecture, so all of them train in lockstep as one stacked model
  (:mod:`actviz.network.stacked`): per-step overhead is paid once, not once per net.  ``stacked=False``
  trains each run as its own stack of one, in the same loop (the benchmark's reference, and a check:
  a run's history is the same, to float tolerance, alone, in a race, or stacked).
- Everything steps in one thread; evaluation runs under ``torch.inference_mode()``.
- Progress goes to a sink (the job) at least every ~0.5 s within an epoch, so the first points appear
  within a second of Start; a run that ends (early stop, stop condition, divergence) is reported at
  once, not when the job ends.
- A :class:`~actviz.training.control.TrainControl` is checked at every batch boundary: pause,
  resume, step one epoch, a new learning rate from the next step, cancel.
- A run whose loss, gradients or weights turn NaN/inf, or whose loss explodes far above both its
  starting value and chance level, stops as *diverged* with an explanation; the others go on.
- Early stopping per run on validation accuracy (validation loss for regression), as the UvA Deep
  Learning tutorial 3 does; every run keeps its best-validation weights, and its final test numbers
  are those of the weights it keeps.
- With a :class:`~actviz.training.resume.Saver` the job saves resume points at epoch boundaries; given
  ``resume`` (points read back) it goes on from that epoch as if never interrupted (:mod:`.resume`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import diagnostics, metrics, models
from actviz.network.models import evaluate
from actviz.network.stacked import signature
from actviz.training import resume as resume_mod
from actviz.training.config import EpochRecord, PlannedRun, RunStatus, TrainConfig
from actviz.training.control import TrainControl, as_control
from actviz.training.outputs import (
    BOUNDARY_RESOLUTION,
    boundary_grid,
    chance_loss,
    class_probability,
    learned_parameters,
)
from actviz.training.stacking import Stack
from actviz.training.threads import Threads, intra_op_threads

LIVE_INTERVAL_S = 0.5
BOUNDARY_INTERVAL_S = 0.25   # decision surfaces at most this often (and after the last epoch): 4 updates a second
WEIGHTS_INTERVAL_S = 0.2    # small 2-D nets publish their weights this often (the network view, ≥ 4 a second)
WEIGHTS_MAX_PARAMETERS = 2000
EXPLODE_STEP = 100.0   # a batch loss this many times above max(starting loss, chance level): diverged at once
RRELU_SEED = 0x2545F491  # mixed into the config's seed for the global generator (RReLU's slopes)
EXPLODE_EPOCH = 10.0   # an epoch's mean training loss this many times above it: diverged


# --- progress --------------------------------------------------------------------------------------

class ProgressSink(Protocol):
    """Where the engine reports; the job manager's Job implements it (thread-safe)."""

    def run_started(self, run: int) -> None: ...
    def live_point(self, run: int, epoch_float: float, train_loss: float, progress: float) -> None: ...
    def epoch_done(self, run: int, record: EpochRecord, layer_grad_norms: list[float],
                   boundary: list[list[float]] | None) -> None: ...
    def run_finished(self, run: int, status: RunStatus, message: str, summary: dict[str, Any]) -> None: ...
    # Optional: ``publish_weights(run, [(W rows = out units, b) per Linear])`` for small 2-D nets.


@dataclass
class Run:
    """One run of a job (an activation from one seed): its bookkeeping and, once finished, its model."""

    index: int
    plan: PlannedRun
    model: models.MLP | None = None
    status: RunStatus = RunStatus.RUNNING
    message: str = ""
    best_score: float = -math.inf
    best_val_acc: float | None = None
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    epochs_since_best: int = 0
    epochs_done: int = 0
    epoch_seconds: list[float] = field(default_factory=list)
    reference_loss: float | None = None   # max(first batch loss, chance level)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[EpochRecord] = field(default_factory=list)    # kept for resume points
    grad_norms: list[list[float]] = field(default_factory=list)

    @property
    def activation(self):
        return self.plan.activation

    @property
    def seed(self) -> int:
        return self.plan.seed


# --- the job ---------------------------------------------------------------------------------------

def train(cfg: TrainConfig, sink: ProgressSink, control: TrainControl | threading.Event | None = None,
          clock: Callable[[], float] = time.monotonic, dataset: datasets.Dataset | None = None,
          stacked: bool = True, resume: list[resume_mod.RunPoint] | None = None,
          saver: resume_mod.Saver | None = None) -> list[Run]:
    """Train every run of ``cfg`` (every activation from every seed); returns the runs in plan order,
    each with its model at the weights it keeps.

    ``control`` is a :class:`TrainControl` or a plain cancel event.  ``dataset`` overrides loading
    ``cfg.dataset`` (benchmarks feed synthetic tensors this way).  ``stacked=False`` trains every run
    as its own net (same results, more overhead).  ``saver`` writes resume points while it trains;
    ``resume`` (:func:`.resume.read`; the list is emptied once used) goes on from the epoch they were saved at.
    """
    ctl = as_control(control)
    # Saturated sigmoid/tanh nets produce denormals, which are very slow on CPUs.  The flag belongs to
    # the calling thread, so it is switched back off afterwards (CLI and tests train in their own).
    torch.set_flush_denormal(True)
    # The global generator draws RReLU's random slopes: seeded from the config, so a job's history does not
    # depend on what its process did before (and restored by a resume point); the caller's state is kept.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed ^ RRELU_SEED)
        try:
            job = _Job(cfg, sink, ctl, clock, dataset, stacked, resume)
            job.saver = saver
            with Threads(intra_op_threads(cfg, job.ds.n_features)):
                return job.run()
        finally:
            torch.set_flush_denormal(False)


class _Job:
    def __init__(self, cfg: TrainConfig, sink: ProgressSink, control: TrainControl, clock: Callable[[], float],
                 dataset: datasets.Dataset | None, stacked: bool, resume: list[resume_mod.RunPoint] | None = None
                 ) -> None:
        self.cfg, self.sink, self.control, self.clock = cfg, sink, control, clock
        ds = dataset if dataset is not None else datasets.load(cfg.dataset)
        if cfg.features and not ds.is_2d:
            raise InputError(f"input features (x1², sin x1, ...) apply to 2-D data only; {ds.spec.name} has "
                             f"{ds.n_features} inputs")
        self.ds = ds
        self.regression = ds.task == "regression"
        self.n_out = models.output_size(ds.n_classes)
        self.chance = chance_loss(ds)
        self.seeds = list(cfg.run_seeds)
        self.runs = [Run(p.index, p) for p in cfg.plan()]
        members = []
        for r in self.runs:
            members.append(models.build_mlp(ds.n_features, cfg.hidden, self.n_out, r.activation, cfg.init, r.seed,
                                            cfg.features))
        self._initial = members
        self.first_epoch = resume_mod.restore_runs(self, members, resume) + 1 if resume else 1
        self.saver: resume_mod.Saver | None = None
        # Runs whose tensors have the same shapes share a stack (a gated layer has two projections).
        by_shape: dict[tuple[bool, ...], list[int]] = {}
        for i, model in enumerate(members):
            if self.runs[i].status.finished:  # (a run that ended before a resume point)
                continue
            by_shape.setdefault(signature([a.choice for a in model.acts]), []).append(i)
        groups = list(by_shape.values()) if stacked else [[i] for i in range(len(self.runs))]
        self.stacks = [Stack(g, [members[i] for i in g], [self.seeds.index(self.runs[i].seed) for i in g],
                             cfg.optimizer, cfg.lr, cfg.momentum, cfg.l1, cfg.l2, self.regression) for g in groups]
        self.order_gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.drop_gens = [torch.Generator().manual_seed(s ^ 0x5DEECE66D) for s in self.seeds]
        self.grid = boundary_grid(ds)[0] if ds.is_2d else None
        self.last_surface = -math.inf
        self.lr_version, self.base_lr = 0, cfg.lr
        small = all(st.net.parameter_count() <= WEIGHTS_MAX_PARAMETERS for st in self.stacks)
        self.publish = ds.is_2d and small and callable(getattr(sink, "publish_weights", None))
        self.last_weights = -math.inf
        if resume:
            resume_mod.restore_state(self, resume)
        for r in self.runs:
            sink.run_started(r.index)
        if resume:
            resume_mod.replay(self)
            resume.clear()  # consumed: the caller's list no longer holds the saved tensors while this trains

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> list[Run]:
        cfg, ds = self.cfg, self.ds
        x, y = ds.x_train, ds.y_train
        n = len(x)
        bs = n if cfg.batch_size in (0, None) or cfg.batch_size >= n else cfg.batch_size
        batches = math.ceil(n / bs)
        last_live = self.clock()
        for epoch in range(self.first_epoch, cfg.epochs + 1):
            active = self._active_slots()
            if not active or not self.control.wait():
                break
            lr = self._lr(epoch)
            perms = {s: torch.randperm(n, generator=self.order_gens[s]) if bs < n else None for s in active}
            for st in self.stacks:
                st.reset_epoch()
            completed = True
            for b in range(batches):
                if not self.control.wait():
                    completed = False
                    break
                version, override = self.control.lr_override()
                if version != self.lr_version:
                    self.lr_version, self.base_lr = version, override if override is not None else cfg.lr
                    lr = self._lr(epoch)
                active = self._active_slots()
                if not active:
                    break
                xs, ys, batch = self._batch(x, y, perms, active, b, bs)
                masks = self._masks(active, batch) if cfg.dropout > 0 else None
                for st in self.stacks:
                    if st.size:
                        self._step(st, xs, ys, masks, active, batch, epoch, b)
                now = self.clock()
                if now - last_live >= LIVE_INTERVAL_S:
                    last_live = now
                    self._live(epoch, (b + 1) / batches)
                if self.publish and now - self.last_weights >= WEIGHTS_INTERVAL_S:
                    self._publish_weights()
            if not completed:
                break
            # Before the epoch is reported: a pending step turns into a pause here, so the control state the
            # job sends with its last epoch report already says "paused" (the engine then waits silently).
            self.control.epoch_finished(epoch)
            for st in self.stacks:
                if st.size:
                    self._end_epoch(st, epoch, lr)
            if self.publish:
                self._publish_weights()
            if self.saver is not None and epoch < cfg.epochs:  # a paused job saves where it waits
                self.saver.offer(self, epoch, force=self.control.paused)
        stopped = self.control.cancelled
        for r in self.runs:
            if r.status == RunStatus.RUNNING:
                status = RunStatus.STOPPED if stopped else RunStatus.DONE
                message = "stopped by the user; the results so far are kept" if stopped else ""
                self._finish(r, status, message)
        return self.runs

    def _active_slots(self) -> tuple[int, ...]:
        slots = {s for st in self.stacks for s in st.slots}
        return tuple(sorted(slots))

    def _lr(self, epoch: int) -> float:
        lr = self.cfg.lr_at(epoch, self.base_lr)
        for st in self.stacks:
            st.set_lr(lr)
        return lr

    def _batch(self, x, y, perms, active, b, bs):
        """The batch of every active seed slot: ``[B, F]`` when they all share one, else ``[S, B, F]``."""
        if all(perms[s] is None for s in active):
            return x, y, len(x)
        idx = [perms[s][b * bs:(b + 1) * bs] for s in active]
        if len(active) == 1:
            return x.index_select(0, idx[0]), y.index_select(0, idx[0]), len(idx[0])
        stacked = torch.stack(idx)
        return x[stacked], y[stacked], stacked.shape[1]

    def _masks(self, active, batch):
        """Dropout masks per hidden layer, one per seed slot, drawn from that seed's own generator."""
        p = self.cfg.dropout
        out = []
        for h in self.cfg.hidden:
            per_slot = [(torch.rand(batch, h, generator=self.drop_gens[s]) >= p).to(torch.float32).div_(1.0 - p)
                        for s in active]
            out.append(per_slot[0] if len(per_slot) == 1 else torch.stack(per_slot))
        return out

    def _step(self, st: Stack, xs, ys, masks, active, batch: int, epoch: int, b: int) -> None:
        rows = st.member_rows(active)  # None when one seed slot is active: every member shares the batch
        x_in, y_in = Stack.pick(xs, rows) if xs.dim() == 3 else xs, Stack.pick(ys, rows) if ys.dim() == 2 else ys
        m_in = None if masks is None else [Stack.pick(mk, rows) if mk.dim() == 3 else mk for mk in masks]
        result = st.forward_backward(x_in, y_in, m_in)
        bad: list[int] = []
        for i, (loss, finite) in enumerate(zip(result.losses, result.grads_finite, strict=True)):
            r = self.runs[st.runs[i]]
            if r.reference_loss is None and math.isfinite(loss):
                r.reference_loss = max(loss, self.chance)
            why = self._blew_up(r, loss, finite)
            if why:
                bad.append(i)
                self._diverge(r, f"{why} at epoch {epoch}, batch {b + 1}")
        if bad:
            keep = [i for i in range(st.size) if i not in bad]
            st.drop(bad)
            result.losses = [result.losses[i] for i in keep]
        if st.size:
            st.update(result.losses, batch)

    def _publish_weights(self) -> None:
        self.last_weights = self.clock()
        for st in self.stacks:
            if st.size:
                for run, weights in zip(st.runs, st.net.member_weights(range(st.size)), strict=True):
                    self.sink.publish_weights(run, weights)

    def _blew_up(self, r: Run, loss: float, grads_finite: bool) -> str:
        if not math.isfinite(loss):
            return "the loss became " + ("NaN" if math.isnan(loss) else "infinite")
        if not grads_finite:
            return "the gradients became NaN or infinite"
        ref = r.reference_loss
        if ref is not None and loss > EXPLODE_STEP * ref:
            return (f"the loss exploded to {loss:.3g}, over {EXPLODE_STEP:g}× its starting value and chance level "
                    f"({ref:.3g})")
        return ""

    def _live(self, epoch: int, fraction: float) -> None:
        for st in self.stacks:
            if not st.seen:
                continue
            for i, run in enumerate(st.runs):
                e = epoch - 1 + fraction
                self.sink.live_point(run, e, st.loss_sum[i] / st.seen, e / self.cfg.epochs)

    # --- end of an epoch --------------------------------------------------------------------------
    def _end_epoch(self, st: Stack, epoch: int, lr: float) -> None:
        cfg, ds = self.cfg, self.ds
        t0 = time.perf_counter()
        finite = st.net.finite()
        val = st.evaluate(ds.x_val, ds.y_val)
        test = st.evaluate(ds.x_test, ds.y_test)
        now = self.clock()
        fresh = (now - self.last_surface >= BOUNDARY_INTERVAL_S or epoch in (1, cfg.epochs)
                 or self.control.paused or self.control.stepping)
        if st is self.stacks[-1] and fresh:
            self.last_surface = now
        cache: list[list[list[list[float]]]] = []

        def surface(i: int, ending: bool) -> list[list[float]] | None:
            if self.grid is None or not (fresh or ending):
                return None
            if not cache:
                cache.append(st.surfaces(self.grid, BOUNDARY_RESOLUTION))
            return cache[0][i]
        norms = st.epoch_grad_norms()
        correct = st.correct.tolist()
        seconds = (st.busy_s + time.perf_counter() - t0) / st.size
        leaving: list[int] = []
        for i, run_index in enumerate(st.runs):
            r = self.runs[run_index]
            if not finite[i]:
                self._diverge(r, f"the weights became NaN or infinite in epoch {epoch}")
                leaving.append(i)
                continue
            train_loss = st.loss_sum[i] / st.seen if st.seen else math.nan
            train_acc = correct[i] / st.seen if st.seen and not self.regression else math.nan
            record = EpochRecord(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val.loss[i],
                                 val_acc=val.acc[i], test_loss=test.loss[i], test_acc=test.acc[i], seconds=seconds,
                                 lr=lr, val_r2=val.r2[i], test_r2=test.r2[i], learned=st.net.member_learned(i))
            r.epoch_seconds.append(seconds)
            r.epochs_done = epoch
            ref = r.reference_loss
            exploded = ref is not None and math.isfinite(train_loss) and train_loss > EXPLODE_EPOCH * ref
            ended = None
            if not exploded:
                score = -val.loss[i] if self.regression else val.acc[i]
                if score > r.best_score:  # NaN never improves
                    r.best_score, r.best_epoch, r.epochs_since_best = score, epoch, 0
                    r.best_val_acc = None if self.regression else val.acc[i]
                    r.best_state = st.net.member_state(i)
                else:
                    r.epochs_since_best += 1
                ended = self._stop_reason(r, epoch, train_loss, val.acc[i])
            r.history.append(record)
            r.grad_norms.append(norms[i])
            self.sink.epoch_done(r.index, record, norms[i], surface(i, exploded or ended is not None))
            if exploded:
                self._diverge(r, f"the training loss of epoch {epoch} was {train_loss:.3g}, over {EXPLODE_EPOCH:g}× "
                                 f"its starting value and chance level ({ref:.3g})")
                leaving.append(i)
                continue
            if ended:
                status, message = ended
                self._finish(r, status, message, st.net.member_state(i))
                leaving.append(i)
        if leaving:
            st.drop(leaving)

    def _stop_reason(self, r: Run, epoch: int, train_loss: float, val_acc: float) -> tuple[RunStatus, str] | None:
        cfg = self.cfg
        if cfg.stop_val_acc is not None and val_acc >= cfg.stop_val_acc:
            return RunStatus.DONE, (f"reached the stop condition at epoch {epoch}: validation accuracy {val_acc:.2%} "
                                    f"≥ {cfg.stop_val_acc:.2%}")
        if cfg.stop_loss is not None and train_loss <= cfg.stop_loss:
            return RunStatus.DONE, (f"reached the stop condition at epoch {epoch}: training loss {train_loss:.4g} "
                                    f"≤ {cfg.stop_loss:g}")
        if cfg.patience is not None and r.epochs_since_best >= cfg.patience and epoch < cfg.epochs:
            what = "validation loss" if self.regression else "validation accuracy"
            best = f"{-r.best_score:.4g}" if self.regression else f"{r.best_score:.2%}"
            return RunStatus.EARLY_STOPPED, (f"stopped early at epoch {epoch}: {what} had not improved for "
                                             f"{cfg.patience} epochs; keeps the weights of epoch {r.best_epoch} "
                                             f"({what} {best})")
        return None

    def _diverge(self, r: Run, what: str) -> None:
        cfg = self.cfg
        label = r.activation.label
        message = (f"{what}: training blew up. The learning rate ({cfg.lr:g}) is probably too high for {label}; "
                   f"try a smaller one (e.g. {cfg.lr / 10:g}) or a gentler initialisation.")
        if r.epochs_done == 0:
            message += " No epoch completed, so there is no test accuracy to report."
        self._finish(r, RunStatus.DIVERGED, message, None)

    # --- a run ends -------------------------------------------------------------------------------
    def _finish(self, r: Run, status: RunStatus, message: str, last_state: dict[str, torch.Tensor] | None = None
                ) -> None:
        """Build the run's model at the weights it keeps, score it, report it now."""
        if r.status.finished:
            return
        r.status, r.message = status, message
        if last_state is None and r.best_state is None:
            last_state = self._current_state(r)
        model = self._initial[r.index]
        state = r.best_state if r.best_state is not None else last_state
        if state is not None:
            model.load_state_dict(state)
        model.eval()
        r.model = model
        if self.publish:
            self.sink.publish_weights(r.index, [(lin.weight.detach().tolist(), lin.bias.detach().tolist())
                                                for lin in model.linears])
        r.summary = self._summary(r)
        self.sink.run_finished(r.index, r.status, r.message, r.summary)

    def _current_state(self, r: Run) -> dict[str, torch.Tensor] | None:
        for st in self.stacks:
            if r.index in st.runs:
                return st.net.member_state(st.runs.index(r.index))
        return None

    def _summary(self, r: Run) -> dict[str, Any]:
        ds, model = self.ds, r.model
        scored = r.epochs_done > 0 and r.best_state is not None
        out: dict[str, Any] = {
            "best_epoch": r.best_epoch if scored else None,
            "best_val_acc": r.best_val_acc if scored else None,
            "test_acc": None, "test_loss": None,
            "seconds_per_epoch": (sum(r.epoch_seconds) / len(r.epoch_seconds)) if r.epoch_seconds else None,
            "dead_fraction": None, "dead_per_layer": None,
            "learned": learned_parameters(model) if model is not None else {},
            "seed": r.seed, "activation_index": r.plan.group,
        }
        if not scored or model is None:
            return out
        scores = metrics.split_scores(model, ds.x_test, ds.y_test, ds.n_classes, ds.y_scale)
        finite = lambda v: v if isinstance(v, float) and math.isfinite(v) else None
        out["test_loss"] = finite(scores["loss"])
        if self.regression:
            out["test_rmse"], out["test_r2"] = finite(scores["rmse"]), finite(scores["r2"])
        else:
            out["test_acc"], out["confusion"] = finite(scores["acc"]), scores["confusion"]
        if model.hidden:
            dead = diagnostics.dead_neurons(model, ds.x_train)
            out["dead_fraction"], out["dead_per_layer"] = dead.total_fraction, list(dead.counts)
        else:
            out["dead_fraction"], out["dead_per_layer"] = 0.0, []
        return out


__all__ = ["BOUNDARY_RESOLUTION", "LIVE_INTERVAL_S", "ProgressSink", "Run", "TrainConfig", "TrainControl",
           "boundary_grid", "chance_loss", "class_probability", "evaluate", "intra_op_threads", "learned_parameters",
           "train"]
