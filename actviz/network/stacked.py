"""Several MLPs of one architecture as one batched model: the stacked engine's network.

Members differ only in their activations (and their initial weights, batches and dropout masks,
which the caller provides).  Their parameters are stacked along a leading member axis —
``weights[l]`` is ``[M, in, out]``, ``biases[l]`` is ``[M, 1, out]`` — so one ``baddbmm`` per layer
computes every member's layer, one backward gives every member's gradients (the loss is the sum of
the members' losses, and member ``m``'s parameters only reach loss ``m``), and one optimizer step
updates them all.  Small nets pay Python and dispatch overhead per operation, so this costs about
what one net costs.

Members must have the same tensor shapes: a gated layer (``act(a)·b``) has twice the outputs, so the
engine stacks runs by :func:`signature`.  Element-wise activations apply per slice: members are kept
in the caller's order and each hidden layer applies one call per run of consecutive members sharing
the same activation (races list the seeds of an activation together, so a race of K activations makes
K calls per layer; RReLU uses its training-mode function while training).  A member
with learnable activation parameters (PReLU's slope, Swish's β) keeps them as its own 0-d leaf
tensors and gets its own call, exactly as :class:`~actviz.network.models.ActivationModule` does.

:meth:`StackedMLP.member_state` gives a member's ``MLP.state_dict()`` and :meth:`select` keeps a
subset of members (a run that stopped or diverged leaves the stack; the others go on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from actviz.activations.choice import ActivationChoice
from actviz.network import features as features_mod
from actviz.network.models import MLP

Tensor = torch.Tensor


@dataclass(frozen=True)
class _Group:
    start: int
    stop: int
    fn: Callable[[Tensor], Tensor]
    train_fn: Callable[[Tensor], Tensor] | None = None  # differs while training (RReLU's random slopes)


class StackedMLP:
    """``M`` members, each an MLP with the same sizes; built from initialised :class:`MLP` s."""

    def __init__(self, members: Sequence[MLP]) -> None:
        if not members:
            raise ValueError("a stack needs at least one member")
        first = members[0]
        self.n_in, self.hidden, self.n_out = first.n_in, first.hidden, first.n_out
        self.features = first.features
        self.choices: list[tuple[ActivationChoice, ...]] = [tuple(a.choice for a in m.acts) for m in members]
        with torch.no_grad():
            self.weights = [torch.stack([m.linears[i].weight.t() for m in members]).contiguous().requires_grad_()
                            for i in range(len(first.linears))]
            self.biases = [torch.stack([m.linears[i].bias for m in members]).unsqueeze(1).contiguous()
                           .requires_grad_() for i in range(len(first.linears))]
            # Per member, per hidden layer: {name: 0-d leaf} of its learnable activation parameters.
            self.learned: list[list[dict[str, Tensor]]] = [
                [{n: p.detach().clone().requires_grad_() for n, p in act.named_parameters()} for act in m.acts]
                for m in members]
        self._groups = self._make_groups()

    @classmethod
    def _from_parts(cls, proto: StackedMLP, weights: list[Tensor], biases: list[Tensor],
                    choices: list[tuple[ActivationChoice, ...]], learned: list[list[dict[str, Tensor]]]) -> StackedMLP:
        out = cls.__new__(cls)
        out.n_in, out.hidden, out.n_out, out.features = proto.n_in, proto.hidden, proto.n_out, proto.features
        out.weights, out.biases, out.choices, out.learned = weights, biases, choices, learned
        out._groups = out._make_groups()
        return out

    @property
    def size(self) -> int:
        return len(self.choices)

    def parameters(self) -> list[Tensor]:
        extra = [p for member in self.learned for layer in member for p in layer.values()]
        return [*self.weights, *self.biases, *extra]

    # --- forward --------------------------------------------------------------------------------
    def _make_groups(self) -> list[list[_Group]]:
        groups: list[list[_Group]] = []
        for layer in range(len(self.hidden)):
            runs: list[_Group] = []
            m = 0
            while m < self.size:
                choice = self.choices[m][layer]
                params = self.learned[m][layer]
                if params:  # its own call with its own parameter tensors
                    runs.append(_Group(m, m + 1, _bound(choice, params)))
                    m += 1
                    continue
                end = m + 1
                while (end < self.size and not self.learned[end][layer]
                       and self.choices[end][layer].key == choice.key):
                    end += 1
                runs.append(_Group(m, end, _elementwise(choice), choice.training_function()))
                m = end
            groups.append(runs)
        self._sizes = [[g.stop - g.start for g in layer] for layer in groups]
        return groups

    def _activate(self, layer: int, z: Tensor, training: bool) -> Tensor:
        groups = self._groups[layer]
        pick = (lambda g: g.train_fn or g.fn) if training else (lambda g: g.fn)
        if len(groups) == 1:
            return pick(groups[0])(z)
        # split (not slicing): its backward is one cat, where every slice's backward would zero-fill a
        # full-size gradient.
        parts = z.split(self._sizes[layer])
        return torch.cat([pick(g)(part) for g, part in zip(groups, parts, strict=True)])

    def _linear(self, layer: int, h: Tensor) -> Tensor:
        w, b = self.weights[layer], self.biases[layer]
        if h.dim() == 2:  # every member gets the same input
            h = h.expand(w.shape[0], *h.shape)
        return torch.baddbmm(b, h, w)

    def forward(self, x: Tensor, masks: Sequence[Tensor] | None = None, training: bool = False) -> Tensor:
        """``x`` is ``[B, n_in]`` (shared) or ``[M, B, n_in]``; returns ``[M, B, n_out]``.

        ``masks[l]`` (broadcastable to ``[M, B, hidden[l]]``) multiplies layer ``l``'s output (dropout);
        ``training`` uses an activation's training-mode function where it has one (RReLU).
        """
        h = features_mod.expand(x, self.features)
        for layer in range(len(self.hidden)):
            h = self._activate(layer, self._linear(layer, h), training)
            if masks is not None:
                h = h * masks[layer]
        return self._linear(len(self.hidden), h)

    __call__ = forward

    def penalty(self, l1: float, l2: float) -> Tensor | None:
        """Per member ``l1 * sum|w| + l2 * sum w²/2`` over every weight (not the biases), or None."""
        if not l1 and not l2:
            return None
        total = None
        for w in self.weights:
            term = 0.0
            if l2:
                term = term + (0.5 * l2) * w.square().sum((1, 2))
            if l1:
                term = term + l1 * w.abs().sum((1, 2))
            total = term if total is None else total + term
        return total

    # --- members --------------------------------------------------------------------------------
    def member_state(self, m: int) -> dict[str, Tensor]:
        """Member ``m``'s parameters as an ``MLP.state_dict()`` (detached copies)."""
        state: dict[str, Tensor] = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            state[f"linears.{i}.weight"] = w[m].detach().t().clone()
            state[f"linears.{i}.bias"] = b[m, 0].detach().clone()
        for i, params in enumerate(self.learned[m]):
            for name, p in params.items():
                state[f"acts.{i}.{name}"] = p.detach().clone()
        return state

    @torch.no_grad()
    def member_weights(self, members: Sequence[int]) -> list[list[tuple[list[list[float]], list[float]]]]:
        """Per member in ``members``: ``(W, b)`` per layer as nested lists, W with rows = output units
        (``nn.Linear.weight``'s layout)."""
        index = torch.tensor(list(members), dtype=torch.long)
        per_layer = [(w.index_select(0, index).transpose(1, 2).tolist(), b.index_select(0, index)[:, 0].tolist())
                     for w, b in zip(self.weights, self.biases, strict=True)]
        return [[(ws[i], bs[i]) for ws, bs in per_layer] for i in range(len(index))]

    def parameter_count(self) -> int:
        """Parameters of one member."""
        return sum(w[0].numel() + b[0].numel() for w, b in zip(self.weights, self.biases, strict=True))

    def member_learned(self, m: int) -> dict[str, list[float]]:
        """Member ``m``'s learnable activation parameters: name -> value per hidden layer (as
        :func:`actviz.training.outputs.learned_parameters` reads them from an MLP)."""
        out: dict[str, list[float]] = {}
        for params in self.learned[m]:
            for name, p in params.items():
                out.setdefault(name, []).append(float(p.detach().reshape(-1)[0]))
        return out

    @torch.no_grad()
    def finite(self) -> list[bool]:
        """Per member: are all its parameters finite?"""
        ok = torch.ones(self.size, dtype=torch.bool)
        for t in (*self.weights, *self.biases):
            ok &= torch.isfinite(t).flatten(1).all(1)
        flags = ok.tolist()
        for m, member in enumerate(self.learned):
            if any(not bool(torch.isfinite(p)) for layer in member for p in layer.values()):
                flags[m] = False
        return flags

    def select(self, keep: Sequence[int]) -> tuple[StackedMLP, dict[Tensor, Tensor | None]]:
        """A stack of the members ``keep`` (new leaf tensors, gradients carried over) and, for each old
        parameter, its new tensor (None for a dropped member's own parameter)."""
        index = torch.tensor(list(keep), dtype=torch.long)
        mapping: dict[Tensor, Tensor | None] = {}

        def take(t: Tensor) -> Tensor:
            new = t.detach().index_select(0, index).requires_grad_()
            if t.grad is not None:
                new.grad = t.grad.index_select(0, index)
            mapping[t] = new
            return new

        weights = [take(w) for w in self.weights]
        biases = [take(b) for b in self.biases]
        kept = set(keep)
        for m, member in enumerate(self.learned):
            for layer in member:
                for p in layer.values():
                    mapping[p] = p if m in kept else None
        out = StackedMLP._from_parts(self, weights, biases, [self.choices[m] for m in keep],
                                     [self.learned[m] for m in keep])
        return out, mapping


def _bound(choice: ActivationChoice, params: dict[str, Tensor]) -> Callable[[Tensor], Tensor]:
    return lambda z: choice.call_with(z, params)


def _elementwise(choice: ActivationChoice) -> Callable[[Tensor], Tensor]:
    """The layer's function of its Linear output: f(z), or act(a)·b of the halves of a gated layer's z."""
    if choice.is_gated:
        pair = choice.gated_function()
        return lambda z: pair(*z.chunk(2, dim=-1))
    return choice.function()


def signature(choices: Sequence[ActivationChoice]) -> tuple[bool, ...]:
    """What fixes a member's tensor shapes besides the sizes: which hidden layers are gated (2h outputs).
    Only members with the same signature can share a stack."""
    return tuple(c.is_gated for c in choices)


def member_losses(out: Tensor, y: Tensor) -> Tensor:
    """Each member's mean loss over its batch: ``out`` ``[M, B, C]``, ``y`` ``[B]`` or ``[M, B]`` -> ``[M]``.

    The same losses as :func:`actviz.network.models.loss_fn`: MSE for float targets, BCE-with-logits
    for one output, cross-entropy otherwise."""
    m, b, c = out.shape
    if y.dim() == 1:
        y = y.expand(m, b)
    if y.dtype.is_floating_point:
        return (out[..., 0] - y.to(out.dtype)).square().mean(1)
    if c == 1:
        return F.binary_cross_entropy_with_logits(out[..., 0], y.to(out.dtype), reduction="none").mean(1)
    return F.cross_entropy(out.reshape(m * b, c), y.reshape(m * b), reduction="none").view(m, b).mean(1)


def member_predictions(out: Tensor) -> Tensor:
    """Predicted classes ``[M, B]`` (as :func:`actviz.network.models.predict`)."""
    if out.shape[-1] == 1:
        return (out[..., 0] > 0).to(torch.int64)
    return out.argmax(-1)
