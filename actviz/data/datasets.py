"""Datasets shared by the gradient-flow page and the training lab: the one place that loads them.

What each dataset is lives in its own module (:mod:`.synthetic`, :mod:`.idx`, :mod:`.tables`); this
module picks the builder for a :class:`DatasetSpec`, caches the result (bounded; concurrent requests
for one spec build it once) and says which datasets are ready.  Cached tensors are shared, so callers
must not modify them in place.
"""

from __future__ import annotations

from typing import Any

from actviz import budget
from actviz.cache import memo
from actviz.data import idx, synthetic, tables
from actviz.data.download import MD5, MIRRORS, download
from actviz.data.idx import DATA_DIR_ENV, DEFAULT_DATA_DIR, FASHION_CLASSES, IDX_FILES, NORMALISATION, read_idx
from actviz.data.spec import (
    DIGIT_CLASSES,
    IDX_DATASETS,
    N_SAMPLES_RANGE,
    NAMES,
    NOISE_RANGE,
    REGRESSION,
    SYNTHETIC,
    TASKS,
    TITLES,
    Dataset,
    DatasetSpec,
    stratified_split,
)
from actviz.data.synthetic import make_synthetic
from actviz.data.tables import CsvTable, load_csv, register_csv
from actviz.errors import InputError

__all__ = ["DATA_DIR_ENV", "DEFAULT_DATA_DIR", "DIGIT_CLASSES", "FASHION_CLASSES", "IDX_DATASETS", "IDX_FILES",
           "MD5", "MIRRORS", "NAMES", "NOISE_RANGE", "NORMALISATION", "N_SAMPLES_RANGE", "REGRESSION", "SYNTHETIC",
           "TASKS", "TITLES", "CsvTable", "Dataset", "DatasetSpec", "available", "clear_cache", "download", "load",
           "load_csv", "make_synthetic", "read_idx", "register_csv", "shape", "status", "stratified_split"]

CACHE_SIZE = 8          # Datasets kept by load()


def load(spec: DatasetSpec) -> Dataset:
    """The dataset for ``spec``, from the cache when an identical spec was loaded before."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"load() expects a DatasetSpec, got {type(spec).__name__}")
    version: tuple[Any, ...] = ()
    if spec.name in IDX_DATASETS:  # the files found (and their versions) are part of the identity
        version = idx.fingerprint(idx.locate(spec.name, spec.data_dir))
    return _build(spec.key(), version, spec)


@memo(maxsize=CACHE_SIZE, key=lambda key, version, spec: (key, version))
def _build(key: str, version: tuple[Any, ...], spec: DatasetSpec) -> Dataset:
    if spec.name in SYNTHETIC:
        return synthetic.build_synthetic(spec)
    if spec.name == "digits":
        return synthetic.build_digits(spec)
    if spec.name in IDX_DATASETS:
        return idx.build_idx(spec)
    return tables.build_csv(spec)


def shape(spec: DatasetSpec) -> budget.DataShape:
    """The sizes of ``spec``'s dataset, known without loading it (for budgets before work)."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"shape() expects a DatasetSpec, got {type(spec).__name__}")
    csv_shape = tables.registered_shape(spec) if spec.name == "csv" else None
    if spec.name == "csv" and csv_shape is None:
        raise InputError("the uploaded CSV file is no longer in memory (only the last few uploads are kept); "
                         "upload it again")
    return budget.data_shape(spec, csv_shape)


def clear_cache() -> None:
    """Forget cached datasets and parsed IDX files (registered CSV tables are kept)."""
    _build.cache_clear()
    idx._load_idx_arrays.cache_clear()


def available(name: str, data_dir: str | None = None) -> bool:
    """Whether ``load`` can be expected to find the data (files present; not parsed)."""
    if name not in NAMES:
        raise InputError(f"unknown dataset {str(name)[:40]!r}; choose one of {', '.join(NAMES)}")
    if name in IDX_DATASETS:
        try:
            idx.locate(name, data_dir)
        except InputError:
            return False
        return True
    return name != "csv"


def status(name: str, data_dir: str | None = None) -> str:
    """One line for the UI: ``ready (...)`` or what is missing and where to put it."""
    if name not in NAMES:
        raise InputError(f"unknown dataset {str(name)[:40]!r}; choose one of {', '.join(NAMES)}")
    if name in SYNTHETIC:
        return "ready (generated on the fly)"
    if name == "digits":
        return "ready (bundled with scikit-learn, 1,797 images)"
    if name == "csv":
        return "upload a CSV file: numeric feature columns plus a label column"
    try:
        files = idx.locate(name, data_dir)
    except InputError as exc:
        return f"missing: {exc}"
    return f"ready (files in {files[IDX_FILES[0]].parent})"
