"""What the engine reports besides the epoch records: decision surfaces on a 2-D grid, learned
activation parameters, and the chance-level loss divergence is judged against."""

from __future__ import annotations

import math

import torch
from torch import nn

from actviz.data import datasets
from actviz.network import models

BOUNDARY_RESOLUTION = 60


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
def class_probability(model: nn.Module, grid: torch.Tensor, resolution: int, regression: bool = False
                      ) -> list[list[float]]:
    """P(class 1) on the grid for binary tasks, the predicted class index for more classes, the
    predicted value for regression; rows = y."""
    logits = model(grid)
    if regression:
        values = logits[:, 0]
    elif logits.shape[1] == 1:
        values = torch.sigmoid(logits[:, 0])
    else:
        values = models.predict(logits).to(torch.float32)
    return values.reshape(resolution, resolution).tolist()


def learned_parameters(model: models.MLP) -> dict[str, list[float]]:
    """Values of learnable activation parameters (PReLU's slope, Swish's beta) per hidden layer."""
    out: dict[str, list[float]] = {}
    for act in model.acts:
        for name, p in act.named_parameters():
            out.setdefault(name, []).append(float(p.detach().reshape(-1)[0]))
    return out


def chance_loss(ds: datasets.Dataset) -> float:
    """The loss of knowing nothing: ln K for K classes (ln 2 for two), the target's variance for regression."""
    if ds.task == "regression":
        return float(ds.y_train.to(torch.float64).var(unbiased=False)) if len(ds.y_train) > 1 else 1.0
    return math.log(max(ds.n_classes, 2))
