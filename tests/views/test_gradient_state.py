"""Gradient-flow page state <-> URL: round trips, hostile links, activation tokens, presets."""

from __future__ import annotations

import random
import string

import pytest

from actviz.errors import InputError
from actviz.network import perlayer
from actviz.views import gradient_flow as gs
from actviz.views import lessons as gradient_presets


def decode(qp):
    """The page decodes links knowing the lessons' preset names."""
    return gs.decode_gradient(qp, gradient_presets.GRADIENT_PRESETS)


def test_default_state_encodes_to_an_empty_link():
    assert gs.encode_gradient(gs.GradientState()) == {}
    state, warnings = decode({})
    assert state == gs.GradientState() and warnings == []


def test_full_round_trip():
    state = gs.GradientState(
        dataset="spiral", n_samples=500, noise=0.35, data_seed=3,
        selected=["relu", "leaky_relu(negative_slope=0.3)", "swish"], params={"swish": {"beta": 2.5}},
        custom_on=True, custom_expr="x * tanh(a * x)", custom_params="a=0.5",
        hidden="256x5,128x5", init="uniform", init_low=-0.3, init_high=0.2, bias=-8.0, batch_size=64, seed=7,
        eps=0.1, preset="dead_relu")
    encoded = gs.encode_gradient(state)
    assert encoded["act"] == "relu,leaky_relu(negative_slope=0.3),swish" and encoded["swish.beta"] == "2.5"
    assert encoded["bias"] == "-8" and encoded["a"] == "-0.3" and "std" not in encoded
    decoded, warnings = decode(encoded)
    assert warnings == []
    assert decoded == state
    # Streamlit may hand values as lists
    decoded, _ = decode({k: [v] for k, v in encoded.items()})
    assert decoded == state


def test_only_relevant_init_fields_and_symmetry_settings_are_written():
    assert gs.encode_gradient(gs.GradientState(init="normal", init_std=0.01)) == {"init": "normal", "std": "0.01"}
    assert gs.encode_gradient(gs.GradientState(init="constant", init_value=0.5, sym_steps=50, sym_lr=1.0)) == {
        "init": "constant", "value": "0.5", "steps": "50", "lr": "1"}
    assert "steps" not in gs.encode_gradient(gs.GradientState(sym_steps=50))
    assert gs.encode_gradient(gs.GradientState(bias=0.0)) == {"bias": "0"}


@pytest.mark.parametrize("query, field, expected, word", [
    ({"data": "csv"}, "dataset", "digits", "data="),
    ({"data": "<script>"}, "dataset", "digits", "data="),
    ({"n": "5"}, "n_samples", 1000, "n="),
    ({"n": "120.5"}, "n_samples", 1000, "whole number"),
    ({"noise": "nan"}, "noise", 0.2, "finite"),
    ({"act": "nope,relu"}, "selected", ["relu"], "nope"),
    ({"act": "leaky_relu(negative_slope=9),tanh"}, "selected", ["tanh"], "out of range"),
    ({"act": "relu(alpha=1)"}, "selected", [], "no parameter"),
    ({"act": "relu,relu,ReLU"}, "selected", ["relu"], None),
    ({"relu.alpha": "1"}, "params", {}, "unknown parameter"),
    ({"elu.alpha": "inf"}, "params", {}, "finite"),
    ({"hidden": "1x99"}, "hidden", "512,256,256,128", "hidden sizes"),
    ({"hidden": "abc"}, "hidden", "512,256,256,128", "hidden sizes"),
    ({"init": "he"}, "init", "default", "init="),
    ({"std": "0"}, "init_std", 1.0, "std="),
    ({"a": "1", "b": "-1"}, "init_low", -1.0, "must be below"),
    ({"bias": "1e9"}, "bias", 0.0, "bias="),
    ({"bias": "nan"}, "bias", 0.0, "finite"),
    ({"batch": "0"}, "batch_size", 256, "batch="),
    ({"batch": "1e9"}, "batch_size", 256, "batch="),
    ({"seed": "-1"}, "seed", 42, "seed="),
    ({"eps": "2"}, "eps", 0.05, "eps="),
    ({"steps": "0"}, "sym_steps", 100, "steps="),
    ({"preset": "magic"}, "preset", None, "preset"),
])
def test_hostile_values_fall_back_with_a_warning(query, field, expected, word):
    state, warnings = decode(query)
    assert getattr(state, field) == expected
    if word is None:
        assert warnings == []
    else:
        assert any(word in w for w in warnings), warnings


def test_decode_never_raises_on_garbage():
    rng = random.Random(0)
    keys = ["data", "n", "noise", "dseed", "act", "relu.x", "elu.alpha", "custom", "expr", "eparams", "hidden",
            "init", "std", "a", "b", "value", "bias", "batch", "seed", "eps", "steps", "lr", "preset", "zzz"]
    alphabet = string.printable + "×∞()=,"
    for _ in range(300):
        query = {k: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
                 for k in rng.sample(keys, rng.randint(1, len(keys)))}
        state, warnings = decode(query)
        assert isinstance(state, gs.GradientState) and isinstance(warnings, list)
        gs.encode_gradient(state)  # and whatever was kept encodes again


def test_long_expression_is_cut_and_kept_for_fixing():
    state, warnings = decode({"expr": "x+" * 400})
    assert state.custom_on and len(state.custom_expr) <= 300 and any("cut" in w for w in warnings)


def test_tokens():
    assert gs.parse_token("ReLU") == ("relu", None)
    assert gs.parse_token(" leakyrelu(negative_slope=0.2) ") == ("leaky_relu", {"negative_slope": 0.2})
    assert gs.parse_token("hardtanh(min_val=-2, max_val=2)") == ("hardtanh", {"min_val": -2.0, "max_val": 2.0})
    with pytest.raises(InputError):
        gs.parse_token("hardtanh(min_val=3,max_val=2)")
    assert gs.variant_token("hardtanh", {"max_val": 2, "min_val": -2}) == "hardtanh(min_val=-2,max_val=2)"
    assert gs.variant_token("relu", {}) == "relu"
    assert perlayer.split_items("a,b(c=1,d=2),,e") == ["a", "b(c=1,d=2)", "e"]
    assert gs.token_label("leaky_relu(negative_slope=0.3)") == "LeakyReLU (negative_slope=0.3)"
    state, _ = decode({"act": "hardtanh(min_val=-2,max_val=2),relu"})
    assert state.selected == ["hardtanh(min_val=-2,max_val=2)", "relu"]


@pytest.mark.parametrize("key", list(gradient_presets.GRADIENT_PRESETS))
def test_every_preset_state_survives_the_link(key):
    preset = gradient_presets.GRADIENT_PRESETS[key]
    state, _ = preset.resolve()
    decoded, warnings = decode(gs.encode_gradient(state))
    assert warnings == [] and decoded == state and decoded.preset == key
    assert gs.same_settings(decoded, preset.state_for(decoded.dataset))
    assert not gs.same_settings(decoded, gs.GradientState(seed=decoded.seed + 1))
