"""Checkpoints: a trained model as a zip of ``model.pt`` (state dict) and ``config.json`` (seed 002).

Loading never unpickles arbitrary objects: the state dict is read with ``torch.load(...,
weights_only=True)`` and the JSON config is checked field by field (activation through the registry
or the allow-listed expression parser, sizes within the limits) before a model is built, and the
tensors must match that model's parameter names and shapes exactly.  Zip members are size-checked
before reading (no zip bombs) and only the two known names are read.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any

import torch

from actviz import choice as choice_mod
from actviz import models
from actviz.errors import InputError

FORMAT = "actviz-checkpoint"
VERSION = 1
MAX_MEMBER_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 256 * 1024


@dataclass
class LoadedCheckpoint:
    model: models.MLP
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return self.model.acts[0].choice.label if len(self.model.acts) else "linear model"


def save(model: models.MLP, extra: dict[str, Any] | None = None) -> bytes:
    """The zip bytes of ``model`` with its architecture and ``extra`` metadata (JSON-able)."""
    config = {"format": FORMAT, "version": VERSION, "model": model.config(), **(extra or {})}
    weights = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, weights)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config, indent=2, allow_nan=False))
        z.writestr("model.pt", weights.getvalue())
    return out.getvalue()


def _member(z: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise InputError(f"the checkpoint has no {name}; is it an actviz checkpoint (.zip)?") from None
    if info.file_size > limit:
        raise InputError(f"{name} in the checkpoint is too large ({info.file_size} bytes)")
    with z.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{name} in the checkpoint is larger than it claims")
    return data


def _int_list(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InputError(f"config.json: {what} must be a list of whole numbers")
    return tuple(value)


def validate_model_config(cfg: Any) -> tuple[int, tuple[int, ...], int, choice_mod.ActivationChoice]:
    if not isinstance(cfg, dict):
        raise InputError("config.json: 'model' must be an object")
    n_in, n_out = cfg.get("n_in"), cfg.get("n_out")
    for name, v in (("n_in", n_in), ("n_out", n_out)):
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 100_000:
            raise InputError(f"config.json: model.{name} must be a whole number from 1 to 100000")
    hidden = _int_list(cfg.get("hidden"), "model.hidden")
    models.check_hidden(hidden)
    activation = choice_mod.from_dict(cfg.get("activation"))
    return n_in, hidden, n_out, activation


def load(data: bytes) -> LoadedCheckpoint:
    """A model from checkpoint bytes, or InputError saying what is wrong with the file."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise InputError("the checkpoint file is empty")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError("this is not an actviz checkpoint: expected a .zip with config.json and model.pt") from None
    with z:
        try:
            config = json.loads(_member(z, "config.json", MAX_CONFIG_BYTES).decode("utf-8"),
                                parse_constant=lambda c: math.nan)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InputError("config.json in the checkpoint is not valid JSON") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise InputError("config.json is not an actviz checkpoint config")
        if config.get("version") != VERSION:
            raise InputError(f"unsupported checkpoint version {config.get('version')!r} (expected {VERSION})")
        n_in, hidden, n_out, activation = validate_model_config(config.get("model"))
        raw = _member(z, "model.pt", MAX_MEMBER_BYTES)
    try:
        state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as exc:  # the weights-only unpickler refuses anything but tensors and containers
        raise InputError(f"model.pt was refused: it is not a plain tensor state dict ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise InputError("model.pt must hold a dict of parameter name to tensor")
    model = models.build_mlp(n_in, hidden, n_out, activation, models.InitSpec(), seed=0)
    expected = model.state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise InputError(f"model.pt does not match config.json (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in state.items():
        if v.shape != expected[k].shape or not v.dtype.is_floating_point:
            raise InputError(f"model.pt: {k} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}")
        if not bool(torch.isfinite(v).all()):
            raise InputError(f"model.pt: {k} contains NaN or infinite values")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    model.eval()
    return LoadedCheckpoint(model, config)
