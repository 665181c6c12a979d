"""``train --preset``: the published experiments keep their lesson on the digits stand-in, and run unchanged
when the real files are there.

These train real nets (about 20 s for the nine-activation preset on one core).  Each runs in a subprocess
with one torch thread: on a machine whose two cores are shared, torch's own two threads wait on each
other and the same run takes several times longer, with the same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from actviz.views import lessons
from tests.data.test_datasets import write_set


def _train(repo_root, data_dir, *args: str, timeout: float = 300) -> dict:
    env = {**os.environ, "ACTVIZ_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "actviz", "train", *args, "--json"], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _accuracies(out: dict) -> dict[str, float]:
    return {name: run["test_acc"] for name, run in out["runs"].items()}


@pytest.mark.slow
def test_fashion_nine_on_digits_keeps_its_lesson(repo_root, tmp_path):
    out = _train(repo_root, tmp_path, "--preset", "fashion-mnist-nine")
    assert out["preset"] == "fashion-mnist-nine"
    adapted = out["adapted"]
    assert adapted["dataset"] == {"published": "fashion_mnist", "used": "digits"}
    assert adapted["batch_size"] == {"published": 256, "used": out["config"]["batch_size"]}
    # What the adaptation is for: enough optimizer steps per epoch, and patience spanning enough of them.
    steps = adapted["steps_per_epoch"]["used"]
    assert steps >= lessons.MIN_STEPS_PER_EPOCH and adapted["steps_per_epoch"]["published"] == 196
    assert out["config"]["patience"] * steps >= lessons.MIN_PATIENCE_STEPS
    assert out["config"]["dataset"].startswith("digits")
    # Everything else as published.
    cfg = out["config"]
    assert (cfg["hidden"], cfg["optimizer"], cfg["lr"], cfg["momentum"], cfg["epochs"], cfg["seed"]) == (
        [512, 256, 256, 128], "sgd", 0.01, 0.9, 50, 42)
    acc = _accuracies(out)
    assert len(acc) == 9
    assert acc.pop("sigmoid") <= 0.20
    assert all(a >= 0.85 for a in acc.values()), acc


@pytest.mark.slow
def test_mnist_mlp_on_digits_keeps_its_lesson(repo_root, tmp_path):
    out = _train(repo_root, tmp_path, "--preset", "mnist-mlp")
    assert out["adapted"]["dataset"] == {"published": "mnist", "used": "digits"}
    assert out["adapted"]["batch_size"]["published"] == 64
    acc = _accuracies(out)
    assert len(acc) == 4 and all(a >= 0.90 for a in acc.values()), acc


def test_with_the_real_files_the_published_settings_run_unchanged(repo_root, tmp_path):
    write_set(tmp_path / "mnist")  # a small but well-formed MNIST
    out = _train(repo_root, tmp_path, "--preset", "mnist-mlp")
    assert out["adapted"] == {}
    cfg = out["config"]
    assert cfg["dataset"].startswith("mnist")
    assert (cfg["hidden"], cfg["optimizer"], cfg["lr"], cfg["batch_size"], cfg["epochs"], cfg["seed"]) == (
        [128, 128], "adam", 0.001, 64, 10, 42)
    assert [run["status"] for run in out["runs"].values()] == ["done"] * 4
    assert all(len(run["history"]) == 10 for run in out["runs"].values())


def test_adaptation_rule_on_the_stand_in(tmp_path):
    """The note on the page says exactly what the JSON says changed; the demo races are never adapted."""
    presets = lessons.training_presets(str(tmp_path))
    fashion = presets["fashion-mnist-nine"]
    used_batch = fashion.adapted["batch_size"]["used"]
    assert fashion.config.batch_size == used_batch < 256
    assert f"batch 256 → {used_batch}" in fashion.fallback_note
    assert f"patience stays {fashion.config.patience} epochs" in fashion.fallback_note
    assert "steps" in fashion.fallback_note and "digits" in fashion.fallback_note
    # Halving stops as soon as an epoch has enough steps: the batch before it had too few.
    n = fashion.adapted["steps_per_epoch"]["used"] * used_batch
    assert -(-n // (2 * used_batch)) < lessons.MIN_STEPS_PER_EPOCH
    for key in ("demo", "moons-sigmoid"):
        assert presets[key].adapted == {} and presets[key].fallback_note == ""


def test_patience_is_raised_when_an_epoch_is_short(tmp_path):
    """A stand-in too small for MIN_STEPS_PER_EPOCH even at the smallest batch gets a longer patience."""
    base = lessons.training_presets(str(tmp_path))["fashion-mnist-nine"].config
    from dataclasses import replace
    big_batch_floor = replace(base, batch_size=512, patience=2)
    cfg, adapted, note = lessons.adapt_to_stand_in(big_batch_floor, "fashion_mnist", data_dir=str(tmp_path))
    steps = adapted["steps_per_epoch"]["used"]
    assert cfg.patience * steps >= lessons.MIN_PATIENCE_STEPS > (cfg.patience - 1) * steps
    assert adapted["patience"] == {"published": 2, "used": cfg.patience}
    assert f"patience 2 → {cfg.patience} epochs" in note


def test_unknown_preset_is_one_clear_line(repo_root, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "actviz", "train", "--preset", "fashion"], cwd=repo_root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "actviz: error: unknown preset 'fashion'; choose one of demo, mnist-mlp, fashion-mnist-nine, moons-sigmoid"]
