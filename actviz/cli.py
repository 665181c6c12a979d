"""Command-line interface: ``python -m actviz <command> ...``.

Every number a page shows can be produced here too.  Bad input exits with status 2 and one line on
stderr (``actviz: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from actviz.errors import InputError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line instead of usage + message
        command = " ".join(self.prog.split()[1:])
        hint = f"python -m actviz {command} --help" if command else "python -m actviz --help"
        self.exit(EXIT_BAD_INPUT, f"actviz: error: {message} (see: {hint})\n")


def parse_assignments(items: Sequence[str] | None, what: str = "--param") -> dict[str, str]:
    """``["beta=1.5", "alpha=0.2"]`` -> ``{"beta": "1.5", "alpha": "0.2"}`` (values parsed later)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what} expects KEY=VALUE, got {item[:40]!r}")
        out[key.strip()] = value.strip()
    return out


def _emit(data: Any) -> None:
    json.dump(data, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


# --- commands ------------------------------------------------------------------------------------

def cmd_activations(args: argparse.Namespace) -> int:
    from actviz import activations

    entries = [
        {"name": a.name, "label": a.label, "formula": a.formula,
         "params": [{"name": p.name, "default": p.default, "min": p.min, "max": p.max}
                    for p in a.params]}
        for a in activations.REGISTRY.values()
    ]
    if args.json:
        _emit(entries)
    else:
        for a in activations.REGISTRY.values():
            params = ", ".join(f"{p.name}={p.default:g} [{p.min:g}, {p.max:g}]" for p in a.params)
            print(f"{a.name:12s} {a.label:22s} {params}")
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    from actviz import choice, curves

    params = parse_assignments(args.param)
    if args.expr is not None:
        if args.name:
            raise InputError("give either an activation NAME or --expr, not both")
        chosen = choice.custom(args.expr, {k: v for k, v in params.items()})
    else:
        if not args.name:
            raise InputError("give an activation NAME (see: python -m actviz activations) or --expr")
        chosen = choice.choose(args.name, params)
    curve = curves.compute_curve(chosen, args.xmin, args.xmax, args.points)
    props = curves.properties(chosen).to_json()
    if args.json:
        data = curve.to_json()
        data["properties"] = props
        _emit(data)
    else:
        print(f"{curve.label}: {len(curve.x)} points on [{curve.x[0]:g}, {curve.x[-1]:g}]")
        for key, value in props.items():
            print(f"  {key:18s} {value}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from actviz import bench

    report = bench.run(quick=args.quick, only=args.only)
    if args.json:
        _emit(report)
    else:
        bench.print_report(report)
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from actviz import datasets

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
    from actviz import datasets

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

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        sys.stderr.write(f"actviz: error: {_one_line(str(exc))}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("actviz: interrupted\n")
        return 130


def _one_line(message: str) -> str:
    return " ".join(message.split())
