"""Checkpoints are untrusted files: any mutation of a valid one loads (and evaluates or says why not) or
is refused with an InputError — never another exception, and memory bounded by the file."""

from __future__ import annotations

import copy
import io
import json
import resource
import warnings
import zipfile

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from actviz import cli
from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import checkpoint, models
from tests.hostile.fuzz import examples

SPEC = datasets.DatasetSpec("moons", n_samples=200, seed=1)


def _valid() -> bytes:
    model = models.build_mlp(2, (4, 3), 1, choose("elu", {"alpha": 0.5}), models.InitSpec(), seed=0)
    return checkpoint.save(model, SPEC, {"epochs": 2, "lr": 0.01}, {"status": "done", "test_acc": 0.75})


VALID = _valid()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(items: list[tuple[str, bytes]] | dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", compression=compression) as z:
        warnings.simplefilter("ignore")  # "Duplicate name": a duplicate is what some cases want
        for name, value in (items.items() if isinstance(items, dict) else items):
            z.writestr(name, value)
    return out.getvalue()


MEMBERS = members(VALID)
CONFIG = json.loads(MEMBERS["config.json"])
STATE = torch.load(io.BytesIO(MEMBERS["model.pt"]), weights_only=True)


def with_config(config) -> bytes:
    text = config if isinstance(config, (str, bytes)) else json.dumps(config)
    return rezip({**MEMBERS, "config.json": text.encode() if isinstance(text, str) else text})


def with_state(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return rezip({**MEMBERS, "model.pt": buf.getvalue()})


def the_page_path(data: bytes) -> None:
    """What the training lab and ``evaluate`` do with an upload: load, describe, score — or a message."""
    try:
        loaded = checkpoint.load(data)
    except InputError as exc:
        assert str(exc).strip()
        return
    assert isinstance(loaded.label, str) and isinstance(loaded.dataset_label, str)
    assert isinstance(loaded.result, dict) and isinstance(loaded.training, dict)
    try:
        scored = checkpoint.evaluate(loaded)
    except InputError as exc:
        assert str(exc).strip()
        return
    assert 0.0 <= scored["test_acc"] <= 1.0


def test_the_unmutated_checkpoint_loads_and_scores():
    loaded = checkpoint.load(VALID)
    assert loaded.dataset_label.startswith("moons") and 0 <= checkpoint.evaluate(loaded)["test_acc"] <= 1


# --- findings of issue 10, reproduced -------------------------------------------------------------

def test_deeply_nested_json_is_refused_not_a_recursion_error():
    with pytest.raises(InputError, match="nested too deeply"):
        checkpoint.load(with_config("[" * 200_000))


def test_a_json_integer_of_thousands_of_digits_is_refused():
    with pytest.raises(InputError, match="not valid JSON"):
        checkpoint.load(with_config('{"format": "actviz-checkpoint", "version": ' + "9" * 5000 + "}"))


def test_a_sparse_tensor_is_refused_with_what_it_is():
    state = dict(STATE, **{"linears.0.weight": STATE["linears.0.weight"].to_sparse()})
    with pytest.raises(InputError, match="sparse"):
        checkpoint.load(with_state(state))


def test_a_complex_tensor_is_refused_for_its_dtype_not_its_shape():
    state = dict(STATE, **{"linears.0.weight": STATE["linears.0.weight"].to(torch.complex64)})
    with pytest.raises(InputError, match="complex64 values; expected floating-point") as info:
        checkpoint.load(with_state(state))
    assert "shape" not in str(info.value)


def test_falsified_zip_size_fields_are_refused():
    raw = bytearray(VALID)
    i = raw.find(b"PK\x01\x02")  # the first central-directory entry: compressed and uncompressed sizes
    raw[i + 20:i + 28] = (10).to_bytes(4, "little") * 2
    with pytest.raises(InputError):
        checkpoint.load(bytes(raw))


@pytest.mark.parametrize("section, value", [("result", [1]), ("result", "x"), ("dataset", "moons"), ("dataset", [1]),
                                            ("training", 3), ("dataset", {"spec": 7})])
def test_sections_of_the_wrong_type_are_shown_or_explained(section, value):
    loaded = checkpoint.load(with_config({**CONFIG, section: value}))
    assert isinstance(loaded.result, dict) and isinstance(loaded.dataset_label, str)
    the_page_path(with_config({**CONFIG, section: value}))


@pytest.mark.parametrize("fields", [{"name": "csv", "csv_key": [1]}, {"name": "csv", "csv_key": "a" * 64,
                                                                        "label_column": {"x": 1}},
                                    {"name": ["moons"]}, {"name": "moons", "n_samples": [1]},
                                    {"name": "csv", "csv_key": "../../etc/passwd"}])
def test_a_dataset_description_of_the_wrong_types_is_refused(fields):
    loaded = checkpoint.load(with_config({**CONFIG, "dataset": {"fields": fields}}))
    with pytest.raises(InputError):
        checkpoint.evaluate(loaded)


def test_a_huge_network_with_a_small_weights_file_is_refused_before_it_is_built():
    """4.5 GB of float32 weights described by a few bytes: refused by the memory budget before reading."""
    config = copy.deepcopy(CONFIG)
    config["model"].update(n_in=100_000, hidden=[4096] * 20, n_out=100_000)
    start = _peak_mb()
    with pytest.raises(InputError):
        checkpoint.load(with_config(config))
    assert _peak_mb() - start < 100


def test_a_checkpoint_with_a_huge_formula_is_refused_on_the_command_line(tmp_path, capsys):
    config = copy.deepcopy(CONFIG)
    config["model"]["activation"] = {"name": "custom", "expression": "0x" + "f" * 290 + "*x", "params": {}}
    (tmp_path / "c.zip").write_bytes(with_config(config))
    assert cli.main(["evaluate", str(tmp_path / "c.zip")]) == 2
    assert "at most" in capsys.readouterr().err


# --- fuzzing ----------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


CONFIG_PATHS = [p for p in _paths(CONFIG) if p]


def _set(config, path, value, delete=False):
    config = copy.deepcopy(config)
    target = config
    for k in path[:-1]:
        target = target[k]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return config


@st.composite
def mutated_json(draw) -> bytes:
    config = CONFIG
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(CONFIG_PATHS))
        try:
            config = _set(config, path, draw(JSON), delete=draw(st.booleans()))
        except (KeyError, IndexError, TypeError):
            pass
    return with_config(json.dumps(config, allow_nan=draw(st.booleans())) if draw(st.booleans()) else config)


@st.composite
def flipped_bytes(draw) -> bytes:
    raw = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[:draw(st.integers(0, len(raw)))]
    return bytes(raw)


@st.composite
def renamed_members(draw) -> bytes:
    names = st.sampled_from(["config.json", "model.pt", "CONFIG.JSON", "../config.json", "/model.pt", "model.pt/",
                             "config.json\x00", "x" * 300, "config", "dir/config.json"])
    items = [(draw(names) if draw(st.booleans()) else name, value) for name, value in MEMBERS.items()]
    if draw(st.booleans()):  # a duplicate or an extra member
        items.append((draw(names), draw(st.sampled_from([MEMBERS["config.json"], MEMBERS["model.pt"], b"", b"{}"]))))
    return rezip(items, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                              zipfile.ZIP_LZMA])))


DTYPES = st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int8, torch.uint8,
                          torch.bool, torch.complex64, torch.complex128])


def _retype(t: torch.Tensor, kind: str, dtype: torch.dtype, value: float) -> object:
    if kind == "dtype":
        return t.to(dtype)
    if kind == "sparse":
        return t.to_sparse()
    if kind == "csr":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Sparse CSR tensor support is in beta state"
            return t.to_sparse_csr() if t.dim() == 2 else t.to_sparse()
    if kind == "transposed":
        return t.t() if t.dim() == 2 else t.unsqueeze(0)
    if kind == "empty":
        return torch.empty(0)
    if kind == "scalar":
        return torch.tensor(value)
    if kind == "bigger":
        return torch.zeros(*(s + 1 for s in t.shape))
    if kind == "value":
        out = t.clone()
        out.view(-1)[0] = torch.tensor(value, dtype=torch.float64)  # beyond float32: inf, as a file may hold
        return out
    if kind == "not a tensor":
        return [value]
    return t[..., ::2] if t.dim() else t  # a strided view: fewer columns


@st.composite
def mutated_tensors(draw) -> bytes:
    state = dict(STATE)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(state)))
        kind = draw(st.sampled_from(["dtype", "sparse", "csr", "transposed", "empty", "scalar", "bigger", "value",
                                     "not a tensor", "view", "rename", "drop"]))
        if kind == "rename":
            new = draw(st.sampled_from(["x", "linears.9.weight", "linears.0.weight\n", "acts.0.beta"]))
            state[new] = state.pop(key)
        elif kind == "drop":
            state.pop(key)
        else:
            state[key] = _retype(state[key], kind, draw(DTYPES), draw(st.floats(allow_nan=True, allow_infinity=True)))
        if not state:
            break
    return with_state(state)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def memory_budget():
    start = _peak_mb()
    yield
    assert _peak_mb() - start < 400, "loading mutated checkpoints raised the process's peak memory by 400 MB"


@examples("checkpoint")
@given(st.one_of(mutated_json(), flipped_bytes(), renamed_members(), mutated_tensors()))
def test_mutated_checkpoints_load_or_are_refused(memory_budget, data):
    the_page_path(data)
