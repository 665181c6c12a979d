"""The training lab: its form (what a person typed, declared as a field table like every page's state),
the validated :class:`TrainConfig` it becomes, and what the page shows about a job (UI-free)."""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from actviz import activations, limits, validate
from actviz.activations import choice as choice_mod
from actviz.activations import expr
from actviz.activations.choice import ActivationChoice
from actviz.cache import memo
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import checkpoint, diagnostics, models, perlayer
from actviz.network import features as features_mod
from actviz.network.diagnostics import DeadNeurons, GradientReport
from actviz.plots import network_figures, training_figures
from actviz.training import schedule as schedule_mod
from actviz.training.config import TrainConfig
from actviz.training.engine import BOUNDARY_RESOLUTION, boundary_grid, learned_parameters
from actviz.training.jobs import JobSnapshot
from actviz.views.training_fields import FeatureList, LayerItems
from actviz.views.urlstate import (
    ActivationParams,
    CatalogueNames,
    Choice,
    Field,
    Flag,
    Identifier,
    NetworkSetup,
    Number,
    PageState,
    QueryParams,
    Text,
    Whole,
    check_uniform_bounds,
    data_fields,
    first,
    init_fields,
)

DEFAULT_RACE = ("relu", "sigmoid", "tanh", "gelu", "swish")


@dataclass
class TrainingForm(NetworkSetup):
    """Raw widget values (what a person typed), before validation."""

    dataset: str = "moons"
    hidden: str = "16,16"
    csv_key: str | None = None
    label_column: str | None = None
    csv_error: str | None = None  # why the uploaded CSV cannot be used (kept so Start can say it)
    max_train: int = 0  # 0 = all
    selected: list[str] = field(default_factory=lambda: list(DEFAULT_RACE))
    params: dict[str, dict[str, float]] = field(default_factory=dict)
    learnable: dict[str, list[str]] = field(default_factory=dict)
    custom_expr: str = ""
    custom_params: str = ""
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 40
    early_stopping: bool = False
    patience: int = 7
    seed: int = 42
    preset: str | None = None  # the lesson this setup came from (a marker: the link holds every setting)
    seeds: int = 1                      # seeds per activation (mean ± std, 95 % intervals, margin verdict)
    layer_items: str = ""               # extra race items with one activation per hidden layer: "relu>tanh, tanh>relu"
    task: str = "classification"       # CSV uploads: "regression" for a numeric target
    features: list[str] = field(default_factory=lambda: list(features_mod.RAW))  # 2-D data: input features
    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    schedule: str = "constant"
    warmup: int = 0
    lr_step: int = 10
    lr_gamma: float = 0.5
    stop_on_acc: bool = False
    stop_acc: float = 0.95
    stop_on_loss: bool = False
    stop_loss: float = 0.05


@dataclass(frozen=True)
class LearnedParams:
    """``learn=prelu.init,swish.beta``: activation parameters learned during training."""

    def decode(self, qp: QueryParams, state: TrainingForm, warnings: list[str]) -> None:
        raw = first(qp.get("learn"))
        state.learnable = {}
        for token in (raw or "").split(",")[:limits.MAX_COMPARED * 4]:
            name, dot, pname = token.strip().partition(".")
            if not token.strip():
                continue
            try:
                act = activations.get(name)
                spec = act.param(pname) if dot else None
            except InputError:
                spec = None
            if spec is None or not spec.learnable:
                warnings.append(f"{token.strip()[:40]!r} in the link is not a learnable parameter; ignored")
                continue
            if pname not in state.learnable.setdefault(act.name, []):
                state.learnable[act.name].append(pname)

    def encode(self, state: TrainingForm, out: dict[str, str]) -> None:
        tokens = [f"{name}.{p}" for name in state.selected for p in state.learnable.get(name, [])]
        if tokens:
            out["learn"] = ",".join(tokens)


def _when(flag_attr: str, value: Any, attr: str):
    return lambda s, d: getattr(s, flag_attr) == value and getattr(s, attr) != getattr(d, attr)




TRAINING_LAB = PageState(
    make=TrainingForm, prefix="t_",
    fields=(
        *data_fields(tuple(n for n in datasets.NAMES if n != "csv")),
        Field("max_train", "max", Whole(0, 1_000_000)),
        Field("selected", "act", Text(), link=False),
        Field("custom_expr", "expr", Text()),
        Field("custom_params", "eparams", Text()),
        *init_fields(),
        Field("optimizer", "opt", Choice(("adam", "sgd"))),
        Field("lr", "lr", Number(*limits.LR_RANGE)),
        Field("momentum", "mom", Number(*limits.MOMENTUM_RANGE), write=_when("optimizer", "sgd", "momentum")),
        Field("batch_size", "batch", Whole(0, limits.MAX_BATCH)),
        Field("epochs", "epochs", Whole(1, limits.MAX_EPOCHS)),
        Field("early_stopping", "es", Flag()),
        Field("patience", "patience", Whole(1, limits.MAX_EPOCHS), write=_when("early_stopping", True, "patience")),
        Field("seed", "seed", Whole(0, limits.MAX_SEED)),
        Field("preset", "preset", Identifier(), widget=False),
        Field("seeds", "seeds", Whole(1, limits.MAX_SEEDS)),
        Field("layer_items", "layers", LayerItems()),
        Field("task", "task", Choice(datasets.TASKS)),
        Field("features", "feat", FeatureList()),
        Field("l1", "l1", Number(*limits.REGULARISATION_RANGE)),
        Field("l2", "l2", Number(*limits.REGULARISATION_RANGE)),
        Field("dropout", "dropout", Number(*limits.DROPOUT_RANGE)),
        Field("schedule", "sched", Choice(schedule_mod.SCHEDULES)),
        Field("warmup", "warmup", Whole(0, limits.MAX_EPOCHS - 1)),
        Field("lr_step", "lrstep", Whole(1, limits.MAX_EPOCHS), write=_when("schedule", "step", "lr_step")),
        Field("lr_gamma", "lrgamma", Number(*limits.LR_GAMMA_RANGE), write=_when("schedule", "step", "lr_gamma")),
        Field("stop_on_acc", "sacc", Flag()),
        Field("stop_acc", "saccv", Number(0.01, 1.0), write=_when("stop_on_acc", True, "stop_acc")),
        Field("stop_on_loss", "sloss", Flag()),
        Field("stop_loss", "slossv", Number(*limits.STOP_LOSS_RANGE), write=_when("stop_on_loss", True, "stop_loss")),
    ),
    parts=(CatalogueNames(DEFAULT_RACE), ActivationParams(), LearnedParams()),
    checks=(check_uniform_bounds,),
)


# --- form -> config ----------------------------------------------------------------------------------

def activations_from_form(form: TrainingForm) -> tuple[perlayer.Choice, ...]:
    out: list[perlayer.Choice] = []
    for name in form.selected:
        out.append(choice_mod.choose(name, form.params.get(name), form.learnable.get(name, ())))
    custom = None
    if form.custom_expr.strip():
        custom = choice_mod.custom(form.custom_expr, expr.parse_param_assignments(form.custom_params))
    items = perlayer.split_items(form.layer_items) if form.layer_items.strip() else []
    learnable = [f"{n}.{p}" for n, ps in form.learnable.items() for p in ps]
    per_layer = [perlayer.parse_item(item, form.params, learnable, custom) for item in items]
    if custom is not None and not any(perlayer.uses_custom(a) for a in per_layer):
        out.append(custom)
    return tuple(out + per_layer)


def dataset_from_form(form: TrainingForm) -> datasets.DatasetSpec:
    kwargs: dict[str, Any] = {"name": form.dataset}
    if form.dataset in datasets.SYNTHETIC:
        kwargs.update(n_samples=form.n_samples, noise=form.noise, seed=form.data_seed)
    if form.dataset == "csv":
        if not form.csv_key:
            if form.csv_error:
                raise InputError(f"{form.csv_error} Fix the file and upload it again.")
            raise InputError("upload a CSV file first (numeric feature columns plus a label column)")
        kwargs.update(csv_key=form.csv_key, label_column=form.label_column, task=form.task)
    if form.max_train:
        kwargs["max_train"] = form.max_train
    return datasets.DatasetSpec(**kwargs)


def config_from_form(form: TrainingForm) -> TrainConfig:
    """A validated config, or InputError naming the first problem (shown by the page)."""
    return TrainConfig(
        dataset=dataset_from_form(form),
        activations=activations_from_form(form),
        hidden=models.parse_hidden(form.hidden),
        init=form.init_spec(),
        optimizer=form.optimizer,
        lr=validate.number(form.lr, "the learning rate"),
        momentum=validate.number(form.momentum, "the momentum"),
        batch_size=validate.whole(form.batch_size, "the batch size"),
        epochs=validate.whole(form.epochs, "the number of epochs"),
        patience=validate.whole(form.patience, "the patience") if form.early_stopping else None,
        seed=validate.whole(form.seed, "the seed"),
        seeds=validate.whole(form.seeds, "the number of seeds"),
        features=features_mod.parse(list(form.features)) if form.dataset in datasets.SYNTHETIC or
        form.dataset == "csv" else (),
        l1=validate.number(form.l1, "the L1 rate"),
        l2=validate.number(form.l2, "the L2 rate"),
        dropout=validate.number(form.dropout, "dropout"),
        schedule=form.schedule,
        warmup=validate.whole(form.warmup, "the warm-up epochs"),
        lr_step=validate.whole(form.lr_step, "the epochs between learning-rate steps"),
        lr_gamma=validate.number(form.lr_gamma, "the step factor"),
        stop_val_acc=validate.number(form.stop_acc, "the validation accuracy to stop at") if form.stop_on_acc
        else None,
        stop_loss=validate.number(form.stop_loss, "the loss to stop at") if form.stop_on_loss else None,
    )


def form_from_config(cfg: TrainConfig, base: TrainingForm | None = None) -> TrainingForm:
    """Form values that rebuild ``cfg`` (used to load a preset into the widgets)."""
    form = replace(base or TrainingForm())
    ds = cfg.dataset
    form.dataset = ds.name
    form.n_samples, form.noise, form.data_seed = ds.n_samples, ds.noise, ds.seed
    form.max_train = ds.max_train or 0
    single = [a for a in cfg.activations if isinstance(a, ActivationChoice)]
    builtin = [a for a in single if not a.is_custom]
    form.selected = [a.name for a in builtin]
    form.params = {}
    for a in builtin:  # only what differs from torch's defaults, as the sliders report it
        changed = {k: v for k, v in a.param_dict.items() if v != activations.get(a.name).defaults().get(k)}
        if changed:
            form.params[a.name] = changed
    form.learnable = {a.name: list(a.learnable) for a in builtin if a.learnable}
    layered = [a for a in cfg.activations if isinstance(a, perlayer.PerLayer)]
    form.layer_items = ", ".join(perlayer.item_text(a) for a in layered)
    custom = [a for a in single if a.is_custom] + [c for a in layered for c in a.layers if c.is_custom]
    form.custom_expr = (custom[0].expression or "") if custom else ""
    form.custom_params = ", ".join(f"{k}={v:g}" for k, v in custom[0].params) if custom else ""
    form.hidden = ",".join(str(h) for h in cfg.hidden)
    form.init = cfg.init.name
    form.init_std, form.init_low, form.init_high, form.init_value = (cfg.init.std, cfg.init.low, cfg.init.high,
                                                                      cfg.init.value)
    form.bias = cfg.init.bias
    form.optimizer, form.lr, form.momentum = cfg.optimizer, cfg.lr, cfg.momentum
    form.batch_size, form.epochs, form.seed = cfg.batch_size, cfg.epochs, cfg.seed
    form.early_stopping = cfg.patience is not None
    form.patience = cfg.patience or 7
    form.seeds, form.task = cfg.seeds, ds.task
    form.features = list(cfg.features or features_mod.RAW)
    form.l1, form.l2, form.dropout = cfg.l1, cfg.l2, cfg.dropout
    form.schedule, form.warmup, form.lr_step, form.lr_gamma = cfg.schedule, cfg.warmup, cfg.lr_step, cfg.lr_gamma
    form.stop_on_acc, form.stop_acc = cfg.stop_val_acc is not None, cfg.stop_val_acc or 0.95
    form.stop_on_loss, form.stop_loss = cfg.stop_loss is not None, cfg.stop_loss or 0.05
    return form


LINEAR_MODEL = ("No hidden layer: a linear model: the activation has no effect (every activation trains the very same "
                "network). Add hidden layer sizes, e.g. 8,8, to compare activations.")


def same_setup(form: TrainingForm, cfg: TrainConfig) -> bool:
    """Whether the form would train exactly ``cfg`` (False when it is not valid)."""
    try:
        return config_from_form(form).key() == cfg.key()
    except InputError:
        return False


def setup_notes(form: TrainingForm) -> list[str]:
    """What the setup means before Start, when it is not what it seems (no hidden layer: no activation)."""
    try:
        hidden = models.parse_hidden(form.hidden)
    except InputError:
        return []  # Start says what is wrong
    return [LINEAR_MODEL] if not hidden else []


def checkpoint_table(loaded: checkpoint.LoadedCheckpoint) -> pd.DataFrame:
    """What a checkpoint file holds, one readable row per item ("—" where the file does not say)."""
    cfg, model, result, training = loaded.config, loaded.model, loaded.result, loaded.training
    section = cfg.get("dataset") if isinstance(cfg.get("dataset"), dict) else {}
    try:
        spec = loaded.dataset_spec()
        data = datasets.TITLES.get(spec.name, spec.name)
        if spec.name in datasets.SYNTHETIC:
            data += f" ({spec.n_samples} samples, noise {spec.noise:g}, data seed {spec.seed})"
    except InputError:
        data = str(section.get("name") or "—")
    acc = result.get("test_acc")
    best = result.get("best_epoch")
    epochs = training.get("epochs")
    sizes = [model.n_in, *model.hidden, model.n_out]
    status = result.get("status")
    rows = [
        ("activations", ", ".join(dict.fromkeys(a.choice.label for a in model.acts)) or "none (a linear model)"),
        ("dataset", data),
        ("layers", "-".join(str(n) for n in sizes) + f" ({len(model.hidden)} hidden)"),
        ("epochs", "—" if not isinstance(epochs, int) else f"{epochs}" + (f" (best epoch {best})"
                                                                          if isinstance(best, int) and best else "")),
        ("status", str(status) if status else "—"),
        ("test accuracy when saved", f"{acc:.2%}" if isinstance(acc, (int, float)) else "—"),
        ("optimizer", " ".join(str(x) for x in (training.get("optimizer"), f"lr {training['lr']:g}"
                                               if isinstance(training.get("lr"), (int, float)) else "") if x) or "—"),
        ("written", str(cfg.get("written") or "—").replace("T", " ").replace("Z", " UTC")),
    ]
    return pd.DataFrame(rows, columns=["", "in this file"])


# --- what the page shows about a job -----------------------------------------------------------------

def layer_names(cfg: TrainConfig) -> list[str]:
    """Names of the Linear layers from input to output, e.g. ['L1 64→16', 'L2 16→16', 'L3 16→1']."""
    ds = datasets.load(cfg.dataset)
    sizes = [ds.n_features, *cfg.hidden, models.output_size(ds.n_classes)]
    gated = " (2×{} gated)" if any(a.is_gated for a in cfg.activations) else ""  # gated units: 2 projections
    return [f"L{i + 1} {a}→{b}" + (gated.format(b) if gated and i < len(cfg.hidden) else "")
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]


def boundary_data(cfg: TrainConfig) -> tuple[list[float], list[float], np.ndarray, np.ndarray] | None:
    """Grid axes and the test points for a 2-D dataset's decision-boundary figure (else None)."""
    ds = datasets.load(cfg.dataset)
    if not ds.is_2d:
        return None
    _, xs, ys = boundary_grid(ds, BOUNDARY_RESOLUTION)
    return xs, ys, ds.x_test.numpy(), ds.y_test.numpy()


def task_of(cfg: TrainConfig) -> str:
    """``classification`` or ``regression`` (a dataset spec without a task is a classification)."""
    return getattr(cfg.dataset, "task", "classification")


def confusion_view(job: JobSnapshot) -> tuple[list[str], list[Any], list[str]] | None:
    """(run labels, their test confusion matrices, class names) for a finished classification job whose
    engine reported them; None otherwise."""
    runs = [r for r in job.runs if isinstance((r.summary or {}).get("confusion"), list)]
    if not runs or task_of(job.config) == "regression":
        return None
    ds = datasets.load(job.config.dataset)
    names = list(getattr(ds, "class_names", ()) or range(len(runs[0].summary["confusion"])))
    return [r.label for r in runs], [r.summary["confusion"] for r in runs], [str(n) for n in names]


@memo(maxsize=16, key=lambda job: (job.id, job.version))
def confusion_chart(job: JobSnapshot) -> Any:
    """The test confusion matrices of a finished classification job as one figure (None when it has none),
    built once per job version: a shared preset's thirty students rerun the same results section."""
    view = confusion_view(job)
    if view is None:
        return None
    return training_figures.confusion_figure(*view, row_height=200 + 12 * len(view[2]))


def metrics_csv(job: JobSnapshot) -> str:
    buf = io.StringIO()
    training_figures.history_frame(job.runs).to_csv(buf, index=False, float_format="%.6g")
    return buf.getvalue()


def checkpoint_bytes(job: JobSnapshot, run: int, model: models.MLP) -> bytes:
    """A trained model with what it was trained on, how, and how well it did."""
    r = job.runs[run]
    training = {k: v for k, v in job.config.to_json().items() if k not in ("dataset", "activations")}
    training["seed"] = job.config.plan()[run].seed
    result = {"status": str(r.status), **{k: r.summary.get(k) for k in (
        "test_acc", "test_loss", "best_epoch", "best_val_acc", "dead_fraction", "test_r2", "test_rmse")}}
    return checkpoint.save(model, job.config.dataset, training, result)


def file_stem(job: JobSnapshot, run: int) -> str:
    """A download name built from our own data only (never from user-supplied names)."""
    planned = job.config.plan()[run]
    act = planned.activation
    safe = "custom" if act.is_custom else act.name.replace(">", "-")
    seed = f"_seed{planned.seed}" if job.config.seeds > 1 else ""
    return f"actviz_{job.config.dataset.name}_{safe}{seed}_{job.id[:6]}"


@dataclass
class Inside:
    """What the trained nets look like inside: activation outputs per layer and dead units."""

    reports: list[GradientReport]   # per run: activation stats on a batch of training data
    dead: list[DeadNeurons]         # per run: over the whole training set
    hidden_names: list[str]
    learned: list[dict[str, list[float]]]
    table: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)  # run label -> why it is not shown (diverged ...)
    figures: list[Any] = field(default_factory=list)        # activation histograms, dead units (if any run shown)


def _not_inspectable(run: Any, model: models.MLP) -> str | None:
    """Why a trained net cannot be looked inside (its weights overflowed), or None."""
    if str(run.status) == "diverged":
        return "it diverged" + (f" ({run.message})" if run.message else "")
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return "its weights are not finite"
    return None


@memo(maxsize=16, key=lambda job, trained, batch_size=512: (job.id, job.version, batch_size))
def inside(job: JobSnapshot, trained: Sequence[models.MLP], batch_size: int = 512) -> Inside:
    """Activation distributions and dead neurons of every trained net of a finished job (cached).

    Computed on copies, so sessions watching the same job never race on the shared models' ``.grad``.
    Runs whose nets cannot be looked inside (diverged, weights not finite) are left out of the figures
    and listed in ``skipped`` with the reason; their row in the table says so.
    """
    ds = datasets.load(job.config.dataset)
    xb, yb = diagnostics.seeded_batch(ds.x_train, ds.y_train, min(batch_size, len(ds.x_train)), job.config.seed)
    reports, dead, learned = [], [], []
    skipped: dict[str, str] = {}
    rows = []
    for run, model in zip(job.runs, trained, strict=True):
        why = _not_inspectable(run, model)
        if why is None:
            try:
                report = diagnostics.gradient_report(copy.deepcopy(model), xb, yb)
                d = diagnostics.dead_neurons(model, ds.x_train)
            except InputError as exc:
                why = str(exc)
        if why is not None:
            skipped[run.label] = why
            rows.append({"activation": run.label, "dead units per layer": "—", "dead (all layers)": "—",
                         "note": f"not shown: {why}"})
            continue
        values = learned_parameters(model)
        reports.append(report)
        dead.append(d)
        learned.append(values)
        row = {"activation": run.label, "dead units per layer": " / ".join(str(c) for c in d.counts),
               "dead (all layers)": f"{d.total_fraction:.1%}"}
        for name, per_layer in values.items():
            row[f"learned {name} per layer"] = ", ".join(f"{v:.3f}" for v in per_layer)
        rows.append(row)
    names = diagnostics.hidden_names(trained[0]) if trained else []
    # Built here, under the cache, so every session looking inside the same job shares them.
    figures = [network_figures.activation_hist_figure(reports, names),
               network_figures.neuron_figure(reports, names, dead)] if reports else []
    return Inside(reports, dead, names, learned, pd.DataFrame(rows), skipped, figures)


CHARTS = ("curves", "grad_norms", "boundary")


@memo(maxsize=64, key=lambda job, chart, height=330: (job.id, job.version, chart, height))
def live_figures(job: JobSnapshot, chart: str, height: int = 330) -> list[Any]:
    """The figures of one chart group of a job (``curves``, ``grad_norms`` or ``boundary``), built once
    per job version and shared by every session watching it (thirty students polling the same job
    every second cost one build per update).  Curves are drawn ``height`` px high without a legend: the
    page's race strip is their key; grids of panels get ``height`` px per row."""
    if chart == "curves":
        return [training_figures.metric_figure(job.runs, metric, title, ytitle, job.config.epochs, height=height,
                                               legend=False)
                for metric, title, ytitle in training_figures.metrics_for(task_of(job.config))]
    # Grids of panels: ``height`` is then the height of one row of panels.
    if chart == "grad_norms":
        return [training_figures.grad_norm_heatmaps(job.runs, layer_names(job.config), row_height=height)]
    data = boundary_data(job.config)
    return [] if data is None else [training_figures.boundary_figure(job.runs, *data, row_height=height,
                                                                     task=task_of(job.config))]
