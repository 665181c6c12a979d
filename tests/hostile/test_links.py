"""Every page's link decoder (the PageState tables in actviz/views/*.py) takes any mapping of strings —
unicode, huge, repeated, control characters, markdown — and gives a valid state plus warnings: never an
exception, and warnings that show as plain text once escaped for the page."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import fields as dc_fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

import actviz.views
from actviz import activations
from actviz.views import gallery, gradient_flow, training_lab
from actviz.views.lessons import GRADIENT_PRESETS
from actviz.views.urlstate import PageState
from tests.hostile.fuzz import examples
from tests.hostile.markdown_oracle import assert_inert
from ui.text import escape, plain

MAX_WARNING = 1000  # characters: a warning quotes what it refuses (and may list the catalogue), never a megabyte


def _page_states() -> dict[str, PageState]:
    found = {}
    for info in pkgutil.iter_modules(actviz.views.__path__):
        module = importlib.import_module(f"actviz.views.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, PageState):
                found[f"{info.name}.{name}"] = value
    return found


PAGE_STATES = _page_states()
# How each page decodes its link (gradient flow also checks the preset names).
DECODERS = {
    "gallery.GALLERY": gallery.decode_gallery,
    "gradient_flow.GRADIENT_FLOW": lambda qp: gradient_flow.decode_gradient(qp, GRADIENT_PRESETS),
    "training_lab.TRAINING_LAB": training_lab.TRAINING_LAB.decode,
}
ENCODERS = {
    "gallery.GALLERY": gallery.encode_gallery,
    "gradient_flow.GRADIENT_FLOW": gradient_flow.encode_gradient,
    "training_lab.TRAINING_LAB": training_lab.TRAINING_LAB.encode,
}


def test_every_page_state_table_is_fuzzed():
    assert set(PAGE_STATES) == set(DECODERS) == set(ENCODERS), "a new PageState needs its decoder listed here"


def _keys(page: PageState) -> list[str]:
    keys = [f.key for f in page.fields] + ["act", "expr", "eparams", "custom", "preset", "s"]
    keys += [f"{a.name}.{p.name}" for a in list(activations.REGISTRY.values())[:8] for p in a.params]
    return sorted(set(keys))


HOSTILE_TEXT = st.sampled_from([
    "[Login here](https://ev.il)", "![t](http://127.0.0.1:9/a.png)", "<img src=x onerror=alert(1)>",
    "https://ev.il", "www.ev.il", "a@ev.il", ":red[x]", "$x^2$", "**b**", "`c`", "# h", "> q", "- l", "\n\n---\n",
    "relu\n[x](https://ev.il)", "\x00", "\u202e", "\ud7ff", "inf", "-inf", "nan", "1e400", "-0", "0x10", "1_0",
    "\u0661", "  5  ", "true", "sigmoid,tanh", "relu," * 40, "leaky_relu(negative_slope=0.3)", "swish(beta=1e400)",
    "x*[1](https://ev.il)", "x**2*x**2", "0x" + "f" * 290 + "*x", "beta=1e400", "beta=[x](https://ev.il)",
])
HUGE = st.tuples(st.sampled_from(["9", "a", ",", "relu,", "(", "[x](y)", "é", "\u202e"]),
                 st.integers(1, 200_000)).map(lambda t: t[0] * t[1])
VALUES = st.one_of(st.text(max_size=60), HOSTILE_TEXT, HUGE, st.floats().map(repr),
                   st.integers(-(10**30), 10**30).map(str))
REPEATED = st.one_of(VALUES, st.lists(VALUES, min_size=0, max_size=4))  # Streamlit hands repeated keys as lists


def query(page: PageState) -> st.SearchStrategy[dict[str, object]]:
    keys = st.one_of(st.sampled_from(_keys(page)), st.text(max_size=20), HOSTILE_TEXT)
    return st.dictionaries(keys, REPEATED, max_size=8)


def _check(name: str, qp: dict[str, object]) -> None:
    page = PAGE_STATES[name]
    state, warnings = DECODERS[name](qp)
    assert isinstance(state, type(page.make()))
    assert isinstance(warnings, list)
    for w in warnings:
        assert isinstance(w, str) and w.strip()
        assert len(w) <= MAX_WARNING, f"a warning of {len(w)} characters: {w[:80]!r}…"
        assert assert_inert(escape(w)) == plain(w)
    # A valid state: its own link decodes without a warning to the same link.
    link = ENCODERS[name](state)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in link.items())
    again, again_warnings = DECODERS[name](link)
    assert again_warnings == [], (link, again_warnings)
    assert ENCODERS[name](again) == link
    assert {f.name for f in dc_fields(state)} == {f.name for f in dc_fields(again)}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_any_mapping_of_strings_decodes_to_a_valid_state(name):
    @examples("links")
    @given(query(PAGE_STATES[name]))
    def run(qp):
        _check(name, qp)

    run()


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_hostile_values_on_every_real_key(name):
    page = PAGE_STATES[name]

    @examples("links_hostile")
    @given(st.dictionaries(st.sampled_from(_keys(page)), st.one_of(HOSTILE_TEXT, HUGE), min_size=1, max_size=12))
    def run(qp):
        _check(name, qp)

    run()


# --- findings of issue 10, reproduced -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DECODERS))
def test_fourteen_activations_are_cut_to_twelve_with_a_word(name):
    names = list(activations.names())[:14]
    state, warnings = DECODERS[name]({"act": ",".join(names)})
    assert state.selected == names[:12]
    assert any("14 activations" in w and "first 12" in w for w in warnings), warnings


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("payload", ["[Login here](https://ev.il)", "![t](http://127.0.0.1:9/a.png)"])
def test_a_markdown_payload_in_the_link_shows_as_text(name, payload):
    _, warnings = DECODERS[name]({"act": payload})
    assert warnings
    shown = [assert_inert(escape(w)) for w in warnings]
    assert any(payload in s for s in shown)


@examples("escape")
@given(st.text())
def test_escaped_text_is_inert_and_keeps_every_visible_character(text):
    assert assert_inert(escape(text)) == plain(text)
