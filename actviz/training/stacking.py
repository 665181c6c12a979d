"""One stack of runs training in lockstep: a :class:`StackedMLP`, its optimizer and the per-epoch
accumulators of its members (the engine's inner loop; :mod:`.engine` drives it).

A run that leaves the stack (it diverged, stopped early or reached its stop condition) is dropped
with :meth:`Stack.drop`: its rows are cut out of every stacked parameter and out of the optimizer's
state, so the others continue exactly as before and the stack gets cheaper.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from actviz.network.models import EVAL_CHUNK, MLP
from actviz.network.stacked import StackedMLP, member_losses, member_predictions

Tensor = torch.Tensor


def make_optimizer(optimizer: str, lr: float, momentum: float, params: list[Tensor]) -> torch.optim.Optimizer:
    # fused=True: one kernel per step instead of a chain of foreach ops (Adam's step is ~4x cheaper on
    # the FashionMNIST net of the UvA tutorial); the arithmetic is the same element-wise update rule,
    # so a member's update does not depend on which other members share its tensors.
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, fused=True)
    return torch.optim.Adam(params, lr=lr, fused=True)


@dataclass
class StepResult:
    losses: list[float]        # per member, this batch's data loss
    grads_finite: list[bool]   # per member


@dataclass
class SplitResult:
    loss: list[float]
    acc: list[float]           # NaN for regression
    r2: list[float]            # NaN for classification


class Stack:
    """Members (run indices, in order) of one :class:`StackedMLP` and their optimizer."""

    def __init__(self, runs: Sequence[int], models: Sequence[MLP], slots: Sequence[int], optimizer: str, lr: float,
                 momentum: float, l1: float = 0.0, l2: float = 0.0, regression: bool = False) -> None:
        self.runs = list(runs)
        self.regression = regression
        self.slots = list(slots)          # per member: its seed slot
        self.net = StackedMLP(models)
        self._opt_args = (optimizer, momentum)
        self.opt = make_optimizer(optimizer, lr, momentum, self.net.parameters())
        self.l1, self.l2 = l1, l2
        self._slot_index: tuple[tuple[int, ...], Tensor | None] = ((), None)
        self.reset_epoch()

    @property
    def size(self) -> int:
        return len(self.runs)

    def reset_epoch(self) -> None:
        self.loss_sum = [0.0] * self.size
        self.correct = torch.zeros(self.size, dtype=torch.int64)
        self.grad_sq: Tensor | None = None
        self.seen = 0
        self.steps = 0
        self.busy_s = 0.0

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    # --- inputs -----------------------------------------------------------------------------------
    def member_rows(self, active_slots: tuple[int, ...]) -> Tensor | None:
        """Index of each member's row in the per-slot batch tensors (None: one slot, a shared batch)."""
        if len(active_slots) == 1:
            return None
        if self._slot_index[0] != active_slots:
            pos = {s: i for i, s in enumerate(active_slots)}
            self._slot_index = (active_slots, torch.tensor([pos[s] for s in self.slots], dtype=torch.long))
        return self._slot_index[1]

    @staticmethod
    def pick(per_slot: Tensor, rows: Tensor | None) -> Tensor:
        """The members' rows of a per-slot tensor ``[S, ...]`` (or the shared ``[...]`` when one slot)."""
        return per_slot if rows is None else per_slot.index_select(0, rows)

    # --- training ---------------------------------------------------------------------------------
    def forward_backward(self, x: Tensor, y: Tensor, masks: Sequence[Tensor] | None) -> StepResult:
        """Forward, loss and backward of one batch; the optimizer step is :meth:`update` (after the
        engine has taken out members whose loss or gradients blew up)."""
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        out = self.net(x, masks, training=True)
        losses = member_losses(out, y)
        total = losses.sum()
        penalty = self.net.penalty(self.l1, self.l2)
        if penalty is not None:
            total = total + penalty.sum()
        total.backward()
        # One norm per layer and member (no squared copy of every gradient).
        sq = torch.stack([torch.linalg.vector_norm(w.grad, dim=(1, 2)) for w in self.net.weights]).square_()
        check = torch.cat([losses.detach(), sq.sum(0)]).tolist()
        m = self.size
        if not y.dtype.is_floating_point:
            target = y if y.dim() == 2 else y.expand(m, -1)
            self.correct += (member_predictions(out.detach()) == target).sum(1)
        self.grad_sq = sq if self.grad_sq is None else self.grad_sq + sq
        self.busy_s += time.perf_counter() - t0
        return StepResult(check[:m], [math.isfinite(v) for v in check[m:]])

    def update(self, losses: Sequence[float], batch: int) -> None:
        t0 = time.perf_counter()
        self.opt.step()
        for i, v in enumerate(losses):
            self.loss_sum[i] += v * batch
        self.seen += batch
        self.steps += 1
        self.busy_s += time.perf_counter() - t0

    def drop(self, members: Sequence[int]) -> None:
        """Take members (positions in this stack) out; the rest keep their weights and optimizer state."""
        gone = set(members)
        keep = [i for i in range(self.size) if i not in gone]
        old_params = self.net.parameters()
        net, mapping = self.net.select(keep)
        old_state = self.opt.state
        lr = self.opt.param_groups[0]["lr"]
        new_params = net.parameters()
        opt = make_optimizer(self._opt_args[0], lr, self._opt_args[1], new_params)
        index = torch.tensor(keep, dtype=torch.long)
        stacked_params = {id(p) for p in (*self.net.weights, *self.net.biases)}
        for p in old_params:
            new = mapping.get(p)
            if new is None or p not in old_state:
                continue
            state: dict[str, Any] = {}
            for k, v in old_state[p].items():
                if isinstance(v, Tensor) and id(p) in stacked_params and v.dim() > 0 and v.shape[0] == self.size:
                    v = v.index_select(0, index)
                state[k] = v
            opt.state[new] = state
        self.net, self.opt = net, opt
        self.runs = [self.runs[i] for i in keep]
        self.slots = [self.slots[i] for i in keep]
        self._slot_index = ((), None)
        self.loss_sum = [self.loss_sum[i] for i in keep]
        self.correct = self.correct.index_select(0, index)
        if self.grad_sq is not None:
            self.grad_sq = self.grad_sq.index_select(1, index)

    # --- evaluation -------------------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, x: Tensor, y: Tensor) -> SplitResult:
        """Every member's mean loss and accuracy (or R²) over a whole split, in chunks."""
        m, n = self.size, len(x)
        nan = [math.nan] * m
        if n == 0:
            return SplitResult(nan, nan, nan)
        chunk = max(256, EVAL_CHUNK // max(1, m))
        loss = torch.zeros(m, dtype=torch.float64)
        correct = torch.zeros(m, dtype=torch.int64)
        ss_res = torch.zeros(m, dtype=torch.float64)
        for s in range(0, n, chunk):
            xb, yb = x[s:s + chunk], y[s:s + chunk]
            out = self.net(xb)
            loss += member_losses(out, yb).to(torch.float64) * len(xb)
            if yb.dtype.is_floating_point:
                ss_res += (out[..., 0] - yb).to(torch.float64).square().sum(1)
            else:
                correct += (member_predictions(out) == yb).sum(1)
        losses = (loss / n).tolist()
        if y.dtype.is_floating_point:
            y64 = y.to(torch.float64)
            ss_tot = float((y64 - y64.mean()).square().sum())
            r2 = [(1.0 - r / ss_tot) if ss_tot > 0 and math.isfinite(r) else math.nan for r in ss_res.tolist()]
            return SplitResult(losses, nan, r2)
        return SplitResult(losses, (correct.to(torch.float64) / n).tolist(), nan)

    @torch.inference_mode()
    def surfaces(self, grid: Tensor, resolution: int) -> list[list[list[float]]]:
        """Per member, over a 2-D grid: P(class 1) for binary tasks, the predicted class for more
        classes, the predicted value for regression; rows = y."""
        out = self.net(grid)
        if out.shape[-1] > 1:
            values = member_predictions(out).to(torch.float32)
        elif self.regression:
            values = out[..., 0]
        else:
            values = torch.sigmoid(out[..., 0])
        return values.reshape(self.size, resolution, resolution).tolist()

    def epoch_grad_norms(self) -> list[list[float]]:
        """Per member: the root-mean-square over the epoch's steps of each layer's weight-gradient norm."""
        if self.grad_sq is None:
            return [[] for _ in range(self.size)]
        return (self.grad_sq / max(self.steps, 1)).sqrt().t().tolist()
