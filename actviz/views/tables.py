"""Tables as people read them: every value formatted for display, "—" where there is none.

Pages show small tables with ``st.table`` (HTML: full labels, wrapped, never cut mid-word) from
:func:`readable`, which turns numbers into strings with a printf-style format per column and missing
values (None, NaN, pandas' NA) into an em dash, never "None" or "nan".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

MISSING = "—"

Format = str | Callable[[Any], str]


def missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def cell(value: Any, fmt: Format | None = None) -> str:
    """One value as text: ``fmt`` (printf style such as ``"%.2f"``, or a function) for numbers, "—" if missing."""
    if missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if callable(fmt):
        return fmt(value)
    if fmt is not None and isinstance(value, (int, float)):
        return fmt % value
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def readable(frame: pd.DataFrame, formats: Mapping[str, Format] | None = None) -> pd.DataFrame:
    """``frame`` with every cell a display string (see :func:`cell`); column names and order unchanged."""
    formats = formats or {}
    return pd.DataFrame({col: [cell(v, formats.get(col)) for v in frame[col].tolist()] for col in frame.columns},
                        index=range(len(frame)), columns=list(frame.columns))
