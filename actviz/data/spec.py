"""What a dataset is: :class:`DatasetSpec` (what to load, validated) and :class:`Dataset` (the tensors),
plus the seeded stratified splits every dataset but MNIST/FashionMNIST uses.

Synthetic, digits and CSV data get a seeded stratified 70/15/15 split; MNIST and FashionMNIST keep
their official train/test split (see :mod:`.idx`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from actviz import limits, validate
from actviz.errors import InputError

REGRESSION: tuple[str, ...] = ("reg_plane", "reg_gaussians")  # TF Playground's two regression sets
SYNTHETIC: tuple[str, ...] = ("moons", "circles", "xor", "spiral", "gaussian", *REGRESSION)
IDX_DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")
NAMES: tuple[str, ...] = (*SYNTHETIC, "digits", *IDX_DATASETS, "csv")
TASKS: tuple[str, ...] = ("classification", "regression")

TITLES = {"moons": "Moons", "circles": "Circles", "xor": "XOR", "spiral": "Spiral", "gaussian": "Two Gaussian blobs",
          "reg_plane": "Plane (regression)", "reg_gaussians": "Multi-Gaussian (regression)",
          "digits": "Digits 8x8", "mnist": "MNIST", "fashion_mnist": "FashionMNIST", "csv": "CSV upload"}

N_SAMPLES_RANGE = limits.N_SAMPLES_RANGE
NOISE_RANGE = limits.NOISE_RANGE
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
DIGIT_CLASSES = tuple(str(i) for i in range(10))


# --- specs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetSpec:
    """What to load.  Fields that do not apply to ``name`` are ignored (and left out of :meth:`key`)."""

    name: str                       # one of NAMES
    n_samples: int = 1000           # synthetic only
    noise: float = 0.2              # synthetic only
    seed: int = 0                   # data generation and split
    data_dir: str | None = None     # mnist / fashion_mnist
    max_train: int | None = None    # optional stratified subsample of the training split
    csv_key: str | None = None      # sha256 of the uploaded bytes (see register_csv)
    label_column: str | None = None  # csv
    task: str = "classification"    # csv: "regression" for a numeric target; reg_* sets are always regression

    def __post_init__(self) -> None:
        validate_spec(self)

    def key(self) -> str:
        """Canonical string for caching and job de-duplication: equal keys give identical data."""
        parts = [self.name]
        if self.name in SYNTHETIC:
            parts += [f"n={self.n_samples}", f"noise={self.noise!r}", f"seed={self.seed}"]
        elif self.name in IDX_DATASETS:
            parts.append(f"data_dir={json.dumps(self.data_dir)}")
            if self.max_train is not None:  # the split is fixed; the seed only picks the subsample
                parts.append(f"seed={self.seed}")
        elif self.name == "csv":
            parts += [f"sha256={self.csv_key}", f"label={json.dumps(self.label_column)}", f"seed={self.seed}"]
            if self.task != "classification":
                parts.append(f"task={self.task}")
        else:
            parts.append(f"seed={self.seed}")
        if self.max_train is not None:
            parts.append(f"max_train={self.max_train}")
        return "|".join(parts)


def validate_spec(spec: DatasetSpec) -> None:
    """Check and canonicalise a spec in place (called by ``DatasetSpec()``); InputError names the problem."""
    put = lambda k, v: object.__setattr__(spec, k, v)
    name = spec.name.strip().lower() if isinstance(spec.name, str) else spec.name
    if name not in NAMES:
        raise InputError(f"unknown dataset {str(name)[:40]!r}; choose one of {', '.join(NAMES)}")
    put("name", name)
    task = validate.option(spec.task, "task", TASKS)
    if name in REGRESSION:
        task = "regression"
    elif name != "csv" and task != "classification":
        raise InputError(f"{TITLES[name]} is a classification dataset; regression needs reg_plane, reg_gaussians "
                         "or a CSV file with a numeric target")
    put("task", task)
    put("seed", validate.whole(spec.seed, "the data seed", 0, limits.MAX_SEED))
    if name in SYNTHETIC:
        put("n_samples", validate.whole(spec.n_samples, "the number of samples", *N_SAMPLES_RANGE))
        put("noise", validate.number(spec.noise, "noise", *NOISE_RANGE))
    if spec.max_train is not None:
        put("max_train", validate.whole(spec.max_train, "the training subset size", limits.MIN_MAX_TRAIN))
    data_dir = spec.data_dir
    if data_dir is not None:
        data_dir = os.fspath(data_dir).strip() or None
    put("data_dir", data_dir)
    if name == "csv":
        if not spec.csv_key:
            raise InputError("upload a CSV file first (numeric feature columns plus a label column)")
        if not isinstance(spec.csv_key, str) or not _SHA256.match(spec.csv_key):
            raise InputError("the CSV upload's key must be the SHA-256 of the file (64 hex digits)")
        if spec.label_column is not None and not isinstance(spec.label_column, str):
            raise InputError("the label column must be a column name")
        label = spec.label_column.strip() if isinstance(spec.label_column, str) else spec.label_column
        put("label_column", label or None)


# --- the dataset ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """Tensors ready for training.  Shared between callers through the cache: do not modify in place."""

    spec: DatasetSpec
    x_train: torch.Tensor = field(repr=False)  # float32 [N, F]
    y_train: torch.Tensor = field(repr=False)  # int64 [N] class labels, or float32 [N] regression targets
    x_val: torch.Tensor = field(repr=False)
    y_val: torch.Tensor = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    n_features: int
    n_classes: int                  # 0 for regression
    class_names: tuple[str, ...]
    description: str
    feature_names: tuple[str, ...] = ()
    y_scale: float = 1.0            # regression: the target's std when it was standardised (RMSE in its units)

    @property
    def is_2d(self) -> bool:
        return self.n_features == 2

    @property
    def task(self) -> str:
        return "regression" if self.n_classes == 0 else "classification"

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(train, validation, test) sample counts."""
        return len(self.y_train), len(self.y_val), len(self.y_test)


# --- splits --------------------------------------------------------------------------------------

def _allocate(counts: np.ndarray, k: int, cap: np.ndarray) -> np.ndarray:
    """Split ``k`` items over classes in proportion to ``counts`` (largest remainder), at most ``cap`` each."""
    quotas = counts * (k / counts.sum())
    out = np.minimum(np.floor(quotas).astype(np.int64), cap)
    order = np.argsort(-(quotas - np.floor(quotas)), kind="stable")
    left = k - int(out.sum())
    while left > 0 and (out < cap).any():
        for i in order:
            if left > 0 and out[i] < cap[i]:
                out[i] += 1
                left -= 1
    return out


def stratified_split(y: np.ndarray, seed: int, val_fraction: float = VAL_FRACTION,
                     test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified (train, val, test) index arrays; every class keeps at least one training sample."""
    rng = np.random.default_rng([seed, 0x5EED])
    classes, counts = np.unique(y, return_counts=True)
    n = len(y)
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round(n * val_fraction))
    test_c = _allocate(counts, n_test, counts - 1)
    val_c = _allocate(counts, n_val, counts - 1 - test_c)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c, nt, nv in zip(classes, test_c, val_c):
        idx = rng.permutation(np.flatnonzero(y == c))
        parts[2].append(idx[:nt])
        parts[1].append(idx[nt:nt + nv])
        parts[0].append(idx[nt + nv:])
    train, val, test = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, val, test


def subsample(y: np.ndarray, m: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded stratified subset of size ``m`` (None when ``m`` covers everything)."""
    if m >= len(y):
        return None
    rng = np.random.default_rng([seed, 0x5AB])
    classes, counts = np.unique(y, return_counts=True)
    take = _allocate(counts, m, counts)
    picked = [rng.choice(np.flatnonzero(y == c), size=int(t), replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def random_split(n: int, seed: int, val_fraction: float = VAL_FRACTION,
                 test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (train, val, test) index arrays for regression targets (no classes to stratify on)."""
    rng = np.random.default_rng([seed, 0x5EED])
    idx = rng.permutation(n)
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round(n * val_fraction))
    return idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test]


def from_arrays(spec: DatasetSpec, x: np.ndarray, y: np.ndarray, *, class_names: tuple[str, ...],
                 description: str, standardise: str | None, feature_names: tuple[str, ...] = (),
                 standardise_target: bool = False) -> Dataset:
    """Split ``x, y`` (stratified, seeded), optionally standardise with train statistics, make tensors.

    ``standardise`` is None (keep values), "global" (one mean/std for all features, for images) or
    "column" (per feature; constant columns become 0).  ``class_names == ()`` makes a regression set:
    ``y`` is a float target, split at random; ``standardise_target`` standardises it with the training
    split's mean and std (kept as ``y_scale`` so RMSE is reported in the target's units).
    """
    regression = not class_names
    tr, va, te = random_split(len(y), spec.seed) if regression else stratified_split(y, spec.seed)
    sub = None
    if spec.max_train is not None and not regression:
        sub = subsample(y[tr], spec.max_train, spec.seed)
    elif spec.max_train is not None and spec.max_train < len(tr):
        sub = np.sort(np.random.default_rng([spec.seed, 0x5AB]).permutation(len(tr))[:spec.max_train])
    if sub is not None:
        tr = tr[sub]
    x = np.asarray(x, dtype=np.float64)
    if standardise == "global":
        mean, std = x[tr].mean(), x[tr].std()
        x = (x - mean) / (std if std > 0 else 1.0)
    elif standardise == "column":
        mean, std = x[tr].mean(axis=0), x[tr].std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            bad = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))[0])
            name = feature_names[bad] if feature_names else f"feature {bad + 1}"
            raise InputError(f"column {name!r} has values too large to standardise; rescale it")
        x = (x - mean) / np.where(std > 0, std, 1.0)
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    if not np.isfinite(x32).all():  # a value far outside the training split's spread (only in val/test)
        bad = int(np.flatnonzero(~np.isfinite(x32).all(axis=0))[0])
        name = feature_names[bad] if feature_names else f"feature {bad + 1}"
        raise InputError(f"column {name!r} has a value too far from the others to standardise; rescale it")
    xt = torch.from_numpy(x32)
    y_scale = 1.0
    if regression:
        yf = np.asarray(y, dtype=np.float64)
        if standardise_target:
            mean, std = yf[tr].mean(), yf[tr].std()
            if not (np.isfinite(mean) and np.isfinite(std)):
                raise InputError("the target column has values too large to standardise; rescale it")
            y_scale = float(std) if std > 0 else 1.0
            yf = (yf - mean) / y_scale
        with np.errstate(over="ignore"):
            y32 = yf.astype(np.float32)
        if not np.isfinite(y32).all():
            raise InputError("the target column has a value too large for 32-bit floats; rescale it")
        yt = torch.from_numpy(y32)
    else:
        yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    sel = lambda idx: (xt[torch.from_numpy(idx)], yt[torch.from_numpy(idx)])
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = sel(tr), sel(va), sel(te)
    return Dataset(spec=spec, x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te,
                   n_features=int(x.shape[1]), n_classes=len(class_names), class_names=class_names,
                   description=description + split_note(len(tr), len(va), len(te), sub is not None),
                   feature_names=feature_names, y_scale=y_scale)


def split_note(n_tr: int, n_va: int, n_te: int, subsampled: bool) -> str:
    sub = " (subsample)" if subsampled else ""
    return f"; split {n_tr:,}{sub} / {n_va:,} / {n_te:,} (train / validation / test)"
