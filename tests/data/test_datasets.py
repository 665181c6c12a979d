"""Datasets: synthetic generators, digits, the IDX reader and data directory layouts, downloads
(with a fake network), CSV validation, the cache and the ``data`` CLI command.  No test touches the
network: an autouse fixture makes every URL fetch fail unless a test serves bytes itself."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from actviz import cli
from actviz.data import datasets as d
from actviz.data import synthetic, tables
from actviz.data.datasets import DatasetSpec
from actviz.data.spec import REGRESSION
from actviz.errors import InputError
from tests.data.mirror import Mirror, closed_port

N_TRAIN, N_TEST = 60, 20  # tiny IDX sets: 50 train + 10 validation, 20 test


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    for name in list(d.MIRRORS):  # a download a test did not serve itself is refused on loopback, never sent out
        monkeypatch.setitem(d.MIRRORS, name, ("http://127.0.0.1:9/",))
    monkeypatch.delenv(d.DATA_DIR_ENV, raising=False)
    d.clear_cache()
    yield
    d.clear_cache()


# --- helpers -------------------------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x00000803 if array.ndim == 3 else 0x00000801
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_file(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def idx_set(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 256, size=(N_TRAIN, 28, 28), dtype=np.uint8)
    train[0, 0, 0], train[0, 0, 1] = 255, 0  # known pixels for the normalisation check
    test = rng.integers(0, 256, size=(N_TEST, 28, 28), dtype=np.uint8)
    return {"train-images-idx3-ubyte": idx_bytes(train),
            "train-labels-idx1-ubyte": idx_bytes(np.arange(N_TRAIN) % 10),
            "t10k-images-idx3-ubyte": idx_bytes(test),
            "t10k-labels-idx1-ubyte": idx_bytes(np.arange(N_TEST) % 10)}


def write_set(directory: Path, gz: bool = True, files: dict[str, bytes] | None = None) -> dict[str, Path]:
    return {stem: write_file(directory / stem, data, gz) for stem, data in (files or idx_set()).items()}


def csv_text(rows: list[str], header: str = "a,b,label") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def good_rows(n: int = 30) -> list[str]:
    return [f"{i},{(i * 7) % 11 - 5.5},{('setosa', 'virginica', 'versicolor')[i % 3]}" for i in range(n)]


# --- specs ---------------------------------------------------------------------------------------

def test_names_and_synthetic_lists():
    assert d.NAMES[:7] == d.SYNTHETIC == ("moons", "circles", "xor", "spiral", "gaussian", "reg_plane",
                                          "reg_gaussians")
    assert set(d.NAMES) == {*d.SYNTHETIC, "digits", "mnist", "fashion_mnist", "csv"}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"name": "imagenet"}, "unknown dataset"),
    ({"name": "moons", "n_samples": 5}, "number of samples"),
    ({"name": "moons", "n_samples": 10**7}, "number of samples"),
    ({"name": "moons", "n_samples": 12.5}, "whole number"),
    ({"name": "moons", "noise": -0.1}, "noise"),
    ({"name": "moons", "noise": 3.0}, "noise"),
    ({"name": "moons", "noise": float("nan")}, "noise"),
    ({"name": "moons", "seed": -1}, "seed"),
    ({"name": "digits", "max_train": 3}, "training subset"),
    ({"name": "csv"}, "upload a CSV"),
])
def test_bad_specs_are_input_errors(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        DatasetSpec(**kwargs)


def test_key_is_canonical():
    assert DatasetSpec(" Moons ").key() == DatasetSpec("moons", n_samples=1000.0, noise=0.2).key()
    assert DatasetSpec("moons", seed=1).key() != DatasetSpec("moons").key()
    # fields that do not apply are ignored
    assert DatasetSpec("digits", n_samples=50, noise=1.0).key() == DatasetSpec("digits").key()
    assert DatasetSpec("mnist", seed=3).key() == DatasetSpec("mnist", data_dir="").key()
    assert DatasetSpec("mnist", max_train=100, seed=3).key() != DatasetSpec("mnist", max_train=100).key()


# --- synthetic -----------------------------------------------------------------------------------

CLASSIFICATION_2D = tuple(n for n in d.SYNTHETIC if n not in REGRESSION)


@pytest.mark.parametrize("name", CLASSIFICATION_2D)
def test_synthetic_shapes_classes_and_split(name):
    ds = d.load(DatasetSpec(name, n_samples=400, noise=0.2, seed=0))
    assert ds.sizes == (280, 60, 60)
    assert ds.is_2d and ds.n_features == 2 and ds.n_classes == 2 and ds.class_names == ("0", "1")
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (len(y), 2)
        assert set(y.tolist()) == {0, 1}  # stratified: both classes in every split
    everything = torch.cat([ds.x_train, ds.x_val, ds.x_test])
    assert torch.unique(everything, dim=0).shape[0] == 400  # the splits do not overlap
    assert torch.isfinite(everything).all()
    assert str(400) in ds.description and "noise 0.2" in ds.description


@pytest.mark.parametrize("name", d.SYNTHETIC)
def test_synthetic_is_deterministic_per_seed_and_noise_matters(name):
    a = d.load(DatasetSpec(name, n_samples=200, seed=7))
    d.clear_cache()
    b = d.load(DatasetSpec(name, n_samples=200, seed=7))
    assert a is not b and torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    other = d.load(DatasetSpec(name, n_samples=200, seed=8))
    assert not torch.equal(a.x_train, other.x_train)
    x_lo, y_lo = d.make_synthetic(name, 200, 0.05, 7)
    x_hi, y_hi = d.make_synthetic(name, 200, 0.8, 7)
    assert not (np.allclose(x_lo, x_hi) and np.allclose(y_lo, y_hi))


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_sets_follow_tf_playground(name):
    """Points uniform in [-6, 6]^2; without noise the target is TF Playground's function of the point."""
    x, y = d.make_synthetic(name, 2000, 0.0, 3)
    assert x.shape == (2000, 2) and y.shape == (2000,) and y.dtype == np.float64
    assert x.min() >= -6 and x.max() <= 6 and x.min() < -5.5 and x.max() > 5.5
    if name == "reg_plane":
        assert np.allclose(y, (x[:, 0] + x[:, 1]) / 10)
    else:  # an independent evaluation of the six bumps, point by point
        bumps = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
        for (px, py), value in zip(x[:50], y[:50]):
            best = 0.0
            for cx, cy, sign in bumps:
                v = sign * min(1.0, max(0.0, 1 - math.dist((px, py), (cx, cy)) / 2))
                best = v if abs(v) > abs(best) else best
            assert value == pytest.approx(best)
        assert y.min() >= -1 and y.max() <= 1 and (y == 0).any()
    ds = d.load(DatasetSpec(name, n_samples=400, noise=0.1, seed=0))
    assert ds.task == "regression" and ds.n_classes == 0 and ds.class_names == ()
    assert ds.sizes == (280, 60, 60) and ds.y_train.dtype == torch.float32 and ds.spec.task == "regression"
    assert "TF Playground" in ds.description
    # Noise moves the point the target is computed at, not the point itself.
    x_noisy, y_noisy = d.make_synthetic(name, 2000, 0.5, 3)
    assert np.array_equal(x, x_noisy) and not np.allclose(y, y_noisy)


def test_more_noise_spreads_the_moons():
    lo = d.load(DatasetSpec("moons", n_samples=2000, noise=0.0))
    hi = d.load(DatasetSpec("moons", n_samples=2000, noise=1.0))
    assert hi.x_train.std() > lo.x_train.std() * 1.2


def test_max_train_takes_a_stratified_subsample():
    ds = d.load(DatasetSpec("moons", n_samples=1000, max_train=100))
    assert ds.sizes == (100, 150, 150)
    assert ds.y_train.bincount().tolist() == [50, 50]
    assert "subsample" in ds.description
    full = d.load(DatasetSpec("moons", n_samples=1000))
    assert torch.equal(full.x_val, ds.x_val)  # validation and test do not change
    big = d.load(DatasetSpec("moons", n_samples=100, max_train=5000))
    assert big.sizes[0] == 70 and "subsample" not in big.description


def test_stratified_split_keeps_every_class_in_training():
    y = np.array([0] * 2 + [1] * 2 + [2] * 2 + [3] * 4)
    tr, va, te = d.stratified_split(y, seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(10))
    assert set(y[tr].tolist()) == {0, 1, 2, 3}
    assert len(va) >= 1 and len(te) >= 1


# --- digits --------------------------------------------------------------------------------------

def test_digits_loads_standardised():
    ds = d.load(DatasetSpec("digits"))
    assert sum(ds.sizes) == 1797 and min(ds.sizes) > 200
    assert ds.n_features == 64 and ds.n_classes == 10 and ds.class_names == tuple("0123456789")
    assert not ds.is_2d
    assert abs(ds.x_train.mean().item()) < 1e-4 and abs(ds.x_train.std().item() - 1) < 1e-3
    assert abs(ds.x_test.mean().item()) < 0.1
    assert set(ds.y_test.tolist()) == set(range(10))


# --- IDX reader and layouts ----------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips(tmp_path, gz):
    images = np.random.default_rng(1).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = np.arange(50, dtype=np.uint8) % 10
    pi = write_file(tmp_path / "train-images-idx3-ubyte", idx_bytes(images), gz)
    pl = write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), gz)
    assert np.array_equal(d.read_idx(pi), images) and d.read_idx(pi).shape == (50, 28, 28)
    assert np.array_equal(d.read_idx(pl, expect="labels"), labels)


@pytest.mark.parametrize("layout, gz", [("flat", False), ("named", True), ("torchvision", True), ("named", False)])
def test_mnist_layouts_and_normalisation(tmp_path, layout, gz):
    sub = {"flat": ".", "named": "mnist", "torchvision": "MNIST/raw"}[layout]
    write_set(tmp_path / sub, gz=gz)
    ds = d.load(DatasetSpec("mnist", data_dir=str(tmp_path)))
    assert ds.sizes == (50, 10, 20) and ds.n_features == 784 and ds.n_classes == 10
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train[0, 0].item() == pytest.approx((1.0 - 0.1307) / 0.3081, abs=1e-5)
    assert ds.x_train[0, 1].item() == pytest.approx(-0.1307 / 0.3081, abs=1e-5)
    assert ds.y_train[:3].tolist() == [0, 1, 2] and ds.y_val[0].item() == 50 % 10
    assert d.status("mnist", str(tmp_path)).startswith("ready")


def test_fashion_mnist_from_env_dir_in_torchvision_layout(tmp_path, monkeypatch):
    write_set(tmp_path / "FashionMNIST" / "raw", gz=True)
    monkeypatch.setenv(d.DATA_DIR_ENV, str(tmp_path))
    ds = d.load(DatasetSpec("fashion_mnist"))
    assert ds.x_train[0, 0].item() == pytest.approx((1.0 - 0.2861) / 0.3530, abs=1e-5)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert not d.available("mnist")  # the flat directory holds no files, and FashionMNIST/raw is not MNIST's


def test_max_train_on_idx_data(tmp_path):
    write_set(tmp_path)
    ds = d.load(DatasetSpec("mnist", data_dir=str(tmp_path), max_train=20))
    assert ds.sizes == (20, 10, 20) and ds.y_train.bincount().tolist() == [2] * 10


def _expect_error(path_dir: Path, fragment: str, *more: str) -> str:
    d.clear_cache()
    with pytest.raises(InputError) as err:
        d.load(DatasetSpec("mnist", data_dir=str(path_dir)))
    msg = str(err.value)
    assert fragment in msg, msg
    for m in more:
        assert m in msg, msg
    return msg


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_image_file_is_named(tmp_path, gz):
    files = idx_set()
    files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:1234]
    paths = write_set(tmp_path, gz=gz, files=files)
    msg = _expect_error(tmp_path, "truncated", str(paths["train-images-idx3-ubyte"]), "47,056", "1,234")
    assert "\n" not in msg


def test_cut_gzip_stream_is_truncated(tmp_path):
    paths = write_set(tmp_path, gz=True)
    p = paths["t10k-images-idx3-ubyte"]
    p.write_bytes(p.read_bytes()[:200])
    _expect_error(tmp_path, "truncated", str(p))


def test_extra_bytes_wrong_magic_and_corrupt_gzip(tmp_path):
    files = idx_set()
    files["train-labels-idx1-ubyte"] += b"\x00\x00"
    paths = write_set(tmp_path, gz=False, files=files)
    _expect_error(tmp_path, "extra bytes", str(paths["train-labels-idx1-ubyte"]))

    files = idx_set()
    files["train-images-idx3-ubyte"] = b"\x00\x00\x08\x04" + files["train-images-idx3-ubyte"][4:]
    paths = write_set(tmp_path, gz=False, files=files)
    _expect_error(tmp_path, "magic number is 0x00000804", str(paths["train-images-idx3-ubyte"]))

    files = idx_set()  # label and image files swapped
    files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"] = (files["t10k-labels-idx1-ubyte"],
                                                                         files["t10k-images-idx3-ubyte"])
    paths = write_set(tmp_path, gz=False, files=files)
    _expect_error(tmp_path, "holds labels", str(paths["t10k-images-idx3-ubyte"]))

    write_set(tmp_path, gz=False)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x1f\x8b" + b"not really gzip" * 5)
    _expect_error(tmp_path, "corrupt", str(bad))


def test_count_mismatch_and_bad_labels(tmp_path):
    files = idx_set()
    files["train-labels-idx1-ubyte"] = idx_bytes(np.arange(N_TRAIN - 1) % 10)
    paths = write_set(tmp_path, gz=True, files=files)
    _expect_error(tmp_path, "59 labels", str(paths["train-labels-idx1-ubyte"]), str(paths["train-images-idx3-ubyte"]),
                  "60 images")

    files = idx_set()
    files["t10k-labels-idx1-ubyte"] = idx_bytes(np.full(N_TEST, 12))
    paths = write_set(tmp_path, gz=True, files=files)
    _expect_error(tmp_path, "label 12", str(paths["t10k-labels-idx1-ubyte"]))

    files = idx_set()
    files["t10k-images-idx3-ubyte"] = idx_bytes(np.zeros((N_TEST, 8, 8)))
    write_set(tmp_path, gz=True, files=files)
    _expect_error(tmp_path, "8x8 images")


def test_missing_directory_lists_the_four_files(tmp_path):
    missing = tmp_path / "nowhere"
    _expect_error(missing, "does not exist", *d.IDX_FILES, "python -m actviz data download mnist",
                        str(missing / "mnist"))
    assert d.status("mnist", str(missing)).startswith("missing")
    assert not d.available("mnist", str(missing))


def test_incomplete_directory_says_which_files_are_missing(tmp_path):
    files = idx_set()
    del files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"]
    write_set(tmp_path / "mnist", files=files)
    msg = _expect_error(tmp_path, "incomplete", "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte missing")
    assert str(tmp_path / "mnist") in msg


def test_a_replaced_file_is_reread(tmp_path):
    write_set(tmp_path, gz=False)
    first = d.load(DatasetSpec("mnist", data_dir=str(tmp_path)))
    assert d.load(DatasetSpec("mnist", data_dir=str(tmp_path))) is first
    p = tmp_path / "train-labels-idx1-ubyte"
    p.write_bytes(idx_bytes(np.arange(N_TRAIN)[::-1] % 10))
    second = d.load(DatasetSpec("mnist", data_dir=str(tmp_path)))
    assert second is not first and second.y_train[0].item() == (N_TRAIN - 1) % 10


# --- download ------------------------------------------------------------------------------------

def _payloads() -> dict[str, bytes]:
    return {stem + ".gz": gzip.compress(data) for stem, data in idx_set().items()}


def _serve(monkeypatch, name: str, payloads: dict[str, bytes], **behaviour) -> Mirror:
    """A loopback mirror serving ``payloads`` as ``name``'s two mirrors, with their MD5s as the list's."""
    monkeypatch.setitem(d.MD5, name, {k: hashlib.md5(v).hexdigest() for k, v in payloads.items()})
    mirror = Mirror(payloads, behaviour.pop("behaviour", None), **behaviour)
    monkeypatch.setitem(d.MIRRORS, name, mirror.mirrors())
    return mirror


def test_download_verifies_md5_and_lands_in_the_directory(tmp_path, monkeypatch):
    payloads = _payloads()
    reports: list[tuple[float, str]] = []
    with _serve(monkeypatch, "mnist", payloads) as mirror:
        target = d.download("mnist", tmp_path, progress=lambda f, m: reports.append((f, m)))
        assert target == tmp_path / "mnist"
        assert sorted(p.name for p in target.iterdir()) == sorted(payloads)
        assert all(path.startswith("/a/") for path in mirror.seen) and len(mirror.seen) == 4
        assert reports[-1][0] == pytest.approx(1.0) and all(0 <= f <= 1 for f, _ in reports)
        assert sum("checksum OK" in m for _, m in reports) == 4
        ds = d.load(DatasetSpec("mnist", data_dir=str(tmp_path)))
        assert ds.sizes == (50, 10, 20)
        mirror.seen.clear()  # a second run keeps the verified files
        d.download("mnist", tmp_path)
        assert mirror.seen == []


def test_download_falls_back_to_the_second_mirror(tmp_path, monkeypatch):
    payloads = _payloads()
    with _serve(monkeypatch, "fashion_mnist", payloads, behaviour={f"/a/{n}": "missing" for n in payloads}) as mirror:
        d.download("fashion_mnist", tmp_path)
    assert sorted(p.name for p in (tmp_path / "fashion_mnist").iterdir()) == sorted(payloads)
    assert [p[:3] for p in mirror.seen] == ["/a/", "/b/"] * 4


def test_download_rejects_bad_bytes_and_leaves_nothing(tmp_path, monkeypatch):
    payloads = _payloads()
    with _serve(monkeypatch, "mnist", payloads):
        monkeypatch.setitem(d.MD5, "mnist", {k: "0" * 32 for k in payloads})  # the list expects other files
        with pytest.raises(InputError, match="checksum mismatch") as err:
            d.download("mnist", tmp_path)
    assert "failed verification" in str(err.value)
    assert list((tmp_path / "mnist").iterdir()) == []  # no partial or temporary file


@pytest.mark.parametrize("how", ["reset", "lie"])
def test_download_interrupted_midway_leaves_nothing(tmp_path, monkeypatch, how):
    payloads = _payloads()
    with _serve(monkeypatch, "fashion_mnist", payloads, behaviour={n: how for n in payloads}):
        with pytest.raises(InputError) as err:
            d.download("fashion_mnist", tmp_path)
    assert "offline" in str(err.value) or "failed verification" in str(err.value)
    assert list((tmp_path / "fashion_mnist").iterdir()) == []


def test_download_stops_a_server_that_sends_too_much(tmp_path, monkeypatch):
    from actviz.data import download as dl

    monkeypatch.setattr(dl, "_MAX_DOWNLOAD_BYTES", 2 * 2**20)
    payloads = _payloads()
    with _serve(monkeypatch, "mnist", payloads, behaviour={n: "flood" for n in payloads}, flood_bytes=40 * 2**20):
        with pytest.raises(InputError, match="more than 2 MB"):
            d.download("mnist", tmp_path)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_download_offline_is_an_input_error(tmp_path, monkeypatch):
    with closed_port() as url:
        monkeypatch.setitem(d.MIRRORS, "fashion_mnist", (url, url))
        with pytest.raises(InputError) as err:
            d.download("fashion_mnist", str(tmp_path))
    msg = str(err.value)
    assert "offline" in msg and "train-images-idx3-ubyte" in msg and str(tmp_path / "fashion_mnist") in msg
    with pytest.raises(InputError, match="only mnist and fashion_mnist"):
        d.download("digits", tmp_path)


# --- CSV -----------------------------------------------------------------------------------------

def test_csv_with_string_labels():
    table = d.load_csv(csv_text(good_rows()))
    assert table.label_column == "label" and table.feature_names == ("a", "b")
    assert table.class_names == ("setosa", "versicolor", "virginica")  # sorted, mapped to 0..2
    assert table.x.shape == (30, 2) and sorted(set(table.y.tolist())) == [0, 1, 2]
    assert table.y[0] == 0 and table.y[1] == 2  # setosa, virginica

    spec = d.register_csv(csv_text(good_rows()), None)
    assert spec.name == "csv" and spec.label_column == "label" and len(spec.csv_key) == 64
    ds = d.load(spec)
    assert ds.n_features == 2 and ds.n_classes == 3 and ds.class_names == table.class_names
    assert sum(ds.sizes) == 30 and ds.feature_names == ("a", "b")
    assert torch.allclose(ds.x_train.mean(0), torch.zeros(2), atol=1e-5)  # standardised with train statistics
    assert "label column 'label'" in ds.description
    # the spec rebuilt from its fields (as the training form does) loads the same object
    again = DatasetSpec(name="csv", csv_key=spec.csv_key, label_column=spec.label_column)
    assert d.load(again) is ds


def test_csv_label_column_choice_and_variants(tmp_path):
    rows = [f"{i % 2},{i},{i * 0.5}" for i in range(20)]
    table = d.load_csv(csv_text(rows, header="Target,f1,f2"))  # default name, any case, not last
    assert table.label_column == "Target" and table.feature_names == ("f1", "f2")
    table = d.load_csv(csv_text(rows, header="p,q,r"), label_column="p")
    assert table.label_column == "p" and table.class_names == ("0", "1")
    assert d.load_csv(csv_text(rows, header="p,q,r"), label_column="P").label_column == "p"  # any case
    last = [f"{i * 0.5},{i % 3}" for i in range(20)]
    assert d.load_csv(csv_text(last, header="p,q")).label_column == "q"  # else the last column
    semicolons = ("\n".join(f"{i};{i * 2};{'yes' if i % 2 else 'no'}" for i in range(20))).encode()
    table = d.load_csv(semicolons)  # no header row, ';' separated
    assert table.feature_names == ("column 1", "column 2") and table.class_names == ("no", "yes")
    assert table.x.shape == (20, 2) and table.x[0, 1] == 0.0
    pixels = ",".join(str(j) for j in range(5)) + ",species\n"  # numeric names are a header when not in the data
    pixels += "\n".join(",".join(str((i * j) % 7) for j in range(5)) + f",{'ab'[i % 2]}" for i in range(20))
    table = d.load_csv(pixels.encode())
    assert table.feature_names == ("0", "1", "2", "3", "4") and table.x.shape == (20, 5)
    path = tmp_path / "t.csv"
    path.write_bytes(csv_text(good_rows()))
    assert d.load_csv(path).x.shape == (30, 2) and d.load_csv(str(path)).x.shape == (30, 2)
    assert d.load_csv(csv_text(good_rows()).decode()).x.shape == (30, 2)  # CSV text


def _bad(rows: list[str], header: str = "a,b,label") -> bytes:
    return csv_text(rows, header)


BAD_CSVS = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    "not utf-8": ((("a,b,label\n" + "caf\xe9,1,0\n" * 12).encode("latin-1")), "UTF-8"),
    "json": (b'[{"a": 1, "label": 0}, {"a": 2, "label": 1}]', "JSON"),
    "empty": (b"", "empty"),
    "blank": (b"\n\n  \n", "empty"),
    "header only": (b"a,b,label\n", "0 data rows"),
    "too few rows": (_bad([f"{i},{i},{i % 2}" for i in range(9)]), "9 data rows"),
    "ragged": (_bad([f"{i},{i},{i % 2}" + (",7" if i == 4 else "") for i in range(12)]), "line 6 has 4 fields"),
    "one column": (_bad([str(i % 2) for i in range(12)], header="label"), "only one column"),
    "non-numeric": (_bad([f"{i},{'abc' if i == 6 else i},{i % 2}" for i in range(12)]),
                    "column 'b' has a non-numeric value 'abc' in data row 7"),
    "missing value": (_bad([f"{i},{'' if i == 3 else i},{i % 2}" for i in range(12)]),
                      "column 'b' has a missing value"),
    "nan": (_bad([f"{'NaN' if i == 2 else i},{i},{i % 2}" for i in range(12)]), "column 'a' has a missing value"),
    "inf": (_bad([f"{i},{'inf' if i == 5 else i},{i % 2}" for i in range(12)]), "infinite value in data row 6"),
    "overflow": (_bad([f"{i},{'1e999' if i == 5 else i},{i % 2}" for i in range(12)]), "infinite value"),
    "one class": (_bad([f"{i},{i},same" for i in range(12)]), "only one class"),
    "too many classes": (_bad([f"{i},{i},c{i}" for i in range(220)]), "220 different values"),
    "singleton class": (_bad([f"{i},{i},{'odd' if i == 0 else i % 2}" for i in range(12)]),
                        "class 'odd' of the label column 'label' has only 1 row"),
    "fractional labels": (_bad([f"{i},{i},{i / 7}" for i in range(12)]), "non-integer"),
    "missing label": (_bad([f"{i},{i},{'' if i == 8 else i % 2}" for i in range(12)]), "empty in data row 9"),
    "too many columns": ((",".join(f"c{j}" for j in range(4097)) + "\n"
                          + "\n".join(",".join(str((i + j) % 2) for j in range(4097)) for i in range(10))).encode(),
                         "4,097 columns"),
}


@pytest.mark.parametrize("case", list(BAD_CSVS))
def test_malformed_csv_gives_a_clear_input_error(case):
    content, fragment = BAD_CSVS[case]
    with pytest.raises(InputError) as err:
        d.register_csv(content, None)
    msg = str(err.value)
    assert fragment in msg, msg
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 400


def test_csv_unknown_label_column_and_row_cap(monkeypatch):
    with pytest.raises(InputError, match="no column named 'species'.*'a', 'b', 'label'"):
        d.load_csv(csv_text(good_rows()), label_column="species")
    monkeypatch.setattr(tables, "_max_csv_rows", lambda: 25)
    with pytest.raises(InputError, match="more than 25 data rows"):
        d.load_csv(csv_text(good_rows(30)))
    monkeypatch.setattr(tables, "_max_csv_bytes", lambda: 100)
    with pytest.raises(InputError, match="MB"):
        d.load_csv(csv_text(good_rows(30)))


def test_forgotten_csv_upload_is_an_input_error():
    with pytest.raises(InputError, match="upload it again"):
        d.load(DatasetSpec("csv", csv_key="0" * 64, label_column="label"))


def test_csv_never_evaluates_content():
    evil = csv_text([f"{i},__import__('os').system('false'),{i % 2}" for i in range(12)])
    with pytest.raises(InputError, match="non-numeric"):
        d.load_csv(evil)


# --- cache ---------------------------------------------------------------------------------------

def test_cache_returns_the_identical_object():
    a = d.load(DatasetSpec("moons", n_samples=300, seed=5))
    assert d.load(DatasetSpec("moons", n_samples=300, seed=5)) is a
    assert d.load(DatasetSpec("moons", n_samples=300, seed=6)) is not a


def test_cache_is_bounded_and_thread_safe(monkeypatch):
    calls: list[str] = []
    real = synthetic.build_synthetic

    def counting(spec):
        calls.append(spec.key())
        return real(spec)

    monkeypatch.setattr(synthetic, "build_synthetic", counting)
    spec = DatasetSpec("spiral", n_samples=5000, seed=11)
    results: list[d.Dataset] = []
    threads = [threading.Thread(target=lambda: results.append(d.load(spec))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and all(r is results[0] for r in results) and len(calls) == 1
    for seed in range(d.CACHE_SIZE):
        d.load(DatasetSpec("xor", n_samples=50, seed=100 + seed))
    assert d.load(spec) is not results[0]  # evicted after CACHE_SIZE newer entries


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_data_list_json(tmp_path, capsys):
    write_set(tmp_path / "mnist")
    assert cli.main(["data", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    by_name = {e["name"]: e for e in entries}
    assert [e["name"] for e in entries] == list(d.NAMES)
    assert by_name["mnist"]["ready"] and by_name["mnist"]["status"].startswith("ready")
    assert not by_name["fashion_mnist"]["ready"] and "t10k-labels-idx1-ubyte" in by_name["fashion_mnist"]["status"]
    assert by_name["moons"]["ready"] and by_name["moons"]["synthetic"]
    assert cli.main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    assert "moons" in capsys.readouterr().out


def test_cli_data_download_offline_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    with closed_port() as url:
        monkeypatch.setitem(d.MIRRORS, "mnist", (url,))
        assert cli.main(["data", "download", "mnist", "--data-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("actviz: error:") and "offline" in lines[0]


def test_cli_data_download_success_reports_progress(tmp_path, capsys, monkeypatch):
    with _serve(monkeypatch, "fashion_mnist", _payloads()):
        assert cli.main(["data", "download", "fashion_mnist", "--data-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "ready in" in captured.out
    assert captured.err.count("checksum OK") == 4
    with pytest.raises(SystemExit) as exc:
        cli.main(["data", "download", "digits"])
    assert exc.value.code == 2
