"""CSV uploads: a table of numeric feature columns plus a label column, parsed and validated.

Parsed as CSV only (never evaluated or unpickled), kept in a bounded in-memory registry keyed by the
content's SHA-256, and standardised with the training split's per-column statistics when loaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from actviz import budget, limits, validate
from actviz.cache import memo
from actviz.data.spec import TASKS, Dataset, DatasetSpec, from_arrays
from actviz.errors import InputError

MAX_CSV_COLUMNS = limits.MAX_CSV_COLUMNS
MIN_CSV_ROWS = limits.MIN_CSV_ROWS
MIN_ROWS_PER_CLASS = limits.MIN_ROWS_PER_CLASS
MAX_CLASSES = limits.MAX_CLASSES
MAX_ABS_VALUE = limits.MAX_CSV_ABS_VALUE
CSV_REGISTRY_SIZE = 8   # uploaded tables kept in memory
LABEL_COLUMN_NAMES = ("label", "target", "class", "y")




@dataclass(frozen=True, eq=False)
class CsvTable:
    """A validated CSV upload: raw (unstandardised) features and integer labels."""

    x: np.ndarray = field(repr=False)  # float64 [N, F]
    y: np.ndarray = field(repr=False)  # int64 [N], 0..K-1; float64 [N] for a regression target
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]       # () for a regression target
    label_column: str

    @property
    def task(self) -> str:
        return "classification" if self.class_names else "regression"


def _max_csv_rows() -> int:
    return int(limits.current().max_upload_rows)


def _max_csv_bytes() -> int:
    return int(limits.current().max_upload_mb * 1024 * 1024)


def _csv_bytes(source: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, str) and "\n" in source:
        return source.encode("utf-8")
    p = Path(source)
    try:
        size = p.stat().st_size
        if size > _max_csv_bytes():
            raise InputError(f"{p} is {size / 2**20:.1f} MB; files up to {_max_csv_bytes() / 2**20:g} MB are accepted")
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{p} is a directory, not a CSV file") from None
    except OSError as exc:
        raise InputError(f"{p} cannot be read ({exc.strerror or exc})") from None


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text[:20_000].splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _is_number(s: Any) -> bool:
    try:
        float(str(s))
    except ValueError:
        return False
    return True


def _looks_headerless(text: str, sep: str, df: Any) -> bool:
    """True when the first line is data: it has numbers, and each non-number cell is one of its column's values."""
    try:
        first = [c.strip() for c in next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=sep))]
    except (StopIteration, csv.Error):
        return False
    if len(first) != len(df.columns) or not any(_is_number(c) for c in first):
        return False
    for cell, col in zip(first, df.columns):
        if _is_number(cell):
            continue
        values = df[col]
        if pd.api.types.is_numeric_dtype(values) or cell not in set(values.astype(str).str.strip()):
            return False
    return True


def _read_frame(text: str, max_rows: int) -> Any:
    sep = _sniff_delimiter(text)
    kwargs: dict[str, Any] = {"sep": sep, "nrows": max_rows + 1, "skipinitialspace": True, "low_memory": False}
    try:
        df = pd.read_csv(io.StringIO(text), **kwargs)
        if _looks_headerless(text, sep, df):  # no header row: number the columns
            df = pd.read_csv(io.StringIO(text), header=None, **kwargs)
            df.columns = [f"column {i + 1}" for i in range(len(df.columns))]
    except pd.errors.EmptyDataError:
        raise InputError("the CSV file is empty; it needs a header row and at least "
                         f"{MIN_CSV_ROWS} data rows") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise InputError(f"the file is not valid CSV: line {m.group(2)} has {m.group(3)} fields but earlier "
                             f"lines have {m.group(1)}; every row needs the same number of columns") from None
        raise InputError(f"the file is not valid CSV ({msg[:200]}); export the table as comma-separated "
                         "text with a header row") from None
    if not _looks_headerless(text, sep, df):
        _check_header(text, sep)
    return df


def _check_header(text: str, sep: str) -> None:
    """Refuse a header naming one column twice (pandas would rename ``a,a`` to ``a, a.1`` and keep ``a ,a``
    as two names that are equal once blanks are removed)."""
    try:
        header = next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=sep, skipinitialspace=True))
    except (StopIteration, csv.Error):
        return
    seen: dict[str, int] = {}
    for i, cell in enumerate(header, start=1):
        name = cell.strip()
        if not name:
            continue
        if name in seen:
            raise InputError(f"the header names column {name[:40]!r} twice (columns {seen[name]} and {i}); give "
                             "every column its own name")
        seen[name] = i


def _check_budget(content: bytes, text: str, max_rows: int) -> None:
    """Refuse a table whose parse would exceed the memory budget, counted before pandas reads it."""
    sep = _sniff_delimiter(text)
    columns = text[:text.find("\n") if "\n" in text else len(text)].count(sep) + 1
    rows = min(text.count("\n") + 1, max_rows + 1)
    budget.check(budget.csv_load(len(content), rows, min(columns, MAX_CSV_COLUMNS + 1)))


def load_csv(source: bytes | str | os.PathLike[str], label_column: str | None = None,
             task: str = "classification") -> CsvTable:
    """Parse and validate a CSV table: numeric feature columns plus a label column (class names or
    whole numbers; for ``task="regression"`` a numeric target).

    ``source`` is the file's bytes, a path, or CSV text (a str containing a newline).  The label
    column defaults to one named label/target/class/y (any case), else the last column.  Anything
    malformed is an InputError saying what is wrong and what to do.  Never evaluates or unpickles.
    """
    content = _csv_bytes(source)
    max_bytes = _max_csv_bytes()
    if len(content) > max_bytes:
        raise InputError(f"the file is {len(content) / 2**20:.1f} MB; files up to {max_bytes / 2**20:g} MB "
                         "are accepted")
    if not content.strip():
        raise InputError(f"the CSV file is empty; it needs a header row and at least {MIN_CSV_ROWS} data rows")
    if b"\x00" in content[:65536]:
        raise InputError("the file does not look like CSV (it contains binary data); export the table as "
                         "comma-separated text")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not UTF-8 text (undecodable byte at position {exc.start}); save it as "
                         "CSV UTF-8") from None
    if text.lstrip()[:1] in ("{", "[", "<"):
        raise InputError("the file looks like JSON, HTML or XML, not CSV; export the table as comma-separated "
                         "text with a header row")
    max_rows = _max_csv_rows()
    _check_budget(content, text, max_rows)
    df = _read_frame(text, max_rows)
    columns = [str(c).strip() for c in df.columns]
    df.columns = columns
    n_rows, n_cols = df.shape
    if n_cols > MAX_CSV_COLUMNS:
        raise InputError(f"the file has {n_cols:,} columns; at most {MAX_CSV_COLUMNS:,} are accepted")
    if n_rows > max_rows:
        raise InputError(f"the file has more than {max_rows:,} data rows; upload a sample of at most "
                         f"{max_rows:,} rows")
    if n_rows < MIN_CSV_ROWS:
        raise InputError(f"the file has {n_rows} data row{'s' if n_rows != 1 else ''}; at least {MIN_CSV_ROWS} "
                         "are needed (plus a header row)")
    if n_cols < 2:
        raise InputError(f"the file has only one column ({columns[0][:40]!r}); it needs numeric feature "
                         "columns plus a label column, separated by commas")

    label = _resolve_label(columns, label_column)
    if task == "regression":
        y = _numeric_column(df[label], label, pd, what="the target column")
        if float(np.ptp(y)) == 0.0:
            raise InputError(f"the target column {label!r} holds one value only; regression needs a varying target")
        class_names: tuple[str, ...] = ()
    else:
        y, class_names = _encode_labels(df[label], label)
    features = [c for c in columns if c != label]
    x = np.empty((n_rows, len(features)), dtype=np.float64)
    for j, col in enumerate(features):
        x[:, j] = _numeric_column(df[col], col, pd)
    if task == "regression":
        return CsvTable(x=x, y=y, feature_names=tuple(features), class_names=(), label_column=label)
    counts = np.bincount(y, minlength=len(class_names))
    small = np.flatnonzero(counts < MIN_ROWS_PER_CLASS)
    if small.size:
        c = class_names[int(small[0])]
        raise InputError(f"class {c!r} of the label column {label!r} has only {int(counts[small[0]])} row; every "
                         f"class needs at least {MIN_ROWS_PER_CLASS} rows")
    return CsvTable(x=x, y=y, feature_names=tuple(features), class_names=class_names, label_column=label)


def _resolve_label(columns: list[str], label_column: str | None) -> str:
    shown = ", ".join(repr(c[:30]) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
    if label_column is not None and label_column.strip():
        wanted = label_column.strip()
        if wanted in columns:
            return wanted
        folded = [c for c in columns if c.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(f"there is no column named {wanted[:40]!r}; the columns are {shown}")
    for c in columns:
        if c.lower() in LABEL_COLUMN_NAMES:
            return c
    return columns[-1]


def _encode_labels(series: Any, label: str) -> tuple[np.ndarray, tuple[str, ...]]:
    missing = series.isna().to_numpy()
    if missing.any():
        raise InputError(f"the label column {label!r} is empty in data row {int(np.flatnonzero(missing)[0]) + 1}; "
                         "every row needs a label")
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(np.int64)
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"the label column {label!r} holds infinite values; labels must be class names or "
                             "whole numbers")
        frac = np.flatnonzero(values != np.round(values))
        if frac.size:
            raise InputError(f"the label column {label!r} holds non-integer numbers such as {values[frac[0]]:g} "
                             f"(data row {int(frac[0]) + 1}); labels must be class names or whole numbers, or choose "
                             "another label column")
        uniq, y = np.unique(values.astype(np.int64), return_inverse=True)
        names = tuple(str(int(u)) for u in uniq)
    else:
        strings = series.astype(str).str.strip().to_numpy()
        uniq, y = np.unique(strings, return_inverse=True)
        names = tuple(str(u) for u in uniq)
    if len(names) < 2:
        raise InputError(f"the label column {label!r} has only one class ({names[0][:40]!r}); a classifier needs "
                         "at least two")
    if len(names) > MAX_CLASSES:
        raise InputError(f"the label column {label!r} has {len(names):,} different values; at most {MAX_CLASSES} "
                         "classes are supported (is it really the label column?)")
    return np.asarray(y, dtype=np.int64).reshape(-1), names


def _numeric_column(series: Any, col: str, pd: Any, what: str = "") -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(np.float64)
    if not pd.api.types.is_numeric_dtype(series):
        coerced = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(coerced.isna().to_numpy() & series.notna().to_numpy())
        if bad.size:
            value = str(series.iloc[bad[0]])[:40]
            hint = ("a regression target must be numeric (or train a classifier on it)" if what
                    else "feature columns must hold numbers (remove the column or make it the label column)")
            raise InputError(f"column {col[:40]!r} has a non-numeric value {value!r} in data row {int(bad[0]) + 1}; "
                             + hint)
        series = coerced
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    nan = np.flatnonzero(np.isnan(values))
    if nan.size:
        raise InputError(f"column {col[:40]!r} has a missing value (empty or NaN) in data row {int(nan[0]) + 1}; "
                         "fill in or drop incomplete rows")
    inf = np.flatnonzero(np.isinf(values))
    if inf.size:
        raise InputError(f"column {col[:40]!r} has an infinite value in data row {int(inf[0]) + 1}; replace it "
                         "with a finite number")
    huge = np.flatnonzero(np.abs(values) > MAX_ABS_VALUE)
    if huge.size:
        raise InputError(f"column {col[:40]!r} has the value {values[huge[0]]:.3g} in data row {int(huge[0]) + 1}; "
                         f"values up to {MAX_ABS_VALUE:g} in size are accepted: rescale the column")
    return values


def register_csv(content: bytes, label_column: str | None = None, seed: int = 0,
                 task: str = "classification") -> DatasetSpec:
    """Validate an uploaded CSV and keep the parsed table; the returned spec loads it.

    The table is kept in a bounded in-memory registry keyed by the content's SHA-256 (and label
    column); the spec's ``label_column`` is the resolved column name.
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError("register_csv() expects the file's bytes")
    content = bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    wanted = label_column.strip() if label_column and label_column.strip() else None
    task = validate.option(task, "task", TASKS)
    table = _parsed(digest, wanted, task, content)
    if wanted != table.label_column:  # the spec names the resolved column: keep the table under it too
        _parsed(digest, table.label_column, task, content)
    return DatasetSpec(name="csv", seed=seed, csv_key=digest, label_column=table.label_column, task=task)


@memo(maxsize=CSV_REGISTRY_SIZE, key=lambda digest, label, task, content=None: (digest, label, task))
def _parsed(digest: str, label: str | None, task: str, content: bytes | CsvTable | None = None) -> CsvTable:
    """The registry of uploaded tables by (SHA-256, label column, task).  Called without the bytes it
    only looks up, and raises LookupError for a table that is not (or no longer) registered."""
    if content is None:
        raise LookupError(digest)
    if isinstance(content, CsvTable):  # parsed elsewhere (the server, for a worker process)
        return content
    return load_csv(content, label, task)


def _registered(digest: str | None, label: str | None, task: str = "classification") -> CsvTable | None:
    try:
        return _parsed(digest, label, task)
    except LookupError:
        return None


def registered_shape(spec: DatasetSpec) -> tuple[int, int, int] | None:
    """(rows, features, classes) of the uploaded table ``spec`` names, if it is still registered."""
    table = _registered(spec.csv_key, spec.label_column, spec.task)
    return None if table is None else (int(table.x.shape[0]), int(table.x.shape[1]), len(table.class_names))


def registered_table(spec: DatasetSpec) -> CsvTable | None:
    """The parsed table ``spec`` names (to hand to a worker process), if it is still registered."""
    return _registered(spec.csv_key, spec.label_column, spec.task)


def register_table(spec: DatasetSpec, table: CsvTable) -> None:
    """Register an already parsed table under ``spec``'s key (a worker process receiving it from the server)."""
    _parsed(spec.csv_key, spec.label_column, spec.task, table)


def build_csv(spec: DatasetSpec) -> Dataset:
    table = _registered(spec.csv_key, spec.label_column, spec.task)
    if table is None:
        raise InputError("the uploaded CSV file is no longer in memory (only the last few uploads are kept); "
                         "upload it again")
    n, f = table.x.shape
    if table.task == "regression":
        text = (f"Your CSV: {n:,} rows, {f:,} numeric feature{'s' if f != 1 else ''}, numeric target "
                f"{table.label_column!r} (standardised)")
        return from_arrays(spec, table.x, table.y, class_names=(), description=text, standardise="column",
                           feature_names=table.feature_names, standardise_target=True)
    text = (f"Your CSV: {n:,} rows, {f:,} numeric feature{'s' if f != 1 else ''}, "
            f"{len(table.class_names)} classes (label column {table.label_column!r})")
    return from_arrays(spec, table.x, table.y, class_names=table.class_names, description=text,
                        standardise="column", feature_names=table.feature_names)
