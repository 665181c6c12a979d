"""CSV uploads are untrusted bytes: any file becomes a dataset that trains, or an InputError that says
what to fix — never another exception."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actviz import cli, limits
from actviz.data import datasets, tables
from actviz.errors import InputError
from tests.hostile.fuzz import examples


def _rows(header: str, n: int = 12, first: str = "1") -> bytes:
    lines = [header] + [f"{first if i == 0 else i},{i * 2},{i % 2}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


# --- findings of issue 10, reproduced -------------------------------------------------------------

@pytest.mark.parametrize("header, name", [("a ,a,label", "a"), ("f,label ,label", "label"), ("a,a,label", "a"),
                                          (' "b",b ,label', "b")])
def test_a_header_naming_a_column_twice_is_refused(header, name):
    with pytest.raises(InputError, match=f"names column '{name}' twice"):
        tables.load_csv(_rows(header))


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1.7976931348623157e308", "1e31", "-3.5e38"])
def test_feature_values_too_large_to_standardise_are_refused_on_upload(value):
    """The lab registers the upload before loading it: the refusal must come from register_csv."""
    with pytest.raises(InputError, match="rescale"):
        datasets.register_csv(_rows("f,g,label", first=value))


def test_large_but_usable_values_still_train_on_finite_tensors():
    ds = datasets.load(datasets.register_csv(_rows("f,g,label", n=40, first="1e30")))
    assert all(bool(np.isfinite(t.numpy()).all()) for t in (ds.x_train, ds.x_val, ds.x_test))


def test_the_cli_refuses_a_duplicated_header_with_exit_2(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_bytes(_rows("a ,a,label", n=30))
    assert cli.main(["train", "--csv", str(path), "--activations", "relu", "--epochs", "1"]) == 2
    assert "twice" in capsys.readouterr().err


# --- fuzzing ----------------------------------------------------------------------------------------

def _accepted_or_explained(content: bytes) -> None:
    try:
        table = tables.load_csv(content)
    except InputError as exc:
        assert str(exc).strip()
        return
    n, f = table.x.shape
    assert n >= limits.MIN_CSV_ROWS and f == len(table.feature_names) >= 1
    assert len(set(table.feature_names)) == f and table.label_column not in table.feature_names
    assert np.isfinite(table.x).all() and (np.abs(table.x) <= limits.MAX_CSV_ABS_VALUE).all()
    assert table.y.min() >= 0 and table.y.max() < len(table.class_names) >= 2
    ds = datasets.load(datasets.register_csv(content))  # what the lab does next: split and standardise
    for t in (ds.x_train, ds.x_val, ds.x_test):
        assert bool(np.isfinite(t.numpy()).all())
    assert ds.n_features == f and ds.n_classes == len(table.class_names)


@examples("csv_bytes")
@given(st.binary(max_size=4096))
def test_random_bytes_give_a_dataset_or_an_input_error(content):
    _accepted_or_explained(content)


HEADER_CELLS = st.one_of(
    st.sampled_from(["a", "a ", " a", "label", "Label", "label ", "target", "y", "", " ", "a.1", "Unnamed: 0",
                     "[x](https://ev.il)", "![t](http://127.0.0.1:9/a.png)", "**b**", "é", "1", "nan", "\t"]),
    st.text(max_size=12),
)
NUMBERS = st.one_of(st.integers(-5, 5).map(str), st.floats(-1e6, 1e6).map(repr))
ODD_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e308", "-1e308", "1e30", "1e-320", "", " ", "NaN", "inf", "-inf", "cat", "True",
                     "0x10", "1,5", "1_000", "\u00a01", "'", '"', "[x](https://ev.il)"]),
    st.text(max_size=6),
)
ODD_LABELS = st.one_of(st.sampled_from(["0", "1", "", "1.5", "-1e308", "cat"]), st.text(max_size=4))


@st.composite
def tables_(draw) -> bytes:
    """Odd headers always; rows clean (numbers and two classes, so many tables are accepted and go on to
    the split and standardisation) or sprinkled with odd cells and labels."""
    n_cols = draw(st.integers(1, 4))
    header = draw(st.lists(HEADER_CELLS, min_size=n_cols, max_size=n_cols))
    n_rows = draw(st.one_of(st.integers(0, 12), st.integers(10, 40)))
    odd = draw(st.booleans())
    cells = st.one_of(NUMBERS, NUMBERS, NUMBERS, ODD_CELLS) if odd else NUMBERS
    classes = draw(st.sampled_from([("0", "1"), ("cat", "dog"), ("1", "2", "3"), (" a", "a ")]))
    labels = st.one_of(st.sampled_from(classes), ODD_LABELS) if odd else st.sampled_from(classes)
    rows = [draw(st.lists(cells, min_size=n_cols - 1, max_size=n_cols - 1)) + [draw(labels)]
            for _ in range(n_rows)]
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    if draw(st.booleans()):
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


@examples("csv_tables")
@given(tables_())
def test_random_tables_give_a_dataset_or_an_input_error(content):
    _accepted_or_explained(content)


@examples("csv_tables")
@given(st.integers(12, 30), st.lists(st.sampled_from(["a", "a ", " a", "b", "label", "label ", "", "x"]),
                                     min_size=2, max_size=5))
def test_well_formed_rows_under_odd_headers(n, header):
    """Numeric rows that would train, under headers with duplicates, blanks and near-duplicates."""
    lines = [",".join(header)] + [",".join([str(i % 7)] * (len(header) - 1) + [str(i % 2)]) for i in range(n)]
    _accepted_or_explained(("\n".join(lines) + "\n").encode())
