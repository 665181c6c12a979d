"""The training lab's form values <-> a validated TrainConfig (UI-free, so it can be tested)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from actviz import choice as choice_mod
from actviz import datasets, expr, models
from actviz.choice import ActivationChoice
from actviz.errors import InputError
from actviz.training import TrainConfig


@dataclass
class TrainingForm:
    """Raw widget values (what a person typed), before validation."""

    dataset: str = "moons"
    n_samples: int = 1000
    noise: float = 0.2
    data_seed: int = 0
    data_dir: str = ""
    csv_key: str | None = None
    label_column: str | None = None
    max_train: int = 0  # 0 = all
    activations: list[str] = field(default_factory=lambda: ["relu", "sigmoid", "tanh", "gelu", "swish"])
    params: dict[str, dict[str, float]] = field(default_factory=dict)
    learnable: dict[str, list[str]] = field(default_factory=dict)
    custom_expr: str = ""
    custom_params: str = ""
    hidden: str = "16,16"
    init: str = "default"
    init_std: float = 1.0
    init_low: float = -1.0
    init_high: float = 1.0
    init_value: float = 0.0
    bias_const: bool = False
    bias_value: float = 0.0
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 40
    early_stopping: bool = False
    patience: int = 7
    seed: int = 42


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{what} must be a whole number")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number, got {value!r}") from None
    if not math.isfinite(f) or f != int(f):
        raise InputError(f"{what} must be a whole number, got {value!r}")
    return int(f)


def activations_from_form(form: TrainingForm) -> tuple[ActivationChoice, ...]:
    out: list[ActivationChoice] = []
    for name in form.activations:
        out.append(choice_mod.choose(name, form.params.get(name), form.learnable.get(name, ())))
    if form.custom_expr.strip():
        out.append(choice_mod.custom(form.custom_expr, expr.parse_param_assignments(form.custom_params)))
    return tuple(out)


def dataset_from_form(form: TrainingForm) -> datasets.DatasetSpec:
    kwargs: dict[str, Any] = {"name": form.dataset}
    if form.dataset in datasets.SYNTHETIC:
        kwargs.update(n_samples=_int(form.n_samples, "number of samples"), noise=float(form.noise),
                      seed=_int(form.data_seed, "data seed"))
    if form.dataset in ("mnist", "fashion_mnist") and form.data_dir.strip():
        kwargs["data_dir"] = form.data_dir.strip()
    if form.dataset == "csv":
        if not form.csv_key:
            raise InputError("upload a CSV file first (numeric feature columns plus a label column)")
        kwargs.update(csv_key=form.csv_key, label_column=form.label_column)
    if form.max_train:
        kwargs["max_train"] = _int(form.max_train, "training subset size")
    return datasets.DatasetSpec(**kwargs)


def init_from_form(form: TrainingForm) -> models.InitSpec:
    return models.InitSpec(name=form.init, std=float(form.init_std), low=float(form.init_low),
                           high=float(form.init_high), value=float(form.init_value),
                           bias=float(form.bias_value) if form.bias_const else None)


def config_from_form(form: TrainingForm) -> TrainConfig:
    """A validated config, or InputError naming the first problem (shown by the page)."""
    return TrainConfig(
        dataset=dataset_from_form(form),
        activations=activations_from_form(form),
        hidden=models.parse_hidden(form.hidden),
        init=init_from_form(form),
        optimizer=form.optimizer,
        lr=float(form.lr),
        momentum=float(form.momentum),
        batch_size=_int(form.batch_size, "batch size"),
        epochs=_int(form.epochs, "epochs"),
        patience=_int(form.patience, "patience") if form.early_stopping else None,
        seed=_int(form.seed, "seed"),
    )


def form_from_config(cfg: TrainConfig, base: TrainingForm | None = None) -> TrainingForm:
    """Form values that rebuild ``cfg`` (used to load a preset into the widgets)."""
    form = replace(base or TrainingForm())
    ds = cfg.dataset
    form.dataset = ds.name
    form.n_samples, form.noise, form.data_seed = ds.n_samples, ds.noise, ds.seed
    form.data_dir = ds.data_dir or form.data_dir
    form.max_train = ds.max_train or 0
    builtin = [a for a in cfg.activations if not a.is_custom]
    form.activations = [a.name for a in builtin]
    form.params = {a.name: a.param_dict for a in builtin if a.params}
    form.learnable = {a.name: list(a.learnable) for a in builtin if a.learnable}
    custom = [a for a in cfg.activations if a.is_custom]
    form.custom_expr = custom[0].expression if custom else ""
    form.custom_params = ", ".join(f"{k}={v:g}" for k, v in custom[0].params) if custom else ""
    form.hidden = ",".join(str(h) for h in cfg.hidden)
    form.init = cfg.init.name
    form.init_std, form.init_low, form.init_high, form.init_value = (cfg.init.std, cfg.init.low, cfg.init.high,
                                                                      cfg.init.value)
    form.bias_const = cfg.init.bias is not None
    form.bias_value = cfg.init.bias if cfg.init.bias is not None else 0.0
    form.optimizer, form.lr, form.momentum = cfg.optimizer, cfg.lr, cfg.momentum
    form.batch_size, form.epochs, form.seed = cfg.batch_size, cfg.epochs, cfg.seed
    form.early_stopping = cfg.patience is not None
    form.patience = cfg.patience or 7
    return form


def describe_form(form: TrainingForm) -> str:
    """One line summing up the setup beside the Start button (no validation: shows what is typed)."""
    from actviz import activations

    labels = []
    for name in form.activations:
        try:
            labels.append(activations.get(name).label)
        except InputError:
            labels.append(name)
    if form.custom_expr.strip():
        labels.append(f"f(x) = {form.custom_expr.strip()[:30]}")
    data = datasets.TITLES.get(form.dataset, form.dataset)
    opt = "Adam" if form.optimizer == "adam" else f"SGD (momentum {form.momentum:g})"
    batch = "full batch" if not form.batch_size else f"batch {form.batch_size}"
    stop = f", early stopping after {form.patience}" if form.early_stopping else ""
    return (f"{', '.join(labels) or 'no activation yet'} on {data}; hidden {form.hidden or 'none'}; {opt}, "
            f"lr {form.lr:g}, {batch}, {form.epochs} epochs{stop}; seed {form.seed}.")
