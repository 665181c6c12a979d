"""MNIST and FashionMNIST from the four standard IDX files, read by our own parser.

Normalised as the published experiments do (MNIST 0.1307/0.3081, FashionMNIST 0.2861/0.3530) and
flattened to 784 features.  The official 60k/10k train/test split; the last sixth of the training file
(10,000 images) is the validation split, so the training split is 50,000 images as in the UvA Deep
Learning tutorial 3.  Files live in ``$ACTVIZ_DATA_DIR/<name>/`` (default ``./data``), gzipped or not;
torchvision's ``<Name>/raw/`` layout is accepted too.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actviz.cache import memo
from actviz.data.spec import DIGIT_CLASSES, TITLES, Dataset, DatasetSpec, split_note, subsample
from actviz.errors import InputError

IMAGE_CACHE_SIZE = 2    # parsed and normalised IDX file sets kept (about 220 MB each for MNIST)
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

MAX_IDX_EXTRA_BYTES = 64 * 1024 * 1024  # trailing bytes read before a file is called corrupt

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")



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
        if extra > MAX_IDX_EXTRA_BYTES:
            break
    if extra:
        raise InputError(f"{p} is corrupt: expected exactly {header + count:,} bytes ({header}-byte header and "
                         f"{shape} values), found {extra:,} extra bytes after the data")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def base_dir(data_dir: str | None) -> Path:
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


def locate(name: str, data_dir: str | None) -> dict[str, Path]:
    """The four files of ``name`` (stem -> path), or an InputError saying what to put where."""
    base = base_dir(data_dir)
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


def fingerprint(files: dict[str, Path]) -> tuple[tuple[str, int, int], ...]:
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


@memo(maxsize=IMAGE_CACHE_SIZE, key=lambda name, version, files: (name, version))
def _load_idx_arrays(name: str, version: tuple[Any, ...], files: dict[str, Path]) -> tuple[torch.Tensor, ...]:
    """Normalised (x_train_all, y_train_all, x_test, y_test) tensors from the four files (cached per
    file version: ``version`` is their :func:`fingerprint`)."""
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


def build_idx(spec: DatasetSpec) -> Dataset:
    files = locate(spec.name, spec.data_dir)
    x_all, y_all, x_test, y_test = _load_idx_arrays(spec.name, fingerprint(files), files)
    n_val = min(10_000, len(y_all) // 6)
    n_tr = len(y_all) - n_val
    x_tr, y_tr = x_all[:n_tr], y_all[:n_tr]  # views: no copy
    sub = subsample(y_tr.numpy(), spec.max_train, spec.seed) if spec.max_train is not None else None
    if sub is not None:
        idx = torch.from_numpy(sub)
        x_tr, y_tr = x_tr[idx], y_tr[idx]
    names = DIGIT_CLASSES if spec.name == "mnist" else FASHION_CLASSES
    what = "handwritten digits" if spec.name == "mnist" else "clothing images (Zalando)"
    folder = files[IDX_FILES[0]].parent
    mean, std = NORMALISATION[spec.name]
    text = (f"{TITLES[spec.name]} 28x28 {what} from {folder}, 784 pixels normalised with mean {mean} std {std}"
            + split_note(len(y_tr), n_val, len(y_test), sub is not None))
    return Dataset(spec=spec, x_train=x_tr, y_train=y_tr, x_val=x_all[n_tr:], y_val=y_all[n_tr:],
                   x_test=x_test, y_test=y_test, n_features=x_all.shape[1], n_classes=10, class_names=names,
                   description=text)
