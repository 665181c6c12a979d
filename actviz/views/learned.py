"""Learnable activation parameters over training (the training lab's "Learned" charts).

Each epoch record carries the learned values at the end of that epoch (``EpochRecord.learned``: name ->
one value per hidden layer *that learns it*).  This module turns them into one trace per run, parameter
and hidden layer, starting from the configured value at epoch 0, and into the activation's shape at
chosen epochs: the learned curve morphing as training goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from actviz import activations
from actviz.activations.choice import ActivationChoice
from actviz.cache import memo
from actviz.plots import learned_figures, training_figures
from actviz.views.network_view import activation_of

MAX_FRAMES = 41     # shapes drawn at most at this many epochs (the first, the last, evenly between)
SHAPE_POINTS = 161


@dataclass(frozen=True)
class LearnedTrace:
    """One learnable parameter of one hidden layer of one run, per epoch (epoch 0: its starting value)."""

    run: int
    label: str
    param: str
    layer: int          # 0-based hidden layer
    epochs: list[int]
    values: list[float]


def _start_values(choice: ActivationChoice) -> dict[str, float]:
    values = {} if choice.is_custom else activations.get(choice.name).defaults()
    values.update(choice.param_dict)
    return values


def learning_layers(cfg: Any, run: int) -> list[tuple[int, ActivationChoice]]:
    """(hidden layer, its activation) for every hidden layer of ``run`` whose activation learns a parameter."""
    out = []
    for layer in range(len(cfg.hidden)):
        choice = activation_of(cfg, run, layer)
        if isinstance(choice, ActivationChoice) and choice.learnable:
            out.append((layer, choice))
    return out


def learns(cfg: Any) -> bool:
    """Does any run of this job learn an activation parameter?"""
    runs = len(cfg.plan()) if callable(getattr(cfg, "plan", None)) else len(cfg.activations)
    return any(learning_layers(cfg, r) for r in range(runs))


def traces(job: Any) -> list[LearnedTrace]:
    """Every learned parameter of every run and hidden layer as a series over epochs.

    A model registers one parameter per learning layer, in layer order, so the k-th value a record lists
    for ``beta`` belongs to the k-th hidden layer that learns ``beta``."""
    out: list[LearnedTrace] = []
    for i, run in enumerate(job.runs):
        seen: dict[str, int] = {}
        for layer, choice in learning_layers(job.config, i):
            start = _start_values(choice)
            for param in choice.learnable:
                k = seen.get(param, 0)
                seen[param] = k + 1
                epochs, values = [0], [float(start[param])]
                for record in run.history:
                    per_layer = (record.learned or {}).get(param) or []
                    if k < len(per_layer):
                        epochs.append(int(record.epoch))
                        values.append(float(per_layer[k]))
                out.append(LearnedTrace(i, run.label, param, layer, epochs, values))
    return out


def frame_epochs(epochs: Sequence[int], most: int = MAX_FRAMES) -> list[int]:
    """At most ``most`` of ``epochs``, always the first and the last, evenly spread between."""
    epochs = list(epochs)
    if len(epochs) <= most:
        return epochs
    picks = np.unique(np.round(np.linspace(0, len(epochs) - 1, most)).astype(int))
    return [epochs[p] for p in picks]


@dataclass(frozen=True)
class ShapeFrames:
    """f(x) of one run's learning layers at chosen epochs: ``curves[e][j]`` is layer ``layers[j]`` at
    ``epochs[e]``; ``values[e][j]`` the parameter values used."""

    label: str
    x: list[float]
    layers: list[int]
    epochs: list[int]
    curves: list[list[list[float]]]
    values: list[list[dict[str, float]]]


def shapes(job: Any, run: int, xmin: float = -4.0, xmax: float = 4.0,
           points: int = SHAPE_POINTS, most: int = MAX_FRAMES) -> ShapeFrames | None:
    """The learned activation of ``run`` at up to ``most`` epochs (None when the run learns nothing).

    Each curve is the activation's own callable with the recorded values, so what is drawn is what the
    network computed at the end of that epoch."""
    mine = [t for t in traces(job) if t.run == run]
    if not mine:
        return None
    layer_choices = dict(learning_layers(job.config, run))
    layers = sorted({t.layer for t in mine})
    shared = set.intersection(*(set(t.epochs) for t in mine))
    epochs = frame_epochs(sorted(shared), most)
    x = torch.linspace(xmin, xmax, points, dtype=torch.float64)
    curves: list[list[list[float]]] = []
    values: list[list[dict[str, float]]] = []
    for epoch in epochs:
        row, row_values = [], []
        for layer in layers:
            choice = layer_choices[layer]
            learned = {t.param: t.values[t.epochs.index(epoch)] for t in mine if t.layer == layer}
            params = dict(choice.param_dict, **learned)
            at_epoch = replace(choice, params=tuple(sorted(params.items())), learnable=())
            with torch.no_grad():
                y = at_epoch.function()(x)
            row.append([float(v) if np.isfinite(v) else float("nan") for v in y.tolist()])
            row_values.append(learned)
        curves.append(row)
        values.append(row_values)
    return ShapeFrames(job.runs[run].label, x.tolist(), layers, epochs, curves, values)


@memo(maxsize=64, key=lambda job, height=200, columns=3: (job.id, job.version, "params", height, columns))
def parameter_figure(job: Any, height: int = 200, columns: int = 3) -> Any:
    """The per-epoch parameter chart of a job, built once per job version for every session watching it."""
    return learned_figures.parameter_figure(traces(job), training_figures.run_hues(job.runs), height, columns)


@memo(maxsize=64, key=lambda job, run, height=420: (job.id, job.version, "shape", run, height))
def shape_figure(job: Any, run: int, height: int = 420) -> Any:
    """The learned-shape animation of one run (None when it learns nothing)."""
    frames = shapes(job, run)
    if frames is None:
        return None
    return learned_figures.shape_figure(frames, training_figures.run_hues(job.runs)[run], height)
