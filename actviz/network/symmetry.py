"""Zero or constant initialisation: symmetric hidden units stay symmetric however long you train.

With zero (or any constant) weights every hidden unit computes the same thing and receives the same
gradient, so the layer behaves like a single unit (the moons lab of "Neural Networks and Deep
Learning", Qiu Xipeng: accuracy stays near 50 %).  Random initialisation breaks the symmetry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from actviz import limits, validate
from actviz.activations.choice import ActivationChoice
from actviz.network import models
from actviz.network.diagnostics import check_batch_size, finite_or_none, hidden_names

SYMMETRY_RTOL = 1e-5    # units closer than this (relative to the weights' size) differ by float rounding only
# Weights below this size after zero-init training are float32 rounding of an exact 0: with every weight 0
# and balanced classes the exact gradients are 0 (the run in float64 gives ~1e-18 where float32 gives ~1e-8).
ROUNDING_ZERO = 1e-6


@dataclass
class LayerSymmetry:
    name: str
    units: int
    row_spread: float      # max |W[i, :] - W[0, :]| over rows i (0: every unit has the same incoming weights)
    bias_spread: float
    weight_std: float

    weight_max: float = 0.0  # max |W| (the scale the spread is compared with)
    bias_max: float = 0.0

    @property
    def identical(self) -> bool:
        """Every unit has the same incoming weights and bias, up to float rounding of the reductions."""
        return (self.row_spread <= SYMMETRY_RTOL * self.weight_max + 1e-15
                and self.bias_spread <= SYMMETRY_RTOL * self.bias_max + 1e-15)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "row_spread": self.row_spread,
                "bias_spread": self.bias_spread, "weight_std": self.weight_std, "weight_max": self.weight_max,
                "identical": self.identical}


@dataclass
class SymmetryReport:
    activation: ActivationChoice
    init: models.InitSpec
    steps: int
    lr: float
    losses: list[float]
    train_accuracy: float
    layers: list[LayerSymmetry]      # hidden layers only
    first_weights: list[list[float]]  # first hidden layer's weight matrix (at most 32 x 32 shown)

    @property
    def label(self) -> str:
        return self.activation.label

    @property
    def all_identical(self) -> bool:
        return all(layer.identical for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {"activation": self.activation.as_dict(), "label": self.label, "init": self.init.as_dict(),
                "steps": self.steps, "lr": self.lr, "losses": [finite_or_none(v) for v in self.losses],
                "train_accuracy": self.train_accuracy, "all_identical": self.all_identical,
                "layers": [layer.to_json() for layer in self.layers], "first_weights": self.first_weights}


def zero_init_symmetry(dataset: Any, hidden: Sequence[int], choice: ActivationChoice,
                       init: models.InitSpec | None = None, seed: int = 0, steps: int = 100, lr: float = 0.2,
                       batch_size: int = 0) -> SymmetryReport:
    """Train ``steps`` plain SGD steps and measure how different each hidden layer's units became.

    With zero (or any constant) weights every hidden unit computes the same thing and receives the
    same gradient, so the units stay identical however long you train.
    ``batch_size`` 0 means full batch (as in the moons lab); otherwise seeded mini-batches.
    """
    init = init or models.InitSpec("zeros", bias=0.0)
    steps = validate.whole(steps, "the number of steps", 1, limits.MAX_SYMMETRY_STEPS)
    lr = validate.number(lr, "the learning rate", *limits.LR_RANGE)
    if batch_size:
        check_batch_size(batch_size)
    n_out = models.output_size(int(dataset.n_classes))
    model = models.build_mlp(int(dataset.n_features), hidden, n_out, choice, init, seed)
    opt = torch.optim.SGD(model.parameters(), lr=float(lr))
    x, y = dataset.x_train, dataset.y_train
    n = int(x.shape[0])
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        if batch_size and batch_size < n:
            idx = torch.randint(n, (batch_size,), generator=gen)
            xb, yb = x[idx], y[idx]
        else:
            xb, yb = x, y
        opt.zero_grad(set_to_none=True)
        loss = models.loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    layers = []
    with torch.no_grad():
        acc = float((models.predict(model(x)) == y).to(torch.float32).mean())
        for name, lin in zip(hidden_names(model), model.linears[:-1]):
            w, b = lin.weight, lin.bias
            layers.append(LayerSymmetry(name, int(w.shape[0]), float((w - w[:1]).abs().max()),
                                        float((b - b[:1]).abs().max()), float(w.std(correction=0)),
                                        float(w.abs().max()), float(b.abs().max())))
        first = model.linears[0].weight[:32, :32].tolist() if model.hidden else []
    return SymmetryReport(choice, init, steps, float(lr), losses, acc, layers, first)
