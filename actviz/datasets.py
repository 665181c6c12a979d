"""Datasets shared by the gradient-flow page and the training lab.

- Synthetic 2-D sets made on the fly (``moons``, ``circles``, ``xor``, ``spiral``, ``gaussian``),
  deterministic for a seed, left in their natural coordinates (so decision boundaries are drawn on
  the axes the learner sees).  ``noise`` is the standard deviation of Gaussian jitter: for moons,
  circles and xor as scikit-learn uses it; spiral jitter is ``noise / 4`` (the arms are 1/3 apart);
  the two Gaussian blobs (centres (-1, -1) and (1, 1)) have standard deviation ``0.4 + noise``.
- ``digits``: scikit-learn's bundled 8x8 digits (no download), pixels scaled to [0, 1] then
  standardised with the training split's mean and standard deviation (one scalar pair, as for MNIST).
- ``mnist`` / ``fashion_mnist``: the four standard IDX files, read by our own parser, normalised as
  the seeds do (MNIST 0.1307/0.3081, FashionMNIST 0.2861/0.3530), flattened to 784 features.  The
  official 60k/10k train/test split; the last sixth of the training file (10,000 images) is the
  validation split, so the training split is 50,000 images as in seed 002.
- ``csv``: an uploaded table (numeric features plus a label column), registered with
  :func:`register_csv` and standardised with the training split's per-column statistics.

Synthetic, digits and CSV data get a seeded stratified 70/15/15 split.  :func:`load` caches the
tensors (bounded, thread-safe); cached tensors are shared, so callers must not modify them in place.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.client
import io
import json
import math
import os
import re
import struct
import tempfile
import threading
import urllib.error
import urllib.request
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actviz.errors import InputError

SYNTHETIC: tuple[str, ...] = ("moons", "circles", "xor", "spiral", "gaussian")
IDX_DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")
NAMES: tuple[str, ...] = (*SYNTHETIC, "digits", *IDX_DATASETS, "csv")

TITLES = {"moons": "Moons", "circles": "Circles", "xor": "XOR", "spiral": "Spiral", "gaussian": "Two Gaussian blobs",
          "digits": "Digits 8x8", "mnist": "MNIST", "fashion_mnist": "FashionMNIST", "csv": "CSV upload"}

N_SAMPLES_RANGE = (20, 100_000)
NOISE_RANGE = (0.0, 2.0)
MAX_SEED = 2**32 - 1
MIN_MAX_TRAIN = 10
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
CACHE_SIZE = 8          # Datasets kept by load()
IMAGE_CACHE_SIZE = 2    # parsed and normalised IDX file sets kept (about 220 MB each for MNIST)
CSV_REGISTRY_SIZE = 8   # uploaded tables kept in memory

# --- IDX files -----------------------------------------------------------------------------------

IDX_FILES: tuple[str, ...] = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TORCHVISION_DIRS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
NORMALISATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2861, 0.3530)}
DATA_DIR_ENV = "ACTVIZ_DATA_DIR"
DEFAULT_DATA_DIR = "data"  # relative to the working directory, used when neither data_dir nor $ACTVIZ_DATA_DIR
IMAGE_SIDE = 28
_MAGIC_IMAGES = 0x00000803
_MAGIC_LABELS = 0x00000801
_MAX_IDX_VALUES = 2**28  # a header claiming more is corrupt (MNIST's largest file holds 47 million)

# torchvision's checksums of the .gz files (torchvision.datasets.MNIST / FashionMNIST ``resources``).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
# Approximate .gz sizes, used only to weight the progress fraction when a server sends no length.
_GZ_SIZES = {
    "mnist": {"train-images-idx3-ubyte.gz": 9_912_422, "train-labels-idx1-ubyte.gz": 28_881,
              "t10k-images-idx3-ubyte.gz": 1_648_877, "t10k-labels-idx1-ubyte.gz": 4_542},
    "fashion_mnist": {"train-images-idx3-ubyte.gz": 26_421_880, "train-labels-idx1-ubyte.gz": 29_515,
                      "t10k-images-idx3-ubyte.gz": 4_422_102, "t10k-labels-idx1-ubyte.gz": 5_148},
}
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
}
DOWNLOAD_TIMEOUT_S = 30.0
_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))

# --- CSV -----------------------------------------------------------------------------------------

MAX_CSV_COLUMNS = 4096
MAX_CSV_ROWS = 200_000      # default; ACTVIZ_MAX_UPLOAD_ROWS (actviz.limits) overrides it
MAX_CSV_MB = 50.0           # default; ACTVIZ_MAX_UPLOAD_MB overrides it
MIN_CSV_ROWS = 10
MIN_ROWS_PER_CLASS = 2
MAX_CLASSES = 100
LABEL_COLUMN_NAMES = ("label", "target", "class", "y")


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
        else:
            parts.append(f"seed={self.seed}")
        if self.max_train is not None:
            parts.append(f"max_train={self.max_train}")
        return "|".join(parts)


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise InputError(f"{what} must be a whole number, got {str(value)[:40]!r}") from None


def validate_spec(spec: DatasetSpec) -> None:
    """Check and canonicalise a spec in place (called by ``DatasetSpec()``); InputError names the problem."""
    put = lambda k, v: object.__setattr__(spec, k, v)
    name = spec.name.strip().lower() if isinstance(spec.name, str) else spec.name
    if name not in NAMES:
        raise InputError(f"unknown dataset {str(name)[:40]!r}; choose one of {', '.join(NAMES)}")
    put("name", name)
    seed = _as_int(spec.seed, "the data seed")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"the data seed must be between 0 and {MAX_SEED}, got {seed}")
    put("seed", seed)
    if name in SYNTHETIC:
        n = _as_int(spec.n_samples, "the number of samples")
        lo, hi = N_SAMPLES_RANGE
        if not lo <= n <= hi:
            raise InputError(f"the number of samples must be between {lo} and {hi:,}, got {n:,}")
        put("n_samples", n)
        try:
            noise = float(spec.noise)
        except (TypeError, ValueError):
            raise InputError(f"noise must be a number, got {str(spec.noise)[:40]!r}") from None
        if not NOISE_RANGE[0] <= noise <= NOISE_RANGE[1]:  # also rejects NaN
            raise InputError(f"noise must be between {NOISE_RANGE[0]:g} and {NOISE_RANGE[1]:g}, got {noise:g}")
        put("noise", noise)
    if spec.max_train is not None:
        m = _as_int(spec.max_train, "the training subset size")
        if m < MIN_MAX_TRAIN:
            raise InputError(f"the training subset size must be at least {MIN_MAX_TRAIN}, got {m}")
        put("max_train", m)
    data_dir = spec.data_dir
    if data_dir is not None:
        data_dir = os.fspath(data_dir).strip() or None
    put("data_dir", data_dir)
    if name == "csv":
        if not spec.csv_key:
            raise InputError("upload a CSV file first (numeric feature columns plus a label column)")
        label = spec.label_column.strip() if isinstance(spec.label_column, str) else spec.label_column
        put("label_column", label or None)


# --- the dataset ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """Tensors ready for training.  Shared between callers through the cache: do not modify in place."""

    spec: DatasetSpec
    x_train: torch.Tensor = field(repr=False)  # float32 [N, F]
    y_train: torch.Tensor = field(repr=False)  # int64 [N]
    x_val: torch.Tensor = field(repr=False)
    y_val: torch.Tensor = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    n_features: int
    n_classes: int
    class_names: tuple[str, ...]
    description: str
    feature_names: tuple[str, ...] = ()

    @property
    def is_2d(self) -> bool:
        return self.n_features == 2

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(train, validation, test) sample counts."""
        return len(self.y_train), len(self.y_val), len(self.y_test)


# --- cache ---------------------------------------------------------------------------------------

class _LRU:
    """A bounded, thread-safe memo: concurrent requests for one key build it once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Any, threading.Lock] = {}

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            try:
                value = build()
                self.put(key, value)
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_DATASETS = _LRU(CACHE_SIZE)
_IMAGES = _LRU(IMAGE_CACHE_SIZE)
_CSV_REGISTRY = _LRU(CSV_REGISTRY_SIZE)


def clear_cache() -> None:
    """Forget cached datasets and parsed IDX files (registered CSV tables are kept)."""
    _DATASETS.clear()
    _IMAGES.clear()


def load(spec: DatasetSpec) -> Dataset:
    """The dataset for ``spec``, from the cache when an identical spec was loaded before."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"load() expects a DatasetSpec, got {type(spec).__name__}")
    key: tuple[Any, ...] = (spec.key(),)
    if spec.name in IDX_DATASETS:  # the files found (and their versions) are part of the identity
        files = _locate(spec.name, spec.data_dir)
        key += (_fingerprint(files),)
    return _DATASETS.get_or_build(key, lambda: _build(spec))


def _build(spec: DatasetSpec) -> Dataset:
    if spec.name in SYNTHETIC:
        return _build_synthetic(spec)
    if spec.name == "digits":
        return _build_digits(spec)
    if spec.name in IDX_DATASETS:
        return _build_idx(spec)
    return _build_csv(spec)


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


def _subsample(y: np.ndarray, m: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded stratified subset of size ``m`` (None when ``m`` covers everything)."""
    if m >= len(y):
        return None
    rng = np.random.default_rng([seed, 0x5AB])
    classes, counts = np.unique(y, return_counts=True)
    take = _allocate(counts, m, counts)
    picked = [rng.choice(np.flatnonzero(y == c), size=int(t), replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def _from_arrays(spec: DatasetSpec, x: np.ndarray, y: np.ndarray, *, class_names: tuple[str, ...],
                 description: str, standardise: str | None, feature_names: tuple[str, ...] = ()) -> Dataset:
    """Split ``x, y`` (stratified, seeded), optionally standardise with train statistics, make tensors.

    ``standardise`` is None (keep values), "global" (one mean/std for all features, for images) or
    "column" (per feature; constant columns become 0).
    """
    tr, va, te = stratified_split(y, spec.seed)
    sub = _subsample(y[tr], spec.max_train, spec.seed) if spec.max_train is not None else None
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
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    sel = lambda idx: (xt[torch.from_numpy(idx)], yt[torch.from_numpy(idx)])
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = sel(tr), sel(va), sel(te)
    return Dataset(spec=spec, x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te,
                   n_features=int(x.shape[1]), n_classes=len(class_names), class_names=class_names,
                   description=description + _split_note(len(tr), len(va), len(te), sub is not None),
                   feature_names=feature_names)


def _split_note(n_tr: int, n_va: int, n_te: int, subsampled: bool) -> str:
    sub = " (subsample)" if subsampled else ""
    return f"; split {n_tr:,}{sub} / {n_va:,} / {n_te:,} (train / validation / test)"


# --- synthetic -----------------------------------------------------------------------------------

def make_synthetic(name: str, n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw (x [n, 2] float64, y [n] int64) for a synthetic dataset; deterministic for a seed."""
    from sklearn import datasets as skd

    n0, n1 = n_samples // 2, n_samples - n_samples // 2
    rng = np.random.default_rng(seed)
    if name == "moons":
        x, y = skd.make_moons(n_samples=(n0, n1), noise=noise, random_state=seed)
    elif name == "circles":
        x, y = skd.make_circles(n_samples=(n0, n1), noise=noise, factor=0.5, random_state=seed)
    elif name == "gaussian":
        x, y = skd.make_blobs(n_samples=[n0, n1], centers=[[-1.0, -1.0], [1.0, 1.0]], cluster_std=0.4 + noise,
                              random_state=seed)
    elif name == "xor":
        clean = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
        y = (clean[:, 0] * clean[:, 1] < 0).astype(np.int64)  # quadrants 2 and 4 are class 1
        x = clean + rng.normal(0.0, noise, size=(n_samples, 2))
    elif name == "spiral":
        y = np.repeat([0, 1], [n0, n1])
        s = rng.uniform(0.0, 1.0, size=n_samples)
        theta = 3.0 * math.pi * s + math.pi * y  # 1.5 turns per arm, the arms half a turn apart
        x = np.column_stack([s * np.cos(theta), s * np.sin(theta)]) + rng.normal(0.0, noise / 4, (n_samples, 2))
    else:
        raise InputError(f"{name!r} is not a synthetic dataset; choose one of {', '.join(SYNTHETIC)}")
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


_SYNTH_TEXT = {
    "moons": "Two interleaving half-moons",
    "circles": "A small circle inside a larger one",
    "xor": "XOR: opposite quadrants share a class",
    "spiral": "Two interleaved spiral arms",
    "gaussian": "Two Gaussian blobs",
}


def _build_synthetic(spec: DatasetSpec) -> Dataset:
    x, y = make_synthetic(spec.name, spec.n_samples, spec.noise, spec.seed)
    extra = f" (cluster std {0.4 + spec.noise:g})" if spec.name == "gaussian" else ""
    text = f"{_SYNTH_TEXT[spec.name]}, {spec.n_samples:,} points, noise {spec.noise:g}{extra}"
    return _from_arrays(spec, x, y, class_names=("0", "1"), description=text, standardise=None,
                        feature_names=("x1", "x2"))


# --- digits --------------------------------------------------------------------------------------

def _build_digits(spec: DatasetSpec) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0  # pixels are 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    text = f"scikit-learn's 8x8 handwritten digits, {len(y):,} images, 64 pixels standardised"
    return _from_arrays(spec, x, y, class_names=DIGIT_CLASSES, description=text, standardise="global")


# --- IDX (MNIST, FashionMNIST) -------------------------------------------------------------------

def _read_full(stream: Any, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            break
        got += k
    del view
    if got < n:
        del buf[got:]
    return buf


def read_idx(path: str | os.PathLike[str], expect: str | None = None) -> np.ndarray:
    """Parse an IDX file (gzipped or not) into a uint8 array: [n, rows, cols] images or [n] labels.

    ``expect`` ("images" or "labels") also checks the kind.  Header, dimensions and the exact file
    size are validated; anything wrong is an InputError naming the file.
    """
    p = Path(path)
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise InputError(f"{p} does not exist") from None
    except OSError as exc:
        raise InputError(f"{p} cannot be read ({exc.strerror or exc})") from None
    with fh:
        is_gzip = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream: Any = gzip.GzipFile(fileobj=fh, mode="rb") if is_gzip else fh
        try:
            return _parse_idx(stream, p, expect)
        except EOFError:
            raise InputError(f"{p} is truncated: the gzip stream ends early; download it again") from None
        except (OSError, zlib.error) as exc:
            raise InputError(f"{p} is corrupt: it is not a valid gzip file ({exc}); download it again") from None


def _parse_idx(stream: Any, p: Path, expect: str | None) -> np.ndarray:
    head = _read_full(stream, 4)
    if len(head) < 4:
        raise InputError(f"{p} is truncated: expected a 4-byte IDX header, found {len(head)} bytes")
    magic = struct.unpack(">I", bytes(head))[0]
    wanted = {"images": _MAGIC_IMAGES, "labels": _MAGIC_LABELS}.get(expect or "")
    if magic not in (_MAGIC_IMAGES, _MAGIC_LABELS):
        raise InputError(f"{p} is not an IDX file: its magic number is 0x{magic:08X}, expected 0x00000803 "
                         "(images) or 0x00000801 (labels)")
    if wanted is not None and magic != wanted:
        kind = "labels" if magic == _MAGIC_LABELS else "images"
        raise InputError(f"{p} holds {kind} (magic number 0x{magic:08X}) but should hold {expect} "
                         f"(0x{wanted:08X}); check the file names")
    ndim = magic & 0xFF
    raw_dims = _read_full(stream, 4 * ndim)
    header = 4 + 4 * ndim
    if len(raw_dims) < 4 * ndim:
        raise InputError(f"{p} is truncated: expected a {header}-byte IDX header, found {4 + len(raw_dims)} bytes")
    dims = struct.unpack(f">{ndim}I", bytes(raw_dims))
    shape = "x".join(str(d) for d in dims)
    if 0 in dims:
        raise InputError(f"{p} is empty: its header declares {shape} values")
    count = math.prod(dims)
    if count > _MAX_IDX_VALUES:
        raise InputError(f"{p} is corrupt: its header declares {shape} values, far more than any MNIST file")
    data = _read_full(stream, count)
    if len(data) < count:
        raise InputError(f"{p} is truncated: expected {header + count:,} bytes ({header}-byte header and {shape} "
                         f"values), found {header + len(data):,}; download it again")
    extra = 0
    while chunk := stream.read(1 << 20):
        extra += len(chunk)
        if extra > _MAX_DOWNLOAD_BYTES:
            break
    if extra:
        raise InputError(f"{p} is corrupt: expected exactly {header + count:,} bytes ({header}-byte header and "
                         f"{shape} values), found {extra:,} extra bytes after the data")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _base_dir(data_dir: str | None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else Path(DEFAULT_DATA_DIR)


def _candidates(name: str, base: Path) -> list[Path]:
    return [base / name, base / TORCHVISION_DIRS[name] / "raw", base]


def _files_in(directory: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for stem in IDX_FILES:
        for fname in (stem, stem + ".gz"):  # an uncompressed copy is faster to read
            if (directory / fname).is_file():
                found[stem] = directory / fname
                break
    return found


def _file_list() -> str:
    return ", ".join(IDX_FILES[:-1]) + " and " + IDX_FILES[-1]


def _locate(name: str, data_dir: str | None) -> dict[str, Path]:
    """The four files of ``name`` (stem -> path), or an InputError saying what to put where."""
    base = _base_dir(data_dir)
    best: tuple[Path, dict[str, Path]] | None = None
    for directory in _candidates(name, base):
        found = _files_in(directory)
        if len(found) == len(IDX_FILES):
            return found
        if found and (best is None or len(found) > len(best[1])):
            best = (directory, found)
    raise InputError(_missing_message(name, base, best, data_dir))


def _missing_message(name: str, base: Path, best: tuple[Path, dict[str, Path]] | None,
                     data_dir: str | None) -> str:
    title = TITLES[name]
    target = base / name
    how = (f"put {_file_list()} (each gzipped as .gz or uncompressed) in {target} "
           f"(or {base / TORCHVISION_DIRS[name] / 'raw'}), or run: python -m actviz data download {name} "
           f"--data-dir {base}")
    if best is not None:
        directory, found = best
        missing = [s for s in IDX_FILES if s not in found]
        return f"{title} is incomplete in {directory}: {', '.join(missing)} missing; {how}"
    where = f"in {base}" if base.is_dir() else f"because the directory {base} does not exist"
    source = "" if data_dir else f" (the data directory comes from ${DATA_DIR_ENV}, else ./{DEFAULT_DATA_DIR})"
    return f"{title} files not found {where}{source}: {how}"


def _fingerprint(files: dict[str, Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for stem in IDX_FILES:
        p = files[stem]
        try:
            st = p.stat()
        except OSError:
            raise InputError(f"{p} cannot be read; check the data directory") from None
        out.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _read_labels(p: Path) -> np.ndarray:
    labels = read_idx(p, expect="labels")
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise InputError(f"{p} is corrupt: label {int(labels[bad[0]])} at position {int(bad[0])} is not in 0..9")
    return labels.astype(np.int64)


def _read_images(p: Path) -> np.ndarray:
    images = read_idx(p, expect="images")
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise InputError(f"{p} holds {images.shape[1]}x{images.shape[2]} images; MNIST-style images are "
                         f"{IMAGE_SIDE}x{IMAGE_SIDE}")
    return images


def _load_idx_arrays(name: str, files: dict[str, Path]) -> tuple[torch.Tensor, ...]:
    """Normalised (x_train_all, y_train_all, x_test, y_test) tensors from the four files."""
    mean, std = NORMALISATION[name]
    out: list[torch.Tensor] = []
    for img_stem, lab_stem in ((IDX_FILES[0], IDX_FILES[1]), (IDX_FILES[2], IDX_FILES[3])):
        images, labels = _read_images(files[img_stem]), _read_labels(files[lab_stem])
        if len(images) != len(labels):
            raise InputError(f"{files[lab_stem]} has {len(labels):,} labels but {files[img_stem]} has "
                             f"{len(images):,} images; the counts must match (are the files from the same set?)")
        x = torch.from_numpy(images).reshape(len(images), -1).to(torch.float32)
        x.div_(255.0).sub_(mean).div_(std)
        out += [x, torch.from_numpy(labels)]
    return tuple(out)


def _build_idx(spec: DatasetSpec) -> Dataset:
    files = _locate(spec.name, spec.data_dir)
    x_all, y_all, x_test, y_test = _IMAGES.get_or_build(
        (spec.name, _fingerprint(files)), lambda: _load_idx_arrays(spec.name, files))
    n_val = min(10_000, len(y_all) // 6)
    n_tr = len(y_all) - n_val
    x_tr, y_tr = x_all[:n_tr], y_all[:n_tr]  # views: no copy
    sub = _subsample(y_tr.numpy(), spec.max_train, spec.seed) if spec.max_train is not None else None
    if sub is not None:
        idx = torch.from_numpy(sub)
        x_tr, y_tr = x_tr[idx], y_tr[idx]
    names = DIGIT_CLASSES if spec.name == "mnist" else FASHION_CLASSES
    what = "handwritten digits" if spec.name == "mnist" else "clothing images (Zalando)"
    folder = files[IDX_FILES[0]].parent
    mean, std = NORMALISATION[spec.name]
    text = (f"{TITLES[spec.name]} 28x28 {what} from {folder}, 784 pixels normalised with mean {mean} std {std}"
            + _split_note(len(y_tr), n_val, len(y_test), sub is not None))
    return Dataset(spec=spec, x_train=x_tr, y_train=y_tr, x_val=x_all[n_tr:], y_val=y_all[n_tr:],
                   x_test=x_test, y_test=y_test, n_features=x_all.shape[1], n_classes=10, class_names=names,
                   description=text)


def available(name: str, data_dir: str | None = None) -> bool:
    """Whether ``load`` can be expected to find the data (files present; not parsed)."""
    if name not in NAMES:
        raise InputError(f"unknown dataset {str(name)[:40]!r}; choose one of {', '.join(NAMES)}")
    if name in IDX_DATASETS:
        try:
            _locate(name, data_dir)
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
        files = _locate(name, data_dir)
    except InputError as exc:
        return f"missing: {exc}"
    return f"ready (files in {files[IDX_FILES[0]].parent})"


# --- download ------------------------------------------------------------------------------------

ProgressFn = Callable[[float, str], None]


def _md5_file(p: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with p.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fetch_to(url: str, directory: Path, expected_md5: str,
              on_bytes: Callable[[int, int | None], None]) -> Path:
    """Download ``url`` into a temporary file in ``directory`` and check its MD5; the temp path on success."""
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=directory)
    tmp = Path(tmp_name)
    try:
        h = hashlib.md5(usedforsecurity=False)
        done = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            length = resp.headers.get("Content-Length") if getattr(resp, "headers", None) is not None else None
            total = int(length) if length and str(length).isdigit() else None
            while chunk := resp.read(1 << 16):
                done += len(chunk)
                if done > _MAX_DOWNLOAD_BYTES:
                    raise _Rejected(f"the server sent more than {_MAX_DOWNLOAD_BYTES // 2**20} MB")
                h.update(chunk)
                out.write(chunk)
                on_bytes(done, total)
        got = h.hexdigest()
        if got != expected_md5:
            raise _Rejected(f"checksum mismatch (MD5 {got}, expected {expected_md5})")
        return tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Rejected(Exception):
    """A download arrived but is not the expected file."""


def download(name: str, data_dir: str | os.PathLike[str] | None = None, progress: ProgressFn | None = None) -> Path:
    """Fetch the four .gz files of ``name`` into ``<data_dir>/<name>/``, MD5-verified; returns that folder.

    Files already there with the right checksum (or uncompressed) are kept.  Each file is written to a
    temporary file and renamed once verified, so an interrupted or bad download leaves nothing behind.
    ``progress(fraction, message)`` is called as bytes arrive.  Offline: InputError saying what to do.
    """
    if name not in IDX_DATASETS:
        raise InputError(f"only {' and '.join(IDX_DATASETS)} can be downloaded, not {str(name)[:40]!r}")
    base = _base_dir(os.fspath(data_dir) if data_dir is not None else None)
    target = base / name
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the directory {target} ({exc.strerror or exc}); choose another "
                         "--data-dir") from None
    sizes = _GZ_SIZES[name]
    grand = sum(sizes.values())
    finished = 0
    report = progress or (lambda fraction, message: None)
    for fname, md5 in MD5[name].items():
        dest = target / fname
        if (dest.is_file() and _md5_file(dest) == md5) or (target / fname[:-3]).is_file():
            finished += sizes[fname]
            report(finished / grand, f"{fname}: already present")
            continue
        problems: list[str] = []
        reached = False  # some server answered with bytes that failed verification
        for mirror in MIRRORS[name]:
            url = mirror + fname

            def on_bytes(done: int, total: int | None, fname: str = fname, finished: int = finished) -> None:
                expected = total or sizes[fname]
                frac = (finished + min(done, expected) / expected * sizes[fname]) / grand
                report(min(frac, 1.0), f"{fname}: {done / 1e6:.1f} of {expected / 1e6:.1f} MB")

            try:
                tmp = _fetch_to(url, target, md5, on_bytes)
            except _Rejected as exc:
                reached = True
                problems.append(f"{url}: {exc}")
                continue
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                # offline, DNS failure, refused, timeout, HTTP error status
                reason = getattr(exc, "reason", None) or exc
                problems.append(f"{url}: {reason}")
                continue
            os.replace(tmp, dest)
            break
        else:
            what = ("the downloaded file failed verification" if reached
                    else "could not reach the download server (is this machine offline?)")
            gz_names = ", ".join(f + ".gz" for f in IDX_FILES)
            raise InputError(f"could not download {TITLES[name]} {fname}: {what} ({'; '.join(problems)}); on a "
                             f"machine with internet access download {gz_names} from {MIRRORS[name][0]} and copy "
                             f"them into {target}")
        finished += sizes[fname]
        report(finished / grand, f"{fname}: downloaded, checksum OK")
    return target


# --- CSV -----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CsvTable:
    """A validated CSV upload: raw (unstandardised) features and integer labels."""

    x: np.ndarray = field(repr=False)  # float64 [N, F]
    y: np.ndarray = field(repr=False)  # int64 [N], 0..K-1
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    label_column: str


def _limit(name: str, default: float) -> float:
    try:
        from actviz import limits

        return float(getattr(limits.current(), name, default))
    except (ImportError, ValueError):
        return default


def _max_csv_rows() -> int:
    return int(_limit("max_upload_rows", MAX_CSV_ROWS))


def _max_csv_bytes() -> int:
    return int(_limit("max_upload_mb", MAX_CSV_MB) * 1024 * 1024)


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
    import pandas as pd

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
    import pandas as pd

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
    return df


def load_csv(source: bytes | str | os.PathLike[str], label_column: str | None = None) -> CsvTable:
    """Parse and validate a CSV table: numeric feature columns plus a label column.

    ``source`` is the file's bytes, a path, or CSV text (a str containing a newline).  The label
    column defaults to one named label/target/class/y (any case), else the last column.  Anything
    malformed is an InputError saying what is wrong and what to do.  Never evaluates or unpickles.
    """
    import pandas as pd

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
    y, class_names = _encode_labels(df[label], label)
    features = [c for c in columns if c != label]
    x = np.empty((n_rows, len(features)), dtype=np.float64)
    for j, col in enumerate(features):
        x[:, j] = _numeric_column(df[col], col, pd)
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
    import pandas as pd

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


def _numeric_column(series: Any, col: str, pd: Any) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(np.float64)
    if not pd.api.types.is_numeric_dtype(series):
        coerced = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(coerced.isna().to_numpy() & series.notna().to_numpy())
        if bad.size:
            value = str(series.iloc[bad[0]])[:40]
            raise InputError(f"column {col[:40]!r} has a non-numeric value {value!r} in data row {int(bad[0]) + 1}; "
                             "feature columns must hold numbers (remove the column or make it the label column)")
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
    return values


def register_csv(content: bytes, label_column: str | None = None, seed: int = 0) -> DatasetSpec:
    """Validate an uploaded CSV and keep the parsed table; the returned spec loads it.

    The table is kept in a bounded in-memory registry keyed by the content's SHA-256 (and label
    column); the spec's ``label_column`` is the resolved column name.
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError("register_csv() expects the file's bytes")
    content = bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    wanted = label_column.strip() if label_column and label_column.strip() else None
    table = _CSV_REGISTRY.get((digest, wanted))
    if table is None:
        table = load_csv(content, wanted)
        _CSV_REGISTRY.put((digest, wanted), table)
        _CSV_REGISTRY.put((digest, table.label_column), table)
    return DatasetSpec(name="csv", seed=seed, csv_key=digest, label_column=table.label_column)


def _build_csv(spec: DatasetSpec) -> Dataset:
    table = _CSV_REGISTRY.get((spec.csv_key, spec.label_column))
    if table is None:
        raise InputError("the uploaded CSV file is no longer in memory (only the last few uploads are kept); "
                         "upload it again")
    n, f = table.x.shape
    text = (f"Your CSV: {n:,} rows, {f:,} numeric feature{'s' if f != 1 else ''}, "
            f"{len(table.class_names)} classes (label column {table.label_column!r})")
    return _from_arrays(spec, table.x, table.y, class_names=table.class_names, description=text,
                        standardise="column", feature_names=table.feature_names)
