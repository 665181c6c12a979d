"""What ``python -m actviz train`` prints: progress lines on stderr, then the JSON report (or a text
summary) of every run, the per-activation seed summaries and the margin verdict, plus the checkpoints
``--save`` writes.

The JSON report::

    {"config": {...TrainConfig.to_json()},
     "runs": {"relu": {...}, ...}             # one per activation; "relu@seed43" keys with --seeds > 1
     "summary": {"relu": {"seeds", "test_acc_mean", "test_acc_std", "test_acc_ci95": [lo, hi], ...}},
     "verdict": {"leader", "runner_up", "n", "mean_diff", "ci95", "beyond_noise", "text"}}

Each run has ``status`` (done, early_stopped, diverged, stopped), ``message``, ``activation``, ``seed``,
``history`` (the epoch records, each with its ``lr``), ``test_acc`` (of the weights it keeps, None for a
run that never completed an epoch), ``best_epoch``, ``confusion`` (classification) or ``test_r2`` and
``test_rmse`` (regression), ``dead_fraction``, ``learned``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from actviz.activations import choice
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import checkpoint, features, models, perlayer
from actviz.training import stats
from actviz.training.config import EpochRecord, RunStatus, TrainConfig, parse_activation_list
from actviz.training.engine import Run

RUN_FIELDS = ("test_acc", "test_loss", "best_epoch", "dead_fraction", "confusion", "test_r2", "test_rmse",
              "best_val_acc", "seconds_per_epoch")
RESULT_FIELDS = ("test_acc", "test_loss", "best_epoch", "best_val_acc", "dead_fraction", "test_r2", "test_rmse")


def _train_dataset(args: Any) -> datasets.DatasetSpec:
    if args.csv:
        try:
            content = open(args.csv, "rb").read(int(200e6))
        except OSError as exc:
            raise InputError(f"cannot read {args.csv}: {exc.strerror}") from None
        return datasets.register_csv(content, args.label, task=args.task or "classification")
    if args.label:
        raise InputError("--label only applies with --csv FILE")
    if args.task == "regression" and args.dataset not in datasets.REGRESSION:
        raise InputError(f"--task regression needs reg_plane, reg_gaussians or --csv FILE (got {args.dataset})")
    return datasets.DatasetSpec(name=args.dataset, n_samples=args.samples, noise=args.noise,
                                seed=args.data_seed, data_dir=args.data_dir, max_train=args.max_train)


def parse_assignments(items: Sequence[str] | None, what: str = "--param") -> dict[str, str]:
    """``["beta=1.5", "alpha=0.2"]`` -> ``{"beta": "1.5", "alpha": "0.2"}`` (values parsed later)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what} expects KEY=VALUE, got {item[:40]!r}")
        out[key.strip()] = value.strip()
    return out


def config_from_args(args: Any) -> TrainConfig:
    """The validated config of ``train``'s options (InputError names the first problem)."""
    spec = _train_dataset(args)
    per_activation: dict[str, dict[str, str]] = {}
    for key, value in parse_assignments(args.param).items():
        name, dot, pname = key.partition(".")
        if not dot:
            raise InputError(f"--param for training is NAME.KEY=VALUE, e.g. swish.beta=1.5 (got {key!r})")
        per_activation.setdefault(name, {})[pname] = value
    custom = None
    if args.expr is not None:
        custom = choice.custom(args.expr, per_activation.pop(choice.CUSTOM, {}))
    names = args.activations or ""
    if not names.strip() and custom is None:
        raise InputError("give --activations, e.g. relu,sigmoid (or --preset NAME)")
    if custom is not None and "custom" not in perlayer.mentioned_names(perlayer.split_items(names)):
        names = f"{names},custom" if names.strip() else "custom"
    acts = parse_activation_list(names, per_activation, args.learn or (), custom)
    return TrainConfig(
        dataset=spec, activations=acts, hidden=models.parse_hidden(args.hidden),
        init=models.InitSpec(name=args.init, bias=args.bias_init), optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, batch_size=args.batch_size, epochs=args.epochs, patience=args.patience,
        seed=args.seed, seeds=args.seeds, features=features.parse(args.features), l1=args.l1, l2=args.l2,
        dropout=args.dropout, schedule=args.schedule, warmup=args.warmup, lr_step=args.lr_step,
        lr_gamma=args.lr_gamma, stop_val_acc=args.stop_acc, stop_loss=args.stop_loss)


def activation_name(act: Any) -> str:
    """The JSON key of an activation: its name, or its full key when parameters make it specific."""
    specific = act.is_custom or act.params or getattr(act, "has_params", False)
    return act.key if specific else act.name


def run_keys(cfg: TrainConfig) -> list[str]:
    names = [activation_name(a) for a in cfg.activations]
    return [names[p.group] if cfg.seeds == 1 else f"{names[p.group]}@seed{p.seed}" for p in cfg.plan()]


class ProgressPrinter:
    """The engine's sink for the command line: keeps every record, prints one line per epoch on stderr
    unless ``quiet``, and a line when a run ends with a message."""

    def __init__(self, cfg: TrainConfig, quiet: bool) -> None:
        self.labels, self.epochs, self.quiet = run_keys(cfg), cfg.epochs, quiet
        self.history: list[list[dict[str, Any]]] = [[] for _ in self.labels]
        self.final: list[dict[str, Any]] = [{} for _ in self.labels]

    def run_started(self, run: int) -> None:
        pass

    def live_point(self, run: int, epoch_float: float, train_loss: float, progress: float) -> None:
        pass

    def epoch_done(self, run: int, record: EpochRecord, layer_grad_norms: list[float], boundary: Any) -> None:
        self.history[run].append(record.as_dict())
        if not self.quiet:
            scores = (f"val acc {record.val_acc:.2%}, test acc {record.test_acc:.2%}" if math.isfinite(record.val_acc)
                      else f"val R² {record.val_r2:.4f}, test R² {record.test_r2:.4f}")
            sys.stderr.write(f"[{self.labels[run]}] epoch {record.epoch}/{self.epochs}: train loss "
                             f"{record.train_loss:.4f}, {scores} ({record.seconds:.2f} s)\n")
            sys.stderr.flush()

    def run_finished(self, run: int, status: RunStatus, message: str, summary: dict[str, Any]) -> None:
        self.final[run] = {"status": str(status), "message": message, **summary}
        if not self.quiet and message:
            sys.stderr.write(f"[{self.labels[run]}] {status}: {message}\n")


def report(cfg: TrainConfig, runs: Sequence[Run], sink: ProgressPrinter) -> dict[str, Any]:
    names = [activation_name(a) for a in cfg.activations]
    out: dict[str, Any] = {"config": cfg.to_json(), "runs": {}}
    for p, key in zip(cfg.plan(), run_keys(cfg), strict=True):
        final = sink.final[p.index]
        entry = {"status": final.get("status"), "message": final.get("message", ""), "activation": names[p.group],
                 "seed": p.seed, "history": sink.history[p.index], "learned": final.get("learned", {})}
        entry.update({k: final.get(k) for k in RUN_FIELDS if k in final})
        out["runs"][key] = entry
    finals = [[dict(sink.final[p.index]) for p in cfg.plan() if p.group == i] for i in range(len(names))]
    summary, verdict = stats.job_summary(names, finals, cfg.dataset.task == "regression")
    out["summary"] = summary
    out["verdict"] = verdict.to_json()
    return out


def checkpoints(cfg: TrainConfig, runs: Sequence[Run], sink: ProgressPrinter) -> Iterator[tuple[str, bytes]]:
    """(file name, checkpoint bytes) of every run: ``relu_0.zip``, ``relu-tanh_1.zip``, ``custom_2.zip``."""
    training = {k: v for k, v in cfg.to_json().items() if k not in ("dataset", "activations")}
    for p, run in zip(cfg.plan(), runs, strict=True):
        final = sink.final[p.index]
        stem = "custom" if p.activation.is_custom else p.activation.name.replace(">", "-")
        result = {"status": final.get("status"), **{k: final.get(k) for k in RESULT_FIELDS}}
        yield f"{stem}_{p.index}.zip", checkpoint.save(run.model, cfg.dataset, {**training, "seed": p.seed}, result)


def text_lines(cfg: TrainConfig, out: dict[str, Any]) -> list[str]:
    regression = cfg.dataset.task == "regression"
    metric, what = ("test_r2", "test R²") if regression else ("test_acc", "test accuracy")
    lines = []
    for key, run in out["runs"].items():
        value = run.get(metric)
        if value is None:
            lines.append(f"{key:24s} {run['status']}")
            continue
        shown = f"{value:.4f}" if regression else f"{value:.2%}"
        lines.append(f"{key:24s} {run['status']:13s} {what} {shown} (best epoch {run['best_epoch']})")
    if cfg.seeds > 1:
        for name, s in out["summary"].items():
            mean, std, ci = s.get(f"{metric}_mean"), s.get(f"{metric}_std"), s.get(f"{metric}_ci95")
            if mean is not None:
                spread = f" ± {std:.4f}" if std is not None else ""
                interval = f", 95 % interval [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
                n_seeds = s["seeds"]
                lines.append(f"{name:24s} mean {mean:.4f}{spread} over {n_seeds} seeds{interval}")
    lines.append(out["verdict"]["text"])
    return lines
