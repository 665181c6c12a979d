"""``train --preset NAME`` for every preset, and options typed after it override the preset's (nothing is
trained here: the config ``train`` would run is captured)."""

from __future__ import annotations

import pytest

from actviz import cli
from actviz.views import lessons, preset_args


@pytest.fixture
def run(monkeypatch):
    """``run(*argv)`` -> (the TrainConfig train would train, the extra JSON fields)."""
    captured = []
    monkeypatch.setattr(cli, "_train_and_report", lambda args, cfg, spec, extra: captured.append((cfg, extra)) or 0)

    def call(*argv: str):
        assert cli.main(["train", *argv]) == 0
        return captured[-1]

    return call


@pytest.mark.parametrize("key", list(lessons.training_presets()))
def test_every_preset_runs_exactly_its_config(run, key):
    cfg, extra = run("--preset", key)
    assert cfg.key() == lessons.training_preset(key).config.key()
    assert extra["preset"] == key and "adapted" in extra


@pytest.mark.parametrize("key", list(lessons.training_presets()))
def test_the_options_of_a_preset_rebuild_it(key):
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    tokens = preset_args.argv_of(lessons.training_preset(key).config, set(train._option_string_actions))
    assert "--preset" not in tokens and tokens.count("--activations") == 1


def test_a_typed_option_replaces_only_that_setting(run):
    base = lessons.training_preset("moons-sigmoid").config
    cfg, _ = run("--preset", "moons-sigmoid", "--epochs", "20")
    assert cfg.epochs == 20
    assert cfg.key() == base.key().replace('"epochs":1000', '"epochs":20')


def test_typing_the_parsers_default_still_overrides_the_preset(run):
    # --lr's default is 1e-3; typed explicitly it must win over the preset's 0.2
    cfg, _ = run("--preset", "moons-sigmoid", "--lr", "0.001", "--batch-size", "64")
    assert cfg.lr == 0.001 and cfg.batch_size == 64
    assert cfg.hidden == (5,) and cfg.optimizer == "sgd" and cfg.init.name == "normal"


def test_other_activations_drop_the_presets_activation_parameters(run):
    cfg, _ = run("--preset", "demo", "--activations", "relu,elu")
    assert [a.name for a in cfg.activations] == ["relu", "elu"]
    cfg, _ = run("--preset", "demo", "--param", "swish.beta=2")
    swish = next(a for a in cfg.activations if a.name == "swish")
    assert dict(swish.params)["beta"] == 2.0 and len(cfg.activations) == 5


def test_an_unknown_preset_names_the_known_ones(capsys):
    assert cli.main(["train", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset" in err and "moons-sigmoid" in err


def test_bad_overrides_are_refused_like_any_option(capsys):
    assert cli.main(["train", "--preset", "demo", "--epochs", "0"]) == 2
    assert "epochs" in capsys.readouterr().err
