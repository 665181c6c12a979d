"""Plain JSON for the job records kept on disk: training configs, run progress, epoch records.

The encoding is generic, so a field the engine adds tomorrow is kept without a change here:

- a dataclass becomes ``{"__class__": "module:Name", "fields": {...}}`` (its ``init`` fields);
- an enum member ``{"__enum__": "module:Name", "value": ...}``; a tuple ``{"__tuple__": [...]}``;
- lists, string-keyed dicts, strings, numbers (NaN and infinities too), booleans and None as they are.

Decoding only ever builds classes of the ``actviz`` package that are dataclasses or enums (anything else in
the data is refused), and builds them through their constructors, so every ``__post_init__`` validation
runs again; a field a newer or older version does not know is dropped, a missing one takes its default.
So a record written before an upgrade either comes back as a valid object or raises :class:`CodecError`
(the caller skips that record), never as a half-built object.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import math
from typing import Any

from actviz.errors import InputError

PACKAGE = "actviz"
MAX_DEPTH = 64


class CodecError(ValueError):
    """The stored data cannot be turned back into objects (written by another version, or damaged)."""


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able data (see the module docstring)."""
    if depth > MAX_DEPTH:
        raise CodecError("the value is nested too deeply to store")
    if isinstance(value, enum.Enum):  # before str and int: StrEnum and IntEnum members are those too
        return {"__enum__": _name(type(value)), "value": encode(value.value, depth + 1)}
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value) if f.init}
        return {"__class__": _name(type(value)), "fields": fields}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith("__") for k in value):
            raise CodecError("only dicts with plain string keys can be stored")
        return {k: encode(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "tolist"):  # a numpy or torch scalar/array that slipped into a summary
        return encode(value.tolist(), depth + 1)
    raise CodecError(f"cannot store a {type(value).__name__}")


def _class(name: Any, kind: str) -> type:
    if not isinstance(name, str) or ":" not in name:
        raise CodecError(f"malformed {kind} name {str(name)[:80]!r}")
    module, _, qualname = name.partition(":")
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        raise CodecError(f"refusing to build {name[:80]!r}: only actviz classes are stored")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise CodecError(f"{name[:80]!r} does not exist in this version") from None
    if not isinstance(obj, type):
        raise CodecError(f"{name[:80]!r} is not a class")
    if kind == "enum" and not issubclass(obj, enum.Enum):
        raise CodecError(f"{name[:80]!r} is not an enum")
    if kind == "class" and not dataclasses.is_dataclass(obj):
        raise CodecError(f"{name[:80]!r} is not a dataclass")
    return obj


def decode(data: Any, depth: int = 0) -> Any:
    """Inverse of :func:`encode`; :class:`CodecError` for anything it would not have written."""
    if depth > MAX_DEPTH:
        raise CodecError("the stored value is nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, depth + 1) for v in data]
    if not isinstance(data, dict):
        raise CodecError(f"unexpected {type(data).__name__} in stored data")
    if "__tuple__" in data:
        items = data["__tuple__"]
        if not isinstance(items, list):
            raise CodecError("malformed tuple")
        return tuple(decode(v, depth + 1) for v in items)
    if "__enum__" in data:
        cls = _class(data["__enum__"], "enum")
        try:
            return cls(decode(data.get("value"), depth + 1))
        except ValueError:
            raise CodecError(f"{data.get('value')!r} is not a {cls.__name__} in this version") from None
    if "__class__" in data:
        cls = _class(data["__class__"], "class")
        raw = data.get("fields")
        if not isinstance(raw, dict):
            raise CodecError("malformed object")
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        kwargs = {k: decode(v, depth + 1) for k, v in raw.items() if k in known}
        try:
            return cls(**kwargs)
        except Exception as exc:  # noqa: BLE001 - whatever the constructor refuses, the record is unusable
            kind = "" if isinstance(exc, InputError) else f"{type(exc).__name__}: "
            raise CodecError(f"a stored {cls.__name__} is not valid in this version: {kind}{exc}") from None
    if any(k.startswith("__") for k in data):
        raise CodecError("unknown marker in stored data")
    return {k: decode(v, depth + 1) for k, v in data.items()}


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (NaN and infinities as JSON's common extension tokens)."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=True)


def loads(text: str | bytes) -> Any:
    try:
        data = json.loads(text, parse_constant=lambda c: {"NaN": math.nan, "Infinity": math.inf,
                                                           "-Infinity": -math.inf}[c])
    except (ValueError, KeyError, RecursionError):
        raise CodecError("the stored text is not valid JSON") from None
    return decode(data)
