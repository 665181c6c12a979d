"""Checkpoints: a trained model as a zip of ``model.pt`` (state dict) and ``config.json``.

One schema, written by the training lab and by ``train --save`` alike, read by the page and by
``python -m actviz evaluate``::

    {"format": "actviz-checkpoint", "version": 1, "written": "2026-12-02T12:00:00Z",
     "model":    {"n_in", "hidden", "n_out", "activation", "init"},
     "dataset":  {"spec": "<canonical key>", "name": "moons", "fields": {DatasetSpec fields but data_dir}},
     "training": {optimizer, lr, epochs, batch size, seed ...},
     "result":   {"status", "test_acc", "test_loss", "best_epoch", ...}}

Loading never unpickles arbitrary objects: the state dict is read with ``torch.load(...,
weights_only=True)`` and the JSON config is checked field by field (activation through the registry
or the allow-listed expression parser, sizes within the limits) before a model is built, and the
tensors must match that model's parameter names and shapes exactly.  Zip members are size-checked
before reading (no zip bombs) and only the two known names are read.  Checkpoints written before the
dataset ``fields`` existed (``train --save`` wrote only the canonical key) are read by parsing the key.

**Resume points** extend the same schema (still version 1; a reader that does not know them reads the model):
a run's training state saved while its job trains has two more members, ``resume.json`` (how far training
had got: text the training layer writes, see :mod:`actviz.training.resume`) and ``resume.pt`` (optimizer
state, kept weights, random generator states: tensors and plain containers only, read weights-only), and
``config.json`` has a small ``"resume": {"epoch", "run", "job"}`` section.  ``model.pt`` then holds the
run's weights at that epoch.  :func:`save_resume` streams such a file to disk; :func:`load_resume` reads
it with every check of :func:`load` and then the two extra members.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from actviz import budget, limits
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import features as features_mod
from actviz.network import metrics, models, perlayer

FORMAT = "actviz-checkpoint"
VERSION = 1
MAX_MEMBER_BYTES = limits.MAX_CHECKPOINT_MEMBER_BYTES
MAX_CONFIG_BYTES = limits.MAX_CHECKPOINT_CONFIG_BYTES
RESUME_STATE, RESUME_TENSORS = "resume.json", "resume.pt"
MAX_RESUME_STATE_BYTES = 64 * MAX_CONFIG_BYTES     # the history of thousands of epochs
MAX_RESUME_TENSOR_BYTES = 4 * MAX_MEMBER_BYTES     # two optimizer moments and the kept weights, per weight


@dataclass
class LoadedCheckpoint:
    model: models.MLP
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return self.model.activation.label if len(self.model.acts) else "linear model"

    @property
    def result(self) -> dict[str, Any]:
        value = self.config.get("result")
        return value if isinstance(value, dict) else {}

    @property
    def dataset_label(self) -> str:
        """What the file says the model was trained on, for display ("unknown data" if it does not say)."""
        section = self.config.get("dataset")
        key = section.get("spec") if isinstance(section, dict) else None
        return key[:80] if isinstance(key, str) and key else "unknown data"

    @property
    def training(self) -> dict[str, Any]:
        value = self.config.get("training")
        return value if isinstance(value, dict) else {}

    def dataset_spec(self) -> datasets.DatasetSpec:
        """The dataset the model was trained on, validated (InputError if the file does not say)."""
        section = self.config.get("dataset")
        if not isinstance(section, dict):
            raise InputError("the checkpoint does not say which dataset it was trained on")
        fields = section.get("fields")
        if isinstance(fields, dict):
            return spec_from_fields(fields)
        key = section.get("spec")
        if isinstance(key, str):
            return spec_from_key(key)
        raise InputError("the checkpoint does not say which dataset it was trained on")


# --- the dataset section ----------------------------------------------------------------------------

def dataset_fields(spec: datasets.DatasetSpec) -> dict[str, Any]:
    """The spec as plain fields, without the server-side data directory (never shared, never trusted back)."""
    fields = dataclasses.asdict(spec)
    fields.pop("data_dir", None)
    return fields


_TEXT_FIELDS = ("name", "csv_key", "label_column")


def spec_from_fields(fields: Mapping[str, Any]) -> datasets.DatasetSpec:
    allowed = {f.name for f in dataclasses.fields(datasets.DatasetSpec)} - {"data_dir"}
    given = {k: v for k, v in fields.items() if k in allowed}
    for k in _TEXT_FIELDS:  # numbers are checked by DatasetSpec; these must be text before anything hashes them
        if given.get(k) is not None and not isinstance(given[k], str):
            raise InputError(f"the checkpoint's dataset description is malformed ({k} must be text)")
    try:
        return datasets.DatasetSpec(**given)
    except TypeError:
        raise InputError("the checkpoint's dataset description is malformed") from None


def spec_from_key(key: str) -> datasets.DatasetSpec:
    """Inverse of :meth:`DatasetSpec.key` for what a key can say (``moons|n=1000|noise=0.2|seed=0``)."""
    parts = key.split("|")
    fields: dict[str, Any] = {"name": parts[0]}
    names = {"n": "n_samples", "noise": "noise", "seed": "seed", "max_train": "max_train", "sha256": "csv_key",
             "label": "label_column"}
    for part in parts[1:]:
        k, sep, v = part.partition("=")
        if not sep or k not in names:
            continue
        if k in ("label",):
            try:
                v = json.loads(v)
            except ValueError:
                raise InputError("the checkpoint's dataset description is malformed") from None
        fields[names[k]] = v
    return spec_from_fields(fields)


# --- writing ----------------------------------------------------------------------------------------

def _config(model_config: dict[str, Any], dataset: datasets.DatasetSpec | None,
            training: Mapping[str, Any] | None, result: Mapping[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                              "written": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "model": model_config}
    if dataset is not None:
        config["dataset"] = {"spec": dataset.key(), "name": dataset.name, "fields": dataset_fields(dataset)}
    if training is not None:
        config["training"] = dict(training)
    if result is not None:
        config["result"] = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in result.items()}
    return config


def save(model: models.MLP, dataset: datasets.DatasetSpec | None = None, training: Mapping[str, Any] | None = None,
         result: Mapping[str, Any] | None = None) -> bytes:
    """The zip bytes of ``model`` with what it was trained on, how, and how well it did (JSON-able)."""
    config = _config(model.config(), dataset, training, result)
    weights = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, weights)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config, indent=2, allow_nan=False))
        z.writestr("model.pt", weights.getvalue())
    return out.getvalue()


def save_resume(file: Any, model_config: dict[str, Any], weights: Mapping[str, torch.Tensor],
                section: Mapping[str, Any], state: str, tensors: Mapping[str, Any],
                dataset: datasets.DatasetSpec | None = None, training: Mapping[str, Any] | None = None) -> None:
    """Write a resume point (see the module docstring) into ``file`` (a path or a binary file object).

    The tensors are streamed into the zip without compression: no second copy of the state in memory, and
    no CPU spent deflating weights that hardly compress (this runs while the job trains)."""
    config = _config(model_config, dataset, training, None)
    config["resume"] = dict(section)
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("config.json", json.dumps(config, indent=2, allow_nan=False))
        with z.open("model.pt", "w", force_zip64=True) as f:
            torch.save(dict(weights), f)
        z.writestr(RESUME_STATE, state)
        with z.open(RESUME_TENSORS, "w", force_zip64=True) as f:
            torch.save(dict(tensors), f)


# --- reading ----------------------------------------------------------------------------------------

# What a damaged or falsified zip raises while a member is read (bad CRC, sizes that lie, an unknown
# compression method, encryption, truncated deflate streams ...).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError,
               OverflowError, IndexError, KeyError)


def _member(z: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise InputError(f"the checkpoint has no {name}; is it an actviz checkpoint (.zip)?") from None
    if info.file_size > limit:
        raise InputError(f"{name} in the checkpoint is too large ({info.file_size} bytes)")
    try:
        with z.open(info) as f:
            data = f.read(limit + 1)
    except _ZIP_ERRORS as exc:
        raise InputError(f"{name} in the checkpoint is damaged ({type(exc).__name__}); download it again") from None
    if len(data) > limit:
        raise InputError(f"{name} in the checkpoint is larger than it claims")
    return data


def _json(text: bytes) -> Any:
    try:
        return json.loads(text.decode("utf-8"), parse_constant=lambda c: math.nan)
    except RecursionError:
        raise InputError("config.json in the checkpoint is nested too deeply to be a checkpoint config") from None
    except (UnicodeDecodeError, ValueError):  # ValueError: malformed JSON, or an integer of thousands of digits
        raise InputError("config.json in the checkpoint is not valid JSON") from None


def _int_list(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InputError(f"config.json: {what} must be a list of whole numbers")
    return tuple(value)


def validate_model_config(cfg: Any) -> tuple[int, tuple[int, ...], int, perlayer.Choice]:
    if not isinstance(cfg, dict):
        raise InputError("config.json: 'model' must be an object")
    n_in, n_out = cfg.get("n_in"), cfg.get("n_out")
    for name, v in (("n_in", n_in), ("n_out", n_out)):
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= limits.MAX_INPUTS:
            raise InputError(f"config.json: model.{name} must be a whole number from 1 to {limits.MAX_INPUTS}")
    hidden = _int_list(cfg.get("hidden"), "model.hidden")
    models.check_hidden(hidden)
    activation = perlayer.from_dict(cfg.get("activation"))
    perlayer.layer_choices(activation, len(hidden))
    return n_in, hidden, n_out, activation


def model_features(cfg: dict[str, Any]) -> tuple[str, ...]:
    raw = cfg.get("features", [])
    if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
        raise InputError("config.json: model.features must be a list of feature names")
    chosen = features_mod.parse(raw)
    if chosen and cfg.get("n_in") != 2:
        raise InputError("config.json: input features apply to 2-D data only")
    return chosen


def load(data: bytes) -> LoadedCheckpoint:
    """A model from checkpoint bytes, or InputError saying what is wrong with the file."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise InputError("the checkpoint file is empty")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise InputError("this is not an actviz checkpoint: expected a .zip with config.json and model.pt") from None
    with z:
        config = _json(_member(z, "config.json", MAX_CONFIG_BYTES))
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise InputError("config.json is not an actviz checkpoint config")
        if config.get("version") != VERSION:
            raise InputError(f"unsupported checkpoint version {str(config.get('version'))[:20]!r} (expected {VERSION})")
        n_in, hidden, n_out, activation = validate_model_config(config.get("model"))
        # Budget before work: the network the config describes must fit before anything is read or built.
        budget.check(budget.checkpoint(n_in, hidden, n_out, len(data)))
        features = model_features(config["model"])
        raw = _member(z, "model.pt", MAX_MEMBER_BYTES)
    try:
        state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as exc:  # the weights-only unpickler refuses anything but tensors and containers
        raise InputError(f"model.pt was refused: it is not a plain tensor state dict ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise InputError("model.pt must hold a dict of parameter name to tensor")
    for k, v in state.items():  # plain dense floating-point tensors only, before any arithmetic on them
        if v.layout != torch.strided or v.is_quantized or v.is_nested:
            raise InputError(f"model.pt: {_shown(k)} is stored as a {str(v.layout).removeprefix('torch.')} tensor; "
                             "expected plain (dense) floating-point weights")
        if not v.dtype.is_floating_point:
            raise InputError(f"model.pt: {_shown(k)} holds {str(v.dtype).removeprefix('torch.')} values; expected "
                             "floating-point weights")
    _check_shapes(state, n_in, hidden, n_out, activation, features)  # the tensors match the config first
    model = models.build_mlp(n_in, hidden, n_out, activation, models.InitSpec(), seed=0, features=features)
    expected = model.state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise InputError(f"model.pt does not match config.json (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise InputError(f"model.pt: {k} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}")
        if not bool(torch.isfinite(v).all()):
            raise InputError(f"model.pt: {k} contains NaN or infinite values")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    model.eval()
    return LoadedCheckpoint(model, config)


def load_resume(data: bytes) -> tuple[LoadedCheckpoint, dict[str, Any], bytes, dict[str, Any]]:
    """A resume point: (the checkpoint at that epoch, its ``resume`` section, the ``resume.json`` text, the
    ``resume.pt`` dict), with every check of :func:`load`; InputError saying what is wrong otherwise."""
    loaded = load(data)
    section = loaded.config.get("resume")
    if not isinstance(section, dict):
        raise InputError("this checkpoint is not a resume point (config.json has no 'resume' section)")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        state = _member(z, RESUME_STATE, MAX_RESUME_STATE_BYTES)
        raw = _member(z, RESUME_TENSORS, MAX_RESUME_TENSOR_BYTES)
    try:
        tensors = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as exc:  # the weights-only unpickler refuses anything but tensors and containers
        raise InputError(f"{RESUME_TENSORS} was refused: it is not plain tensors ({type(exc).__name__})") from None
    if not isinstance(tensors, dict):
        raise InputError(f"{RESUME_TENSORS} must hold a dict")
    return loaded, section, state, tensors


def resume_section(file: Any) -> dict[str, Any]:
    """Only the ``resume`` section of a resume point's config.json, from a path or bytes (cheap: the zip's
    directory and config.json are all that is read)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(file) if isinstance(file, (bytes, bytearray)) else file)
    except _ZIP_ERRORS:
        raise InputError("this is not an actviz checkpoint: expected a .zip with config.json and model.pt") from None
    with z:
        config = _json(_member(z, "config.json", MAX_CONFIG_BYTES))
        names = set(z.namelist())
    section = config.get("resume") if isinstance(config, dict) and config.get("format") == FORMAT else None
    if not isinstance(section, dict) or not {"model.pt", RESUME_STATE, RESUME_TENSORS} <= names:
        raise InputError("this file is not a complete resume point")
    return section


def _check_shapes(state: dict[str, torch.Tensor], n_in: int, hidden: tuple[int, ...], n_out: int,
                  activation: perlayer.Choice, features: tuple[str, ...] = ()) -> None:
    """InputError unless ``state`` holds exactly the tensors of the network config.json describes."""
    choices = perlayer.layer_choices(activation, len(hidden))
    ins = (features_mod.n_inputs(features, n_in), *hidden)
    outs = (*((2 if c.is_gated else 1) * h for c, h in zip(choices, hidden, strict=True)), n_out)
    expected: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(zip(ins, outs, strict=True)):
        expected[f"linears.{i}.weight"] = (b, a)
        expected[f"linears.{i}.bias"] = (b,)
    for i, c in enumerate(choices):
        for name in c.learnable:
            expected[f"acts.{i}.{name}"] = ()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise InputError(f"model.pt does not match config.json (missing {missing[:3]}, unexpected "
                         f"{[_shown(k) for k in extra[:3]]})")
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise InputError(f"model.pt: {k} has shape {tuple(state[k].shape)}, expected {shape}")


def _shown(name: str) -> str:
    """A parameter name from the file, short and printable, for a message."""
    return re.sub(r"[^\x20-\x7e]", "?", name[:40])


def evaluate(loaded: LoadedCheckpoint, data_dir: str | None = None) -> dict[str, Any]:
    """Test loss and accuracy (R² and RMSE for regression) of a loaded checkpoint on the dataset it records
    (rebuilt and validated here).

    ``data_dir`` is where MNIST/FashionMNIST files are (the server's own directory; never a visitor's).
    """
    spec = loaded.dataset_spec()
    if data_dir is not None and spec.name in datasets.IDX_DATASETS:
        spec = dataclasses.replace(spec, data_dir=data_dir)
    ds = datasets.load(spec)
    model = loaded.model
    if ds.n_features != model.n_in or models.output_size(ds.n_classes) != model.n_out:
        raise InputError(f"the network expects {model.n_in} inputs and {model.n_out} outputs, but {spec.name} has "
                         f"{ds.n_features} features and {ds.n_classes} classes")
    scores = metrics.split_scores(model, ds.x_test, ds.y_test, ds.n_classes, ds.y_scale)
    if ds.task == "regression":
        return {"test_loss": scores["loss"], "test_acc": None, "test_r2": scores["r2"], "test_rmse": scores["rmse"]}
    return {"test_loss": scores["loss"], "test_acc": scores["acc"], "confusion": scores["confusion"]}
