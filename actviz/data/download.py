"""Fetching MNIST and FashionMNIST: the four .gz files, MD5-verified, from the usual mirrors.

`pooch <https://www.fatiando.org/pooch/>`_ does the downloading part: it streams each file into a
temporary file beside its destination, checks the MD5 against the list below, and only then moves it
into place (a failed, interrupted or tampered download leaves nothing behind); a file already there
with the right checksum is kept.  What pooch does not do is ours: trying the next mirror when one
fails, a cap on the bytes a server may send (counted as they arrive, whatever the server claims), the
progress callback the page and the CLI draw, and one InputError saying what to do when every mirror
failed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from actviz.data.idx import IDX_FILES, base_dir
from actviz.data.spec import IDX_DATASETS, TITLES
from actviz.errors import InputError

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


ProgressFn = Callable[[float, str], None]


def _md5_file(p: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with p.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _Rejected(Exception):
    """A download arrived but is not the expected file (too large)."""


class _Progress:
    """pooch's progress-bar protocol (``total``, ``update(n)``, ``reset()``, ``close()``), forwarding the
    bytes received to our callback and refusing a download beyond the cap as it arrives."""

    def __init__(self, on_bytes: Callable[[int, int | None], None]):
        self.on_bytes = on_bytes
        self.total: int | None = None
        self.done = 0

    def update(self, n: int) -> None:
        self.done += n  # pooch counts its chunk size per chunk: never fewer bytes than arrived
        if self.done > _MAX_DOWNLOAD_BYTES + _CHUNK:
            raise _Rejected(f"the server sent more than {_MAX_DOWNLOAD_BYTES // 2**20} MB")
        self.on_bytes(self.done, self.total or None)

    def reset(self) -> None:
        self.done = 0

    def close(self) -> None:
        pass


_CHUNK = 1 << 16


def _fetch(url: str, dest: Path, md5: str, on_bytes: Callable[[int, int | None], None]) -> None:
    """Download ``url`` to ``dest`` through pooch (temporary file, MD5 check, then the move)."""
    import pooch  # imported when a download starts, not with every CLI command

    pooch.get_logger().setLevel(logging.WARNING)  # our own progress says what happens
    downloader = pooch.HTTPDownloader(progressbar=_Progress(on_bytes), chunk_size=_CHUNK,
                                      timeout=DOWNLOAD_TIMEOUT_S,
                                      headers={"Accept-Encoding": "identity"})  # bytes as stored: the cap holds
    pooch.retrieve(url, known_hash=f"md5:{md5}", fname=dest.name, path=dest.parent, downloader=downloader)


def download(name: str, data_dir: str | os.PathLike[str] | None = None, progress: ProgressFn | None = None) -> Path:
    """Fetch the four .gz files of ``name`` into ``<data_dir>/<name>/``, MD5-verified; returns that folder.

    Files already there with the right checksum (or uncompressed) are kept.  Each file is written to a
    temporary file and moved once verified (pooch), so an interrupted or bad download leaves nothing behind.
    ``progress(fraction, message)`` is called as bytes arrive.  Offline: InputError saying what to do.
    """
    if name not in IDX_DATASETS:
        raise InputError(f"only {' and '.join(IDX_DATASETS)} can be downloaded, not {str(name)[:40]!r}")
    base = base_dir(os.fspath(data_dir) if data_dir is not None else None)
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
                _fetch(url, dest, md5, on_bytes)
            except (_Rejected, ValueError) as exc:  # pooch: ValueError when the MD5 does not match
                reached = True
                problems.append(f"{url}: {_short(exc)}")
                continue
            except (OSError, RuntimeError) as exc:
                # offline, DNS failure, refused, timeout, HTTP error status (requests' errors are OSErrors)
                problems.append(f"{url}: {_short(exc)}")
                continue
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


def _short(exc: BaseException) -> str:
    """One line about a failed attempt: pooch's checksum message, or the network error's reason."""
    text = " ".join(str(exc).split())
    if "hash" in text.lower() and "does not match" in text.lower():
        return "checksum mismatch (the file is not the expected one)"
    reason = getattr(exc, "reason", None) or getattr(getattr(exc, "response", None), "reason", None)
    return (str(reason) if reason else text or type(exc).__name__)[:200]
