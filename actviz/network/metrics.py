"""How well a trained model does on a split: loss and accuracy with the confusion matrix for
classification; MSE, RMSE and R² for regression.

- The confusion matrix counts test samples, rows = true class, columns = predicted class, so its
  trace over its sum is the accuracy.
- R² = 1 - SS_res / SS_tot with SS_tot around the split's own mean (scikit-learn's ``r2_score``).
- RMSE is reported in the target's own units: ``y_scale`` undoes a standardised target.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from actviz.network.models import EVAL_CHUNK, is_regression, loss_fn, predict


@torch.inference_mode()
def outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's outputs over a whole split, in chunks."""
    parts = [model(x[s:s + EVAL_CHUNK]) for s in range(0, len(x), EVAL_CHUNK)]
    return torch.cat(parts) if parts else torch.empty(0, 1)


def confusion(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> list[list[int]]:
    """K x K counts, rows = true class, columns = predicted class."""
    flat = torch.bincount(y.to(torch.int64) * n_classes + pred.to(torch.int64), minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).tolist()


def r2_score(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination (1 is perfect, 0 is predicting the mean); NaN for a constant target."""
    y64, p64 = y.to(torch.float64), pred.to(torch.float64)
    ss_res = float((y64 - p64).square().sum())
    ss_tot = float((y64 - y64.mean()).square().sum())
    if not math.isfinite(ss_res):
        return math.nan
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan


def split_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int,
                 y_scale: float = 1.0) -> dict[str, Any]:
    """``{"loss", "acc", "confusion"}`` for classification, ``{"loss", "rmse", "r2"}`` for regression."""
    if len(x) == 0:
        return {"loss": math.nan}
    out = outputs(model, x)
    loss = float(loss_fn(out, y))
    if is_regression(y):
        return {"loss": loss, "rmse": math.sqrt(loss) * y_scale if loss >= 0 else math.nan,
                "r2": r2_score(out[:, 0], y)}
    pred = predict(out)
    k = max(n_classes, 2)
    return {"loss": loss, "acc": float((pred == y).sum()) / len(y), "confusion": confusion(pred, y, k)}
