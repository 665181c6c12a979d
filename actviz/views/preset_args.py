"""``train --preset NAME [overrides]``: a preset as the command-line options that rebuild it, merged under the
options a person typed (``--preset moons-sigmoid --epochs 20`` trains the preset for 20 epochs).

Merging happens on the options, not on the config: the preset becomes the option values ``train`` would
have been given (:func:`argv_of`), the options given on the command line replace them (:func:`merge`),
and ``train`` builds and validates its config from the result exactly as without a preset — so every
option, including ones added later, overrides the same way.  :func:`given` tells which options a person
typed (argparse fills the rest with defaults, which must not replace the preset's values).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from actviz.errors import InputError
from actviz.training.config import TrainConfig

_UNSET = object()
# Config fields written by hand below (the rest go by their own --flag-name when they differ from the default).
_HANDLED = {"dataset", "activations", "hidden", "init", "optimizer", "lr", "momentum", "batch_size", "epochs",
            "patience", "seed"}
# With other activations, the preset's parameters and learned parameters no longer apply.
_ACTIVATION_OPTIONS = ("param", "learn", "expr")


def _num(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def argv_of(cfg: TrainConfig, options: set[str] | None = None) -> list[str]:
    """The ``train`` options that rebuild ``cfg`` (``options``: the option strings the parser knows, to
    refuse a setting the command line cannot express instead of dropping it silently)."""
    ds = cfg.dataset
    out = ["--dataset", ds.name, "--samples", str(ds.n_samples), "--noise", _num(ds.noise),
           "--data-seed", str(ds.seed)]
    if ds.max_train:
        out += ["--max-train", str(ds.max_train)]
    if ds.data_dir:
        out += ["--data-dir", ds.data_dir]
    names = []
    for act in cfg.activations:
        text = getattr(act, "text", None) or act.name  # a per-layer item reads "relu>tanh"
        if getattr(act, "is_custom", False):
            raise InputError("a preset with a custom formula cannot be written as train options")
        names.append(text)
        for pname, value in getattr(act, "params", ()):
            out += ["--param", f"{act.name}.{pname}={_num(value)}"]
        for pname in getattr(act, "learnable", ()):
            out += ["--learn", f"{act.name}.{pname}"]
    out += ["--activations", ",".join(names), "--hidden", ",".join(str(h) for h in cfg.hidden)]
    init = cfg.init
    out += ["--init", init.name]
    for flag, attr, default in (("--init-std", "std", 1.0), ("--init-a", "low", -1.0), ("--init-b", "high", 1.0),
                                ("--init-value", "value", 0.0)):
        if getattr(init, attr) != default:
            out += [flag, _num(getattr(init, attr))]
    if init.bias is not None:
        out += ["--bias-init", _num(init.bias)]
    out += ["--optimizer", cfg.optimizer, "--lr", _num(cfg.lr), "--momentum", _num(cfg.momentum),
            "--batch-size", str(cfg.batch_size), "--epochs", str(cfg.epochs), "--seed", str(cfg.seed)]
    if cfg.patience is not None:
        out += ["--patience", str(cfg.patience)]
    for f in dataclasses.fields(cfg):
        if f.name in _HANDLED:
            continue
        value = getattr(cfg, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else _UNSET)  # type: ignore[misc]
        if value == default or value is None:
            continue
        flag = "--" + f.name.replace("_", "-")
        text = ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else _num(value)
        out += [flag, text]
    if options is not None:
        unknown = [t for t in out if t.startswith("--") and t not in options]
        if unknown:
            raise InputError(f"this preset sets {', '.join(unknown)}, which train has no option for")
    return out


class _UnsetList(list):
    """Stands for 'not typed' where argparse appends (it copies the list, so a typed value is a new object)."""


def given(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> set[str]:
    """The destinations of the options present in ``tokens`` (what a person typed after ``train``): every
    destination starts as a marker object, which argparse only replaces for the options it meets."""
    markers = {a.dest: (_UnsetList() if isinstance(a, argparse._AppendAction) else object())
               for a in parser._actions if a.dest != argparse.SUPPRESS}
    ns = argparse.Namespace(**markers)
    parser.parse_known_args(list(tokens), namespace=ns)
    return {k for k, v in vars(ns).items() if v is not markers.get(k)}


def merge(parser: argparse.ArgumentParser, typed: argparse.Namespace, typed_tokens: Sequence[str],
          cfg: TrainConfig) -> argparse.Namespace:
    """The options ``train`` runs with: the preset's, replaced by every option typed after ``train``."""
    options = set(parser._option_string_actions)
    merged = parser.parse_args(argv_of(cfg, options))
    typed_dests = given(parser, typed_tokens)
    if "activations" in typed_dests:
        for dest in _ACTIVATION_OPTIONS:
            if dest not in typed_dests and hasattr(merged, dest):
                setattr(merged, dest, None)
    for key, value in vars(typed).items():
        if key in typed_dests or not hasattr(merged, key):
            setattr(merged, key, value)
    return merged


def tokens_after(argv: Sequence[str], command: str) -> list[str]:
    """The tokens after the subcommand (``train``) in a full command line."""
    argv = list(argv)
    return argv[argv.index(command) + 1:] if command in argv else argv
