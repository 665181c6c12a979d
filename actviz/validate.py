"""The one set of parsers for untrusted values (links, CLI flags, form fields, checkpoint configs).

Every value a person or a file hands the core passes through one of these: it comes back as the
type the core computes with, or an :class:`InputError` whose message names the value, says what was
wrong and what is allowed.  Strings are accepted where a number is expected (links and the CLI carry
text) but only short ones: a megabyte of digits is not a number anyone typed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from actviz.errors import InputError

MAX_NUMBER_TEXT = 64


def _text(raw: str, what: str, kind: str) -> str:
    if len(raw) > MAX_NUMBER_TEXT:
        raise InputError(f"{what} must be {kind}")
    return raw.strip()


def number(raw: Any, what: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A finite float in [lo, hi] from a number or a short string."""
    if isinstance(raw, bool):
        raise InputError(f"{what} must be a number, not {raw!r}")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # an int with hundreds of digits
            raise InputError(f"{what} is far too large") from None
    elif isinstance(raw, str):
        text = _text(raw, what, "a number")
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{what} must be a number, got {text[:20]!r}") from None
    else:
        raise InputError(f"{what} must be a number")
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {raw!r:.20}")
    if not lo <= value <= hi:
        raise InputError(f"{what} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def whole(raw: Any, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """A whole number in [lo, hi] from an int, an integral float or a short numeric string."""
    if isinstance(raw, bool):
        raise InputError(f"{what} must be a whole number, not {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise InputError(f"{what} must be a whole number, got {raw:g}")
        value = int(raw)
    elif isinstance(raw, str):
        text = _text(raw, what, "a whole number")
        try:
            value = int(text)
        except ValueError:
            as_float = number(text, what)
            if not as_float.is_integer():
                raise InputError(f"{what} must be a whole number, got {text[:20]!r}") from None
            value = int(as_float)
    elif hasattr(raw, "__index__"):  # numpy integers
        value = int(raw.__index__())
    else:
        raise InputError(f"{what} must be a whole number, got {str(raw)[:20]!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        low = "" if lo is None else f"{lo:,}"
        high = "" if hi is None else f"{hi:,}"
        shown = f"{value:,}" if abs(value) < 10**30 else "a number far too large"
        raise InputError(f"{what} must be a whole number from {low} to {high}, got {shown}".replace("from  to", "in"))
    return value


def option(raw: Any, what: str, options: Iterable[str]) -> str:
    """One of ``options`` (case-insensitive, surrounding blanks ignored)."""
    allowed = tuple(options)
    if isinstance(raw, str) and len(raw) <= 200:
        key = raw.strip().lower()
        for o in allowed:
            if key == o.lower():
                return o
    shown = str(raw)[:30]
    raise InputError(f"unknown {what} {shown!r}; choose one of {', '.join(allowed)}")


def flag(raw: Any, what: str) -> bool:
    """A yes/no value: booleans, 0/1, true/false, yes/no, on/off."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, (str, int)) and len(str(raw)) <= 10 else ""
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{what} should be 0 or 1, got {str(raw)[:20]!r}")


def json_safe(value: Any) -> Any:
    """NaN/inf (a diverged run's loss) become null, recursively, so the output is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
