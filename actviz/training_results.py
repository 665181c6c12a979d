"""What the training lab shows about a job beyond its live metrics (UI-free)."""

from __future__ import annotations

import copy
import dataclasses
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from actviz import checkpoint, datasets
from actviz import figures_training as ft
from actviz.errors import InputError
from actviz.jobs import JobSnapshot
from actviz.training import BOUNDARY_RESOLUTION, TrainConfig, boundary_grid


def layer_names(cfg: TrainConfig) -> list[str]:
    """Names of the Linear layers from input to output, e.g. ['64→16', '16→16', '16→1']."""
    ds = datasets.load(cfg.dataset)
    from actviz import models

    sizes = [ds.n_features, *cfg.hidden, models.output_size(ds.n_classes)]
    return [f"L{i + 1} {a}→{b}" for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]


def boundary_data(job: JobSnapshot) -> tuple[list[float], list[float], np.ndarray, np.ndarray] | None:
    """Grid axes and the test points for a 2-D dataset's decision-boundary figure (else None)."""
    ds = datasets.load(job.config.dataset)
    if not ds.is_2d:
        return None
    _, xs, ys = boundary_grid(ds, BOUNDARY_RESOLUTION)
    return xs, ys, ds.x_test.numpy(), ds.y_test.numpy()


def metrics_csv(job: JobSnapshot) -> str:
    buf = io.StringIO()
    ft.history_frame(job.runs).to_csv(buf, index=False, float_format="%.6g")
    return buf.getvalue()


def checkpoint_bytes(job: JobSnapshot, run: int, model) -> bytes:
    """A trained model with enough metadata to know what it was trained on and how well it did."""
    r = job.runs[run]
    extra: dict[str, Any] = {
        "dataset": {"spec": job.config.dataset.key(), "name": job.config.dataset.name,
                    "fields": dataset_fields(job.config.dataset)},
        "training": {k: v for k, v in job.config.to_json().items() if k not in ("dataset", "activations")},
        "result": {k: r.summary.get(k) for k in ("test_acc", "best_epoch", "best_val_acc", "dead_fraction")},
    }
    return checkpoint.save(model, extra)


def dataset_fields(spec: datasets.DatasetSpec) -> dict[str, Any]:
    """The spec as plain fields, without the server-side data directory (never shared, never trusted back)."""
    fields = dataclasses.asdict(spec)
    fields.pop("data_dir", None)
    return fields


def checkpoint_accuracy(loaded: checkpoint.LoadedCheckpoint) -> float:
    """Test accuracy of a loaded checkpoint on the dataset it records (rebuilt and validated here)."""
    from actviz import models
    from actviz.training import evaluate

    fields = (loaded.config.get("dataset") or {}).get("fields")
    if not isinstance(fields, dict):
        raise InputError("the checkpoint does not say which dataset it was trained on")
    allowed = {f.name for f in dataclasses.fields(datasets.DatasetSpec)} - {"data_dir"}
    try:
        spec = datasets.DatasetSpec(**{k: v for k, v in fields.items() if k in allowed})
    except TypeError:
        raise InputError("the checkpoint's dataset description is malformed") from None
    ds = datasets.load(spec)
    model = loaded.model
    if ds.n_features != model.n_in or models.output_size(ds.n_classes) != model.n_out:
        raise InputError(f"the network expects {model.n_in} inputs and {model.n_out} outputs, but {spec.name} has "
                         f"{ds.n_features} features and {ds.n_classes} classes")
    return evaluate(model, ds.x_test, ds.y_test)[1]


def file_stem(job: JobSnapshot, run: int) -> str:
    """A download name built from our own data only (never from user-supplied names)."""
    act = job.config.activations[run]
    safe = "custom" if act.is_custom else act.name
    return f"actviz_{job.config.dataset.name}_{safe}_{job.id[:6]}"


@dataclass
class Inside:
    """What the trained nets look like inside: activation outputs per layer and dead units."""

    reports: list[Any]          # diagnostics.GradientReport per run (activation stats on a data batch)
    dead: list[Any]             # diagnostics.DeadNeurons per run (whole training set)
    hidden_names: list[str]
    learned: list[dict[str, list[float]]]


_INSIDE_CACHE: OrderedDict[tuple[str, int], Inside] = OrderedDict()
_INSIDE_LOCK = threading.Lock()


def inside(job: JobSnapshot, trained: list[Any], batch_size: int = 512) -> Inside:
    """Activation distributions and dead neurons of every trained net of a finished job (cached).

    Computed on copies, so sessions watching the same job never race on the shared models' ``.grad``.
    """
    key = (job.id, job.version)
    with _INSIDE_LOCK:
        if key in _INSIDE_CACHE:
            return _INSIDE_CACHE[key]
    from actviz import diagnostics

    ds = datasets.load(job.config.dataset)
    xb, yb = diagnostics.seeded_batch(ds.x_train, ds.y_train, min(batch_size, len(ds.x_train)), job.config.seed)
    reports, dead, learned = [], [], []
    for model in trained:
        twin = copy.deepcopy(model)
        reports.append(diagnostics.gradient_report(twin, xb, yb))
        dead.append(diagnostics.dead_neurons(model, ds.x_train))
        from actviz.training import learned_parameters

        learned.append(learned_parameters(model))
    result = Inside(reports, dead, diagnostics.hidden_names(trained[0]) if trained else [], learned)
    with _INSIDE_LOCK:
        _INSIDE_CACHE[key] = result
        while len(_INSIDE_CACHE) > 16:
            _INSIDE_CACHE.popitem(last=False)
    return result


VIEWS = ("Loss and accuracy", "Gradient norms", "Decision boundary")
_FIGURE_CACHE: OrderedDict[tuple[str, int, str], list[Any]] = OrderedDict()
_FIGURE_LOCK = threading.Lock()


def live_figures(job: JobSnapshot, view: str) -> list[Any]:
    """The figures of one view of a job, built once per job version and shared by every session
    watching it (thirty students polling the same job every second cost one build per update)."""
    key = (job.id, job.version, view)
    with _FIGURE_LOCK:
        if key in _FIGURE_CACHE:
            _FIGURE_CACHE.move_to_end(key)
            return _FIGURE_CACHE[key]
    if view == VIEWS[0]:
        figs = [ft.metric_figure(job.runs, metric, title, ytitle, job.config.epochs)
                for metric, title, ytitle in ft.METRICS]
    elif view == VIEWS[1]:
        figs = [ft.grad_norm_heatmaps(job.runs, layer_names(job.config))]
    else:
        data = boundary_data(job)
        figs = [] if data is None else [ft.boundary_figure(job.runs, *data)]
    with _FIGURE_LOCK:
        _FIGURE_CACHE[key] = figs
        while len(_FIGURE_CACHE) > 64:
            _FIGURE_CACHE.popitem(last=False)
    return figs
