"""The training lab's address is its setup: every field round-trips, hostile links fall back to defaults with a
warning, and a decoded link trains exactly the setup that wrote it (never anyone's jobs)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actviz.errors import InputError
from actviz.network import checkpoint, models
from actviz.views import training_lab as lab
from actviz.views.lessons import training_presets
from actviz.views.training_lab import TRAINING_LAB, TrainingForm


def test_the_default_setup_is_an_empty_link():
    assert TRAINING_LAB.encode(TrainingForm()) == {}
    form, warnings = TRAINING_LAB.decode({})
    assert warnings == [] and TRAINING_LAB.encode(form) == {}


def full_form() -> TrainingForm:
    return TrainingForm(dataset="spiral", n_samples=600, noise=0.35, data_seed=4, hidden="8,8,4", max_train=300,
                        selected=["relu", "swish", "prelu"], params={"swish": {"beta": 2.5}},
                        learnable={"prelu": ["init"], "swish": ["beta"]}, custom_expr="x * tanh(a * x)",
                        custom_params="a=0.5", init="uniform", init_low=-0.3, init_high=0.2, bias=-1.0,
                        optimizer="sgd", lr=0.05, momentum=0.8, batch_size=32, epochs=12, early_stopping=True,
                        patience=3, seed=9, preset="demo")


def test_every_setting_round_trips_through_the_link():
    form = full_form()
    link = TRAINING_LAB.encode(form)
    assert link["act"] == "relu,swish,prelu" and link["swish.beta"] == "2.5"
    assert link["learn"] == "swish.beta,prelu.init" and link["opt"] == "sgd" and link["mom"] == "0.8"
    assert "s" not in link  # the link is the setup, never a session's token
    decoded, warnings = TRAINING_LAB.decode(link)
    assert warnings == []
    assert TRAINING_LAB.encode(decoded) == link
    assert lab.config_from_form(decoded).key() == lab.config_from_form(form).key()
    # Streamlit may hand values as lists
    assert TRAINING_LAB.encode(TRAINING_LAB.decode({k: [v] for k, v in link.items()})[0]) == link


@pytest.mark.parametrize("key", list(training_presets()))
def test_each_presets_setup_survives_the_link(key):
    cfg = training_presets()[key].config
    form = lab.form_from_config(cfg)
    decoded, warnings = TRAINING_LAB.decode(TRAINING_LAB.encode(form))
    assert warnings == []
    assert lab.config_from_form(decoded).key() == cfg.key()


@pytest.mark.parametrize("link,words", [
    ({"lr": "-3"}, "outside"), ({"lr": "nan"}, "lr"), ({"epochs": "1e9"}, "outside"), ({"opt": "rmsprop"}, "opt"),
    ({"act": "relu,bogus"}, "bogus"), ({"hidden": "12,abc"}, "hidden"), ({"learn": "relu.alpha"}, "learnable"),
    ({"swish.beta": "1e9"}, "swish.beta"), ({"preset": "../etc"}, "preset"), ({"data": "csv"}, "data"),
])
def test_hostile_links_fall_back_to_defaults_with_a_warning(link, words):
    form, warnings = TRAINING_LAB.decode(link)
    assert any(words in w for w in warnings), warnings
    lab.config_from_form(form)  # still a valid setup


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["data", "n", "noise", "act", "hidden", "lr", "mom", "opt", "batch", "epochs",
                                        "es", "patience", "seed", "learn", "swish.beta", "preset", "init", "std"]),
                       st.text(max_size=30), max_size=8))
def test_any_link_decodes_to_a_setup_or_a_clear_message(link):
    form, warnings = TRAINING_LAB.decode(link)
    assert all(isinstance(w, str) for w in warnings)
    try:
        lab.config_from_form(form)
    except InputError as exc:
        assert str(exc)


def test_no_hidden_layer_is_called_a_linear_model_before_start():
    assert any("a linear model: the activation has no effect" in n for n in lab.setup_notes(TrainingForm(hidden="")))
    assert lab.setup_notes(TrainingForm(hidden="8")) == []
    assert lab.setup_notes(TrainingForm(hidden="abc")) == []  # Start explains that one


def test_a_failed_upload_is_what_start_explains():
    form = TrainingForm(dataset="csv", csv_error="broken.csv could not be used: column 'b' is not numeric.")
    with pytest.raises(InputError, match="broken.csv could not be used"):
        lab.config_from_form(form)
    with pytest.raises(InputError, match="upload a CSV"):
        lab.config_from_form(TrainingForm(dataset="csv"))


def test_same_setup_tells_a_changed_form_from_the_job_it_started():
    form = TrainingForm(hidden="4", selected=["relu"], epochs=3)
    cfg = lab.config_from_form(form)
    assert lab.same_setup(form, cfg)
    form.lr = 0.02
    assert not lab.same_setup(form, cfg)


def test_the_checkpoint_panel_says_what_the_file_holds():
    from actviz.activations.choice import choose
    from actviz.data import datasets

    model = models.build_mlp(2, (6, 3), 1, choose("tanh"))
    spec = datasets.DatasetSpec(name="moons", n_samples=500, noise=0.1, seed=2)
    data = checkpoint.save(model, spec, {"optimizer": "adam", "lr": 0.01, "epochs": 30},
                           {"status": "early_stopped", "test_acc": 0.9375, "best_epoch": 21})
    table = lab.checkpoint_table(checkpoint.load(data)).set_index("")["in this file"]
    assert table["activations"] == "Tanh"
    assert table["dataset"].startswith("Moons") and "500 samples" in table["dataset"]
    assert table["layers"] == "2-6-3-1 (2 hidden)"
    assert table["epochs"] == "30 (best epoch 21)" and table["status"] == "early_stopped"
    assert table["test accuracy when saved"] == "93.75%" and table["optimizer"] == "adam lr 0.01"
    assert table["written"].endswith("UTC") and "—" not in table.values
    bare = lab.checkpoint_table(checkpoint.load(checkpoint.save(model)))
    assert (bare.set_index("")["in this file"][["epochs", "status", "test accuracy when saved"]] == "—").all()
