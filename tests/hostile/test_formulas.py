"""Formulas are untrusted text (a text box, a shared link, the CLI, a checkpoint): any string is
refused with an InputError or becomes a curve that is finite or says why not — never another
exception."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from actviz import cli, limits
from actviz.activations import choice, curves, expr
from actviz.errors import InputError
from actviz.views import gallery
from tests.hostile.fuzz import examples

HUGE_HEX = "0x" + "f" * 290 + "*x"


# --- findings of issue 10, reproduced -------------------------------------------------------------

def test_a_huge_integer_literal_is_refused_not_an_overflow():
    for source in (HUGE_HEX, "9" * 299, "-" + "9" * 298, "x + 0b" + "1" * 290, "x ** 0o" + "7" * 200):
        try:
            expr.parse_expression(source)
        except InputError as exc:
            assert "at most" in str(exc) or "exponent" in str(exc)
        else:
            raise AssertionError(f"{source[:20]} was accepted")


def test_a_huge_literal_on_the_command_line_exits_2_with_one_line(capsys):
    assert cli.main(["curve", "--expr", HUGE_HEX]) == 2
    err = capsys.readouterr().err
    assert err.startswith("actviz: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_a_huge_literal_in_a_gallery_link_is_an_error_on_the_page_not_an_exception():
    state, _ = gallery.decode_gallery({"custom": "1", "expr": HUGE_HEX, "eparams": ""})
    view = gallery.build_view(state, measure_cost=False, points=101)
    assert "at most" in view.errors["custom"]


# --- fuzzing ----------------------------------------------------------------------------------------

def _page_path(source: str) -> None:
    """What the gallery does with a typed formula: a slider per free name, then the view."""
    names = expr.free_names(source)
    params = ", ".join(f"{n}=1" for n in names)
    state = gallery.GalleryState(selected=[], custom_on=True, custom_expr=source, custom_params=params)
    view = gallery.build_view(state, measure_cost=False, points=61)
    if view.errors:
        assert set(view.errors) == {"custom"} and view.errors["custom"].strip()
        assert not view.curves
        return
    (curve,) = view.curves
    for values in (curve.y, curve.dy, curve.d2y):  # finite, or NaN where the page says "undefined"
        assert not np.isinf(values).any()
    assert np.isfinite(curve.y).any()


def _refused_or_compiled(source: str) -> None:
    try:
        parsed = expr.parse_expression(source, expr.free_names(source))
    except InputError as exc:
        assert str(exc).strip()
        return
    assert len(parsed.params) <= limits.MAX_EXPR_PARAMS


@examples("formula_text")
@given(st.text(max_size=limits.MAX_EXPR_LENGTH + 5))
def test_any_text_is_refused_or_compiled(source):
    _refused_or_compiled(source)


NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.integers(min_value=2**1020, max_value=2**1100).map(hex),   # beyond any float, still short text
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e400", "1e-400", "0.0", "1_000", "1j", "0b101", "0o17", ".5", "5.", "1e6", "1000001"]),
)
NAMES = st.sampled_from(["x", "x", "x", "beta", "a", "pi", "e", "inf", "nan", "True", "None", "__class__",
                         "_", "ßeta", "x\u0301"])
FUNCS = st.sampled_from(sorted(expr.FUNCTIONS) + ["eval", "open", "getattr", "__import__"])
OPS = st.sampled_from(["+", "-", "*", "/", "**", "<", ">=", "//", "%", "@", "|", "==", " if x else ", "."])


def _formula() -> st.SearchStrategy[str]:
    leaf = st.one_of(NUMBERS, NAMES)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, OPS, inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            st.tuples(FUNCS, st.lists(inner, min_size=0, max_size=4)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            inner.map(lambda s: f"-({s})"),
            inner.map(lambda s: f"({s})"),
        )

    return st.recursive(leaf, extend, max_leaves=12)


@examples("formula_grammar")
@given(_formula())
def test_grammar_built_formulas_give_a_curve_or_a_reason(source):
    _page_path(source)


@examples("formula_grammar")
@given(_formula(), st.dictionaries(st.sampled_from(["beta", "a", "x", "pi", "zz"]),
                                   st.floats(allow_nan=True, allow_infinity=True), max_size=3))
def test_checkpoint_and_cli_style_choices_are_built_or_refused(source, params):
    """``from_dict`` (checkpoints) and ``custom`` (the CLI) with any parameter values."""
    try:
        c = choice.from_dict({"name": "custom", "expression": source, "params": params})
    except InputError as exc:
        assert str(exc).strip()
        return
    assert all(math.isfinite(v) for _, v in c.params)
    try:
        curves.compute_curve(c, -3.0, 3.0, 31)
    except InputError as exc:
        assert str(exc).strip()
