"""Presets on the pages (AppTest): a preset that falls back to the digits stand-in says what it changed,
and the form holds exactly the adapted settings; with the real files the published ones."""

from __future__ import annotations

import pytest

from tests.app.helpers import assert_clean, open_page
from tests.data.test_datasets import write_set

LAB = "app_pages/training_lab.py"


def _load_preset(key: str):
    at = open_page(LAB)
    at.selectbox(key="t_preset_choice").set_value(key).run()
    at.button(key="t_load_preset").click().run()
    assert_clean(at)
    return at


def test_stand_in_preset_says_what_it_changed(monkeypatch, tmp_path):
    monkeypatch.setenv("ACTVIZ_DATA_DIR", str(tmp_path))  # no dataset files
    at = _load_preset("fashion-mnist-nine")
    ss = at.session_state
    assert ss["t_data"] == "digits" and ss["t_batch"] == 32 and ss["t_patience"] == 7 and ss["t_epochs"] == 50
    note = " ".join(i.value for i in at.info)
    assert "digits stand in" in note and "batch 256 → 32" in note and "patience stays 7 epochs" in note


def test_with_the_files_the_preset_is_as_published(monkeypatch, tmp_path):
    write_set(tmp_path / "fashion_mnist")
    monkeypatch.setenv("ACTVIZ_DATA_DIR", str(tmp_path))
    at = _load_preset("fashion-mnist-nine")
    ss = at.session_state
    assert ss["t_data"] == "fashion_mnist" and ss["t_batch"] == 256 and ss["t_patience"] == 7
    note = " ".join(i.value for i in at.info)
    assert "stand in" not in note and "UvA Deep Learning tutorial 3" in note


@pytest.mark.parametrize("key", ["demo", "moons-sigmoid"])
def test_synthetic_presets_are_never_adapted(monkeypatch, tmp_path, key):
    monkeypatch.setenv("ACTVIZ_DATA_DIR", str(tmp_path))
    at = _load_preset(key)
    assert not any("stand in" in i.value for i in at.info)
