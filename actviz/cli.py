"""Command-line interface: ``python -m actviz <command> ...``.

Every number a page shows can be produced here too.  Bad input exits with status 2 and one line on
stderr (``actviz: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from actviz import activations, budget, validate
from actviz.activations import choice
from actviz.activations.curves import compute_curve
from actviz.activations.properties import properties
from actviz.activations.surfaces import compute_surface
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import checkpoint, diagnostics, models
from actviz.training import estimates, resume
from actviz.training.engine import train
from actviz.views import train_report
from actviz.views.train_report import parse_assignments

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line instead of usage + message
        command = " ".join(self.prog.split()[1:])
        hint = f"python -m actviz {command} --help" if command else "python -m actviz --help"
        self.exit(EXIT_BAD_INPUT, f"actviz: error: {message} (see: {hint})\n")


def _emit(data: Any) -> None:
    json.dump(data, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


# --- commands ------------------------------------------------------------------------------------

def cmd_activations(args: argparse.Namespace) -> int:
    entries = [
        {"name": a.name, "label": a.label, "kind": a.kind, "formula": a.formula,
         "params": [{"name": p.name, "default": p.default, "min": p.min, "max": p.max}
                    for p in a.params]}
        for a in map(activations.get, activations.names())
    ]
    if args.json:
        _emit(entries)
    else:
        for a in map(activations.get, activations.names()):
            params = ", ".join(f"{p.name}={p.default:g} [{p.min:g}, {p.max:g}]" for p in a.params)
            print(f"{a.name:12s} {a.label:22s} {'gated, ' if a.gated else ''}{params}")
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    params = parse_assignments(args.param)
    if args.expr is not None:
        if args.name:
            raise InputError("give either an activation NAME or --expr, not both")
        chosen = choice.custom(args.expr, {k: v for k, v in params.items()})
    else:
        if not args.name:
            raise InputError("give an activation NAME (see: python -m actviz activations) or --expr")
        chosen = choice.choose(args.name, params)
    curve = compute_curve(chosen, args.xmin, args.xmax, args.points)
    props = properties(chosen).to_json()
    if args.json:
        data = curve.to_json()
        data["properties"] = props
        _emit(data)
    else:
        print(f"{curve.label}: {len(curve.x)} points on [{curve.x[0]:g}, {curve.x[-1]:g}]")
        for key, value in props.items():
            print(f"  {key:18s} {value}")
    return 0


def cmd_surface(args: argparse.Namespace) -> int:
    chosen = choice.choose(args.name, parse_assignments(args.param))
    surface = compute_surface(chosen, args.amin, args.amax, args.bmin, args.bmax, args.points)
    if args.json:
        _emit(surface.to_json())
    else:
        print(f"{chosen.label}: z = f(a, b) on {len(surface.a)} x {len(surface.b)} points, "
              f"a in [{surface.a[0]:g}, {surface.a[-1]:g}], b in [{surface.b[0]:g}, {surface.b[-1]:g}]; "
              f"z from {surface.z.min():.4g} to {surface.z.max():.4g}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    # The benchmark lives beside the package (bench/), with the test tools it drives; it is there in a
    # source checkout, not in an installed app or the Docker image.
    try:
        bench = importlib.import_module("bench.runner")
    except ModuleNotFoundError as exc:
        raise InputError(f"the benchmark needs the source checkout and its test tools ({exc}); run it from the "
                         "repository root after `make test` has installed them") from None
    report = bench.run(quick=args.quick, only=args.only)
    if args.json:
        _emit(report)
    else:
        bench.print_report(report)
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    entries = [{"name": n, "title": datasets.TITLES[n], "synthetic": n in datasets.SYNTHETIC,
                "ready": datasets.available(n, args.data_dir), "status": datasets.status(n, args.data_dir)}
               for n in datasets.NAMES]
    if args.json:
        _emit(entries)
    else:
        for e in entries:
            print(f"{e['name']:14s} {e['status']}")
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()

    def progress(fraction: float, message: str) -> None:
        finished = not message.endswith(" MB")  # "...: 3.1 of 9.9 MB" while bytes arrive
        if tty:
            sys.stderr.write(f"\r{fraction:4.0%} {message:70.70s}" + ("\n" if finished else ""))
        elif finished:  # one line per file when stderr is a log
            sys.stderr.write(f"{message}\n")
        sys.stderr.flush()

    target = datasets.download(args.name, args.data_dir, progress=progress)
    print(f"{datasets.TITLES[args.name]} is ready in {target}")
    return 0


def _with_preset(args: argparse.Namespace) -> tuple[argparse.Namespace, dict[str, Any]]:
    """``train --preset KEY [options]``: the preset's options as it runs here, replaced by the options typed;
    and what was adapted to the data found."""
    from actviz.views import lessons, preset_args  # the presets import the page layer: only load it when asked

    preset = lessons.training_preset(args.preset, args.data_dir)
    if preset.fallback_note and not args.json:
        sys.stderr.write(f"actviz: {preset.fallback_note}\n")
    merged = preset_args.merge(args.parser, args, preset_args.tokens_after(args.argv, "train"), preset.config)
    return merged, {"preset": preset.key, "adapted": preset.adapted}


def cmd_train(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {}
    if args.preset:
        args, extra = _with_preset(args)
    cfg = train_report.config_from_args(args)
    return _train_and_report(args, cfg, cfg.dataset, extra)


def _train_and_report(args: argparse.Namespace, cfg: Any, spec: datasets.DatasetSpec, extra: dict[str, Any]) -> int:
    import torch

    estimates.check_training(cfg, threads=torch.get_num_threads())
    sink = train_report.ProgressPrinter(cfg, quiet=args.json)
    resuming, paths = _resuming(cfg, getattr(args, "resume_dir", None))
    runs = train(cfg, sink, **resuming)
    for path in paths:  # finished: the next run of this command trains anew
        path.unlink(missing_ok=True)
    out = {**extra, **train_report.report(cfg, runs, sink)}
    if args.save:
        folder = pathlib.Path(args.save)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in train_report.checkpoints(cfg, runs, sink):
            (folder / name).write_bytes(data)
    if args.json:
        _emit(validate.json_safe(out))
    else:
        print("\n".join(train_report.text_lines(cfg, out)))
    return 0


def _resuming(cfg: Any, folder: str | None) -> tuple[dict[str, Any], list[pathlib.Path]]:
    """``--resume-dir``: the engine saves resume points there while it trains (named after the setup) and,
    when the folder holds this setup's points (an earlier run was interrupted), goes on from their epoch."""
    if not folder:
        return {}, []
    path = pathlib.Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    paths = [resume.path_for(path, "train-" + resume.config_tag(cfg), i) for i in range(len(cfg.plan()))]
    out: dict[str, Any] = {"saver": resume.Saver(paths, resume.EVERY_S)}
    if any(p.exists() for p in paths):
        try:
            out["resume"] = resume.read(paths, cfg)
        except InputError as exc:
            raise InputError(f"{exc} (here: delete the .resume.zip files in {folder} to start over)") from None
        sys.stderr.write(f"going on from epoch {out['resume'][0].epoch} (resume points in {folder})\n")
    return out, paths


def _network_setup(args: argparse.Namespace, neurons: bool = False):
    """(dataset, hidden, activation choice, init) from the shared gradients/neurons options, after
    checking the computation against the budget (before the data are loaded)."""
    params = parse_assignments(args.param)
    if args.expr is not None:
        if args.activation:
            raise InputError("give either --activation NAME or --expr, not both")
        chosen = choice.custom(args.expr, params)
    else:
        if not args.activation:
            raise InputError("give --activation NAME (see: python -m actviz activations) or --expr")
        chosen = choice.choose(args.activation, params)
    spec = datasets.DatasetSpec(name=args.dataset, n_samples=args.samples, noise=args.noise, seed=args.data_seed,
                                data_dir=args.data_dir)
    hidden = models.parse_hidden(args.hidden)
    init = models.InitSpec(name=args.init, std=args.init_std, low=args.init_a, high=args.init_b,
                           value=args.init_value, bias=args.bias_init)
    import torch

    shape, threads = datasets.shape(spec), torch.get_num_threads()
    budget.check(budget.neurons(shape, hidden, threads) if neurons else
                 budget.diagnostics(shape, hidden, [chosen], diagnostics.check_batch_size(args.batch_size),
                                    count_dead=False, threads=threads))
    return datasets.load(spec), hidden, chosen, init


def cmd_gradients(args: argparse.Namespace) -> int:
    ds, hidden, chosen, init = _network_setup(args)
    comp = diagnostics.compare_at_init(ds, hidden, [chosen], init, args.seed, args.batch_size, args.eps, dead=False)
    report = comp.reports[0]
    out = {"dataset": ds.description, "sizes": list(comp.sizes), "init": init.as_dict(), "seed": args.seed,
           **report.to_json()}
    if args.json:
        _emit(validate.json_safe(out))
    else:
        print(f"{report.label} on {ds.description}; batch {report.batch_size}, loss {report.loss:.4f}")
        print(f"  {'layer':16s} {'‖∇W‖₂':>10s} {'mean |g|':>10s} {'std':>10s} {'exactly 0':>10s}")
        for layer in report.layers:
            print(f"  {layer.name:16s} {layer.grad_norm:10.3e} {layer.grad_mean_abs:10.3e} {layer.grad_std:10.3e} "
                  f"{layer.zero_fraction:10.1%}")
        for h in report.hidden:
            print(f"  {h.name:16s} saturated {h.saturated_fraction:6.1%}  exactly 0 {h.zero_fraction:6.1%}  "
                  f"mean {h.mean:+.3f}  std {h.std:.3f}")
    return 0


def cmd_neurons(args: argparse.Namespace) -> int:
    ds, hidden, chosen, init = _network_setup(args, neurons=True)
    if not hidden:
        raise InputError("a network without hidden layers has no neurons to count; give --hidden")
    model = models.build_mlp(ds.n_features, hidden, models.output_size(ds.n_classes), chosen, init, args.seed)
    dead = diagnostics.dead_neurons(model, ds.x_train, eps=diagnostics.check_eps(args.eps))
    out = {"activation": chosen.as_dict(), "label": chosen.label, "dataset": ds.description, "hidden": list(hidden),
           "init": init.as_dict(), "seed": args.seed, "eps": args.eps, **dead.to_json()}
    if args.json:
        _emit(validate.json_safe(out))
    else:
        print(f"{chosen.label} at init, {dead.n_samples:,} training samples: {dead.total} dead units "
              f"({dead.total_fraction:.1%})")
        for i, (c, u, f, sat) in enumerate(zip(dead.counts, dead.sizes, dead.fractions, dead.saturated_fraction or [])):
            print(f"  H{i + 1} ({u:4d} units): dead {c:4d} ({f:6.1%})  saturated |f'| < {args.eps:g}: {sat:6.1%}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    path = pathlib.Path(args.checkpoint)
    try:
        size = path.stat().st_size
        if size > checkpoint.MAX_MEMBER_BYTES + checkpoint.MAX_CONFIG_BYTES + 1_000_000:
            raise InputError(f"{path} is {size / 2**20:.0f} MB, larger than any checkpoint this app writes")
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a checkpoint file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    loaded = checkpoint.load(data)
    if args.csv:
        fields = (loaded.config.get("dataset") or {}).get("fields") if isinstance(loaded.config.get("dataset"),
                                                                                  dict) else None
        task = fields.get("task") if isinstance(fields, dict) and fields.get("task") in datasets.TASKS else None
        try:
            datasets.register_csv(pathlib.Path(args.csv).read_bytes(), args.label, task=task or "classification")
        except OSError as exc:
            raise InputError(f"cannot read {args.csv}: {exc.strerror or exc}") from None
    scores = checkpoint.evaluate(loaded, args.data_dir)
    out = {**scores, "config": loaded.config}
    if args.json:
        _emit(validate.json_safe(out))
    elif scores.get("test_acc") is None:
        print(f"{loaded.label} on {loaded.dataset_spec().key()}: test R² {scores['test_r2']:.4f}, "
              f"test RMSE {scores['test_rmse']:.4g}, test loss {scores['test_loss']:.4f}")
    else:
        print(f"{loaded.label} on {loaded.dataset_spec().key()}: test accuracy {scores['test_acc']:.2%}, "
              f"test loss {scores['test_loss']:.4f}")
    return 0


def _add_network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", help="catalogue name, e.g. relu (see: python -m actviz activations)")
    p.add_argument("--expr", help="custom activation in x, e.g. 'x * sigmoid(beta * x)'")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="activation parameter (repeatable)")
    p.add_argument("--hidden", default="512,256,256,128", help="hidden sizes, e.g. 512,256 or 256x5,128x5 "
                   "(default 512,256,256,128)")
    p.add_argument("--dataset", default="digits", help="moons, circles, xor, spiral, gaussian, digits, mnist, "
                   "fashion_mnist (default digits)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with MNIST/FashionMNIST files")
    p.add_argument("--samples", type=int, default=1000, help="synthetic datasets: number of points")
    p.add_argument("--noise", type=float, default=0.2, help="synthetic datasets: noise level")
    p.add_argument("--data-seed", type=int, default=0, help="seed for generating and splitting the data")
    p.add_argument("--init", default="default", help="weight init: default, xavier_uniform, xavier_normal, "
                   "kaiming_uniform, kaiming_normal, normal, uniform, zeros, constant")
    p.add_argument("--init-std", type=float, default=1.0, help="std of the 'normal' init (default 1)")
    p.add_argument("--init-a", type=float, default=-1.0, help="lower bound of the 'uniform' init (default -1)")
    p.add_argument("--init-b", type=float, default=1.0, help="upper bound of the 'uniform' init (default 1)")
    p.add_argument("--init-value", type=float, default=0.0, help="value of the 'constant' init (default 0)")
    p.add_argument("--bias-init", type=float, help="constant for every bias (default: the init's own)")
    p.add_argument("--seed", type=int, default=42, help="initial weights and batch (default 42)")
    p.add_argument("--eps", type=float, default=0.05, help="saturated where |f'(z)| < EPS (default 0.05)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


# --- wiring --------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="actviz", description="Explore neural-network activation functions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("activations", help="list the catalogue")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_activations)

    p = sub.add_parser("curve", help="f, f' and f'' of one activation, with its properties")
    p.add_argument("name", nargs="?", help="catalogue name, e.g. swish")
    p.add_argument("--expr", help="custom expression in x, e.g. 'x * sigmoid(beta * x)'")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="parameter value (repeatable)")
    p.add_argument("--xmin", default="-5", help="left end of the x-range (default -5)")
    p.add_argument("--xmax", default="5", help="right end of the x-range (default 5)")
    p.add_argument("--points", default="1001", help="number of x points (default 1001)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_curve)

    p = sub.add_parser("surface", help="a gated unit f(a, b) = act(a)·b on a grid, with df/da and df/db")
    p.add_argument("name", help="glu, reglu, geglu or swiglu")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="parameter value (repeatable)")
    p.add_argument("--points", default="41", help="grid points per axis (default 41)")
    p.add_argument("--amin", default="-3", help="a-range, left end (default -3)")
    p.add_argument("--amax", default="3", help="a-range, right end (default 3)")
    p.add_argument("--bmin", default="-3", help="b-range, left end (default -3)")
    p.add_argument("--bmax", default="3", help="b-range, right end (default 3)")
    p.add_argument("--json", action="store_true", help='{"a", "b", "z", "dz_da", "dz_db"}, z[i][j] at a[i], b[j]')
    p.set_defaults(func=cmd_surface)

    p = sub.add_parser("bench", help="speed benchmark, reported as ratios measured side by side")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quick", action="store_true", help="fewer repeats (for smoke tests)")
    p.add_argument("--only", action="append", help="run only the named sections (repeatable)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("data", help="datasets: list them with their status, download MNIST / FashionMNIST")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    q = data_sub.add_parser("list", help="every dataset with its status")
    q.add_argument("--data-dir", metavar="DIR",
                   help="folder with the IDX files (default: $ACTVIZ_DATA_DIR, else ./data)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_data_list)
    q = data_sub.add_parser("download", help="fetch MNIST or FashionMNIST (MD5-verified); progress on stderr")
    q.add_argument("name", choices=("mnist", "fashion_mnist"), help="which dataset")
    q.add_argument("--data-dir", metavar="DIR",
                   help="files go to DIR/NAME/ (default: $ACTVIZ_DATA_DIR, else ./data)")
    q.set_defaults(func=cmd_data_download)

    p = sub.add_parser("train", help="train activations side by side (same data, same initial weights)")
    p.add_argument("--dataset", default="moons", help="moons, circles, xor, spiral, gaussian, reg_plane, "
                   "reg_gaussians, digits, mnist, fashion_mnist (default moons)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with MNIST/FashionMNIST files")
    p.add_argument("--csv", metavar="FILE", help="train on a CSV file (numeric features + a label column)")
    p.add_argument("--label", metavar="COLUMN", help="label column of --csv (default: label/target/class/y/last)")
    p.add_argument("--samples", type=int, default=1000, help="synthetic datasets: number of points")
    p.add_argument("--noise", type=float, default=0.2, help="synthetic datasets: noise level")
    p.add_argument("--data-seed", type=int, default=0, help="seed for generating and splitting the data")
    p.add_argument("--max-train", type=int, help="use at most this many training samples")
    p.add_argument("--preset", metavar="NAME", help="a published experiment: demo, mnist-mlp, fashion-mnist-nine, "
                   "moons-sigmoid (on digits, adapted, when its MNIST files are missing; the JSON says how)")
    p.add_argument("--task", choices=("classification", "regression"),
                   help="with --csv: regression for a numeric target (reg_plane/reg_gaussians are regression)")
    p.add_argument("--features", metavar="LIST", help="2-D data: input features among x1,x2,x1sq,x2sq,x1x2,sinx1,"
                   "sinx2 (default x1,x2)")
    p.add_argument("--activations", help="comma-separated, e.g. relu,sigmoid,tanh; one per hidden layer "
                   "as relu>tanh; parameters inline as swish(beta=2)")
    p.add_argument("--expr", help="a custom activation in x (named 'custom' in --activations), e.g. 'x*sigmoid(x)'")
    p.add_argument("--param", action="append", metavar="NAME.KEY=VALUE", help="e.g. swish.beta=1.5 (repeatable)")
    p.add_argument("--learn", action="append", metavar="NAME.KEY", help="learn a parameter, e.g. prelu.init")
    p.add_argument("--hidden", default="64,64", help="hidden sizes, e.g. 512,256,256,128 or 256x5 (default 64,64)")
    p.add_argument("--init", default="default", help="weight init (default: PyTorch default)")
    p.add_argument("--bias-init", type=float, help="constant for every bias")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--batch-size", type=int, default=64, help="0 = full batch (default 64)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, help="early stopping patience on validation accuracy")
    p.add_argument("--seed", type=int, default=42, help="initial weights and batch order (default 42)")
    p.add_argument("--seeds", type=int, default=1, help="train every activation from this many seeds: SEED, "
                   "SEED+1, ... (1-10, default 1); adds mean ± std and 95 %% intervals")
    p.add_argument("--l1", type=float, default=0.0, help="L1 regularisation rate on the weights (default 0)")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularisation rate on the weights (default 0)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout after every hidden layer (0-0.9)")
    p.add_argument("--schedule", default="constant", help="learning-rate schedule: constant, step, cosine, onecycle")
    p.add_argument("--warmup", type=int, default=0, help="linear warm-up epochs before the schedule (default 0)")
    p.add_argument("--lr-step", type=int, default=10, help="step schedule: epochs between drops (default 10)")
    p.add_argument("--lr-gamma", type=float, default=0.5, help="step schedule: factor per drop (default 0.5)")
    p.add_argument("--stop-acc", "--stop-val-acc", dest="stop_acc", type=float,
                   help="stop a run once its validation accuracy reaches this (0-1)")
    p.add_argument("--stop-loss", type=float, help="stop a run once its training loss falls below this")
    p.add_argument("--save", metavar="DIR", help="write each trained model as a checkpoint .zip into DIR")
    p.add_argument("--resume-dir", metavar="DIR", help="save resume points into DIR while training; run the same "
                   "command again after an interruption to go on from the last saved epoch")
    p.add_argument("--json", action="store_true", help="machine-readable output; no progress lines")
    p.set_defaults(func=cmd_train, parser=p)

    p = sub.add_parser("gradients", help="weight-gradient statistics per layer of a net at initialisation")
    _add_network_options(p)
    p.add_argument("--batch-size", type=int, default=256, help="batch for the forward/backward (default 256)")
    p.set_defaults(func=cmd_gradients)

    p = sub.add_parser("neurons", help="dead and saturated units of a net at initialisation (whole training set)")
    _add_network_options(p)
    p.set_defaults(func=cmd_neurons)

    p = sub.add_parser("evaluate", help="score a checkpoint (.zip from the training lab or train --save) on the "
                       "test split of the dataset it was trained on")
    p.add_argument("checkpoint", help="the checkpoint file")
    p.add_argument("--data-dir", metavar="DIR", help="folder with MNIST/FashionMNIST files")
    p.add_argument("--csv", metavar="FILE", help="the CSV file the checkpoint was trained on (CSV checkpoints only)")
    p.add_argument("--label", metavar="COLUMN", help="label column of --csv")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)

    for name in ("train", "gradients", "neurons", "evaluate"):  # the heavy commands: budgets as on the server
        sub.choices[name].add_argument("--no-budget", action="store_true", help="lift the memory and time budgets "
                                       "(ACTVIZ_MAX_JOB_MEMORY_MB, ACTVIZ_MAX_JOB_MINUTES), on your own machine")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(args, "no_budget", False):
        budget.lift()
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        lift = " (on your own machine, --no-budget lifts the budget)" if isinstance(exc, budget.BudgetError) else ""
        sys.stderr.write(f"actviz: error: {_one_line(str(exc))}{lift}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("actviz: interrupted\n")
        return 130


def _one_line(message: str) -> str:
    return " ".join(message.split())
