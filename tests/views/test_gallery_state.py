"""Gallery state <-> URL query parameters: exact round trips, and hostile links that never raise."""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import pytest

from actviz import activations
from actviz.activations import curves, expr
from actviz.errors import InputError
from actviz.views import gallery
from actviz.views import gallery as viewstate
from actviz.views.gallery import GalleryState, decode_gallery, encode_gallery
from actviz.views.urlstate import with_params

DEFAULT = GalleryState()


def _round_trip(state: GalleryState) -> GalleryState:
    encoded = encode_gallery(state)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in encoded.items())
    decoded, warnings = decode_gallery(encoded)
    assert warnings == []
    return decoded


def test_defaults_encode_to_an_empty_link_and_decode_from_one():
    assert encode_gallery(GalleryState()) == {}
    state, warnings = decode_gallery({})
    assert state == DEFAULT and warnings == []
    assert DEFAULT.selected == ["sigmoid", "tanh", "relu"]


ROUND_TRIP_STATES = [
    GalleryState(),
    GalleryState(selected=[]),
    GalleryState(selected=["swish", "elu", "hardtanh"],
                 params={"swish": {"beta": 1.5}, "elu": {"alpha": 0.35},
                         "hardtanh": {"min_val": -2.5, "max_val": 3.0}}),
    GalleryState(selected=["softplus"], params={"softplus": {"beta": 10.0, "threshold": 1.0}}),
    GalleryState(selected=["leaky_relu"], params={"leaky_relu": {"negative_slope": 0.0}}),
    GalleryState(xmin=-1000.0, xmax=1000.0),
    GalleryState(xmin=-0.001, xmax=0.002),
    GalleryState(xmin=-2.718281828459, xmax=3.14159265358979),  # typed with many digits
    GalleryState(xmin=1e-7, xmax=123456.0 / 1000),
    GalleryState(show_d2=True, layout="grid", shade=False, saturation_eps=0.0),
    GalleryState(selected=["elu", "swish"], morph="swish.beta"),
    GalleryState(saturation_eps=0.5),
    GalleryState(saturation_eps=0.125),
    GalleryState(custom_on=True),  # the default formula with its default parameter text
    GalleryState(custom_on=True, custom_expr="tanh(x) * a + b", custom_params="a=1.5, b=-0.25"),
    GalleryState(custom_on=True, custom_expr="x / (1 + abs(x))", custom_params=""),  # no parameters
    GalleryState(custom_on=True, custom_expr="x.__class__", custom_params=""),  # kept so it can be fixed
    GalleryState(selected=["relu", "gelu", "mish", "identity"], xmin=-3.0, xmax=2.0, show_d2=True,
                 layout="grid", saturation_eps=0.1),
]


@pytest.mark.parametrize("state", ROUND_TRIP_STATES, ids=range(len(ROUND_TRIP_STATES)))
def test_encode_then_decode_gives_the_same_state(state):
    assert _round_trip(state) == state


def test_round_trip_of_every_slider_position_of_every_parameter():
    for act in activations.REGISTRY.values():
        for p in act.params:
            n = int(round((p.max - p.min) / p.step))
            for k in range(0, n + 1, max(1, n // 25)):
                value = p.min + k * p.step  # as a slider produces it, float noise included
                state = with_params(GalleryState(selected=[act.name]), act.name, {p.name: value})
                try:
                    act.resolve_params(state.param_values(act.name))
                except InputError:
                    continue  # hardtanh min_val above max_val: not a valid view
                decoded = _round_trip(state)
                assert decoded.param_values(act.name)[p.name] == pytest.approx(value, rel=1e-14, abs=1e-15)


def test_with_params_stores_only_non_default_values():
    state = with_params(GalleryState(selected=["elu"]), "elu", {"alpha": 1.0})
    assert state.params == {}
    state = with_params(state, "elu", {"alpha": 0.5})
    assert state.params == {"elu": {"alpha": 0.5}}
    assert encode_gallery(state) == {"act": "elu", "elu.alpha": "0.5"}
    assert state.param_values("elu") == {"alpha": 0.5}
    assert with_params(state, "elu", {"alpha": 1.0}).params == {}


def test_decoding_a_typical_link():
    state, warnings = decode_gallery({"act": "ELU,gelu,LeakyReLU", "elu.alpha": "0.5", "xmin": "-3",
                                      "xmax": "2", "d2": "1", "layout": "grid", "eps": "0.1",
                                      "leaky_relu.negative_slope": ["0.3"]})
    assert warnings == []
    assert state.selected == ["elu", "gelu", "leaky_relu"]
    assert state.params == {"elu": {"alpha": 0.5}, "leaky_relu": {"negative_slope": 0.3}}
    assert (state.xmin, state.xmax, state.show_d2, state.layout, state.saturation_eps) == (-3, 2, True, "grid", 0.1)


# --- hostile links ------------------------------------------------------------------------------------------

LONG = "x" * 100_000

# (query, the field that must keep its default, a fragment of the warning)
HOSTILE = [
    ({"xmin": "nan"}, "xmin", "finite"),
    ({"xmin": "NaN"}, "xmin", "finite"),
    ({"xmax": "inf"}, "xmax", "finite"),
    ({"xmin": "-inf"}, "xmin", "finite"),
    ({"xmin": "1e999"}, "xmin", "finite"),
    ({"xmin": "-1e9"}, "xmin", "outside"),
    ({"xmax": "1001"}, "xmax", "outside"),
    ({"xmin": "7", "xmax": "5"}, "xmin", "below"),
    ({"xmin": "5"}, "xmin", "below"),
    ({"xmin": "abc"}, "xmin", "number"),
    ({"xmin": "0x10"}, "xmin", "number"),
    ({"xmin": LONG}, "xmin", "number"),
    ({"xmin": ""}, "xmin", "number"),
    ({"eps": "nan"}, "saturation_eps", "finite"),
    ({"eps": "-0.1"}, "saturation_eps", "outside"),
    ({"eps": "99"}, "saturation_eps", "outside"),
    ({"d2": "maybe"}, "show_d2", "0 or 1"),
    ({"shade": LONG}, "shade", "0 or 1"),
    ({"layout": "3d"}, "layout", "not one of"),
    ({"layout": LONG}, "layout", "not one of"),
    ({"act": "nope"}, None, "unknown activation 'nope'"),
    ({"act": LONG}, None, "unknown activation"),
    ({"act": "relu,<script>alert(1)</script>"}, None, "unknown activation"),
    ({"act": "custom"}, None, "unknown activation"),
    ({"elu.alpha": "nan"}, "params", "finite"),
    ({"elu.alpha": "-1"}, "params", "outside"),
    ({"elu.alpha": "1e999"}, "params", "finite"),
    ({"elu.alpha": "True"}, "params", "number"),
    ({"elu.beta": "1"}, "params", "unknown parameter"),
    ({"nope.alpha": "1"}, "params", "unknown parameter"),
    ({"__class__.__init__": "1"}, "params", "unknown parameter"),
    ({LONG + ".x": "1"}, "params", "unknown parameter"),
    ({"hardtanh.min_val": "2"}, "params", "min_val must be below max_val"),
    ({"eparams": "beta=nan"}, "custom_params", "finite"),
    ({"eparams": "beta=1e9"}, "custom_params", "out of range"),
    ({"eparams": "beta"}, "custom_params", "name=value"),
    ({"eparams": "x=1"}, "custom_params", "reserved"),
    ({"eparams": LONG}, "custom_params", "name=value"),
    ({"eparams": "beta=50"}, None, "outside"),
    ({"custom": "perhaps"}, "custom_on", "0 or 1"),
    ({"expr": LONG}, None, "cut to 300"),
]


@pytest.mark.parametrize("query, field, fragment", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_fall_back_to_defaults_with_a_warning(query, field, fragment):
    state, warnings = decode_gallery(query)
    assert warnings, "a bad value must be reported"
    assert any(fragment.lower() in w.lower() for w in warnings), warnings
    assert all(len(w) < 400 for w in warnings)  # long inputs are cut in messages
    if field is not None:
        assert getattr(state, field) == getattr(DEFAULT, field)
    # whatever came in, the state is usable: finite numbers in range, known names
    assert -1000 <= state.xmin < state.xmax <= 1000
    assert 0 <= state.saturation_eps <= viewstate.EPS_MAX
    assert all(name in activations.REGISTRY for name in state.selected)
    assert len(state.custom_expr) <= expr.MAX_LENGTH


def test_hostile_values_keep_the_good_parts_of_a_link():
    state, warnings = decode_gallery({"act": "relu,nope,gelu", "xmin": "nan", "xmax": "3", "elu.alpha": "9"})
    assert state.selected == ["relu", "gelu"]
    assert state.xmin == DEFAULT.xmin and state.xmax == 3.0
    assert state.params == {} and len(warnings) == 3


def test_out_of_range_custom_parameter_is_clamped_to_a_usable_value():
    state, warnings = decode_gallery({"custom": "1", "expr": "x * a", "eparams": "a=50"})
    assert state.custom_params == "a=1" and warnings


@pytest.mark.parametrize("query", [
    {"act": ["relu", "tanh"]},        # repeated keys arrive as lists: the last one wins
    {"act": []}, {"xmin": []}, {"xmin": [None]}, {"act": None}, {"xmin": None},
    {"xmin": 5}, {"xmin": float("nan")}, {"xmin": float("inf")}, {"elu.alpha": True},
    {"xmin": ["1", "2"]}, {1: 2}, {None: "x"}, {"a.b.c": "1"}, {".": "."},
    {"act": "relu," * 1000}, {"act": ",,,"}, {"act": "\x00"}, {"expr": "\x00"}, {"eparams": "\x00"},
    {"xmin": {"nested": "dict"}}, {"act": object()}, {"xmin": b"1"}, {"eps": "1e-400"},
])
def test_decode_never_raises(query):
    state, warnings = decode_gallery(query)
    assert isinstance(state, GalleryState) and isinstance(warnings, list)
    assert all(isinstance(w, str) and w for w in warnings)
    assert math.isfinite(state.xmin) and math.isfinite(state.xmax) and state.xmin < state.xmax
    assert len(state.selected) <= viewstate.MAX_SELECTED
    assert len(set(state.selected)) == len(state.selected)
    # and what it decoded encodes into a link that decodes to the same thing without warnings
    # (parameters are only written for selected activations)
    visible = replace(state, params={k: v for k, v in state.params.items() if k in state.selected})
    assert _round_trip(visible) == visible


def test_lists_and_duplicates_in_act():
    state, warnings = decode_gallery({"act": ["sigmoid", "relu,tanh,RELU,relu"]})
    assert state.selected == ["relu", "tanh"] and warnings == []
    state, _ = decode_gallery({"act": ",".join(["relu", "tanh", "gelu", "elu", "selu", "celu", "mish", "silu",
                                                "swish", "softplus", "relu6", "prelu", "identity", "hardtanh"])})
    assert len(state.selected) == viewstate.MAX_SELECTED


def test_a_decoded_hostile_link_still_builds_a_view():
    query = {"act": "relu,nope", "custom": "1", "expr": "__import__('os').system('id')", "eparams": "beta=nan",
             "xmin": "-1e999", "xmax": "2", "elu.alpha": "nan"}
    state, warnings = decode_gallery(query)
    assert warnings
    view = gallery.build_view(state, measure_cost=False, points=201)
    assert [c.name for c in view.choices] == ["relu"]
    assert "custom" in view.errors and "attribute" in view.errors["custom"]
    assert len(view.curves) == 1 and view.curves[0].x[0] == DEFAULT.xmin and view.curves[0].x[-1] == 2.0
    csv = gallery.curves_csv(view.curves)
    assert csv.splitlines()[0] == "activation,label,x,f,df,d2f" and len(csv.splitlines()) == 202


def test_state_fields_are_all_covered_by_the_round_trip_cases():
    changed = {k for s in ROUND_TRIP_STATES for k, v in asdict(s).items() if v != asdict(DEFAULT)[k]}
    assert changed == set(asdict(DEFAULT))
    assert curves.X_LIMIT == 1000.0


def test_morph_round_trips_and_brings_its_activation_along():
    state, warnings = decode_gallery({"act": "swish", "morph": "swish.beta"})
    assert state.morph == "swish.beta" and warnings == []
    assert encode_gallery(state) == {"act": "swish", "morph": "swish.beta"}
    state, warnings = decode_gallery({"morph": "LeakyReLU.negative_slope"})
    assert state.morph == "leaky_relu.negative_slope" and state.selected[-1] == "leaky_relu" and warnings == []
    full = ",".join(["relu", "tanh", "sigmoid", "elu", "selu", "celu", "gelu", "silu", "mish", "softsign",
                     "softplus", "relu6"])
    state, warnings = decode_gallery({"act": full, "morph": "swish.beta"})
    assert state.morph == "" and any("swish is not among" in w for w in warnings)
    for bad in ("swish", "swish.gamma", "nope.beta", ".beta", "x" * 500):
        state, warnings = decode_gallery({"act": "swish", "morph": bad})
        assert state.morph == "" and len(warnings) == 1 and "no morph chart" in warnings[0]
        assert len(warnings[0]) < 600
