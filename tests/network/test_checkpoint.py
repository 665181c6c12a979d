"""One checkpoint schema: what the training lab and ``train --save`` write, ``evaluate`` reads back."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from actviz import cli
from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import checkpoint, models
from actviz.training.config import TrainConfig
from actviz.training.jobs import JobManager, JobStatus
from actviz.views import training_lab


def _train_and_save(tmp_path, capsys, *extra: str) -> dict:
    args = ["train", "--dataset", "moons", "--samples", "400", "--activations", "relu,tanh", "--hidden", "8",
            "--epochs", "3", "--seed", "3", "--save", str(tmp_path), "--json", *extra]
    assert cli.main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_reproduces_the_test_accuracy_train_reported(tmp_path, capsys):
    report = _train_and_save(tmp_path, capsys, "--patience", "2")
    for i, name in enumerate(("relu", "tanh")):
        assert cli.main(["evaluate", str(tmp_path / f"{name}_{i}.zip"), "--json"]) == 0
        scored = json.loads(capsys.readouterr().out)
        assert scored["test_acc"] == pytest.approx(report["runs"][name]["test_acc"], abs=1e-12)
        cfg = scored["config"]
        assert cfg["dataset"]["fields"]["n_samples"] == 400 and cfg["model"]["hidden"] == [8]
        assert cfg["result"]["test_acc"] == pytest.approx(scored["test_acc"]) and cfg["training"]["epochs"] == 3
        assert "data_dir" not in json.dumps(cfg["dataset"])


def test_the_pages_checkpoint_has_the_same_schema_and_scores_the_same(tmp_path, capsys):
    cfg = TrainConfig(datasets.DatasetSpec("moons", n_samples=400, seed=1), (choose("relu"),), hidden=(8,), epochs=3,
                      seed=3)
    mgr = JobManager()
    job_id, _ = mgr.submit(cfg, "alice")
    for _ in range(600):
        snap = mgr.snapshot(job_id, "alice")
        if snap.status.finished:
            break
        time.sleep(0.05)
    assert snap.status == JobStatus.DONE
    page_bytes = training_lab.checkpoint_bytes(snap, 0, mgr.model(job_id, "alice", 0))
    mgr.shutdown()
    (tmp_path / "page.zip").write_bytes(page_bytes)
    assert cli.main(["evaluate", str(tmp_path / "page.zip"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["test_acc"] == pytest.approx(snap.runs[0].summary["test_acc"], abs=1e-12)
    cli_report = _train_and_save(tmp_path, capsys)
    cli_cfg = checkpoint.load((tmp_path / "relu_0.zip").read_bytes()).config
    assert set(cli_cfg) == set(scored["config"]) == {"format", "version", "written", "model", "dataset", "training",
                                                        "result"}
    assert set(cli_cfg["dataset"]) == set(scored["config"]["dataset"]) == {"spec", "name", "fields"}
    assert cli_report["runs"]["relu"]["status"] == cli_cfg["result"]["status"] == "done"


def test_a_checkpoint_that_names_its_dataset_only_by_key_still_scores(tmp_path, capsys):
    _train_and_save(tmp_path, capsys)
    raw = (tmp_path / "relu_0.zip").read_bytes()
    src = zipfile.ZipFile(io.BytesIO(raw))
    config = json.loads(src.read("config.json"))
    config["dataset"] = {"spec": config["dataset"]["spec"]}  # what older `train --save` wrote
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("model.pt", src.read("model.pt"))
    loaded = checkpoint.load(out.getvalue())
    assert loaded.dataset_spec() == datasets.DatasetSpec("moons", n_samples=400, noise=0.2, seed=0)
    assert 0.5 <= checkpoint.evaluate(loaded)["test_acc"] <= 1.0


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_evaluate_refuses_broken_files_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.zip"
    path.write_bytes(content)
    assert cli.main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("actviz: error:") and err.count("\n") == 1
    assert cli.main(["evaluate", str(tmp_path / "missing.zip")]) == 2
    assert cli.main(["evaluate", str(tmp_path)]) == 2


def test_a_checkpoint_without_a_dataset_cannot_be_scored(tmp_path):
    model = models.build_mlp(2, (4,), 1, choose("relu"))
    loaded = checkpoint.load(checkpoint.save(model))
    with pytest.raises(InputError, match="which dataset"):
        checkpoint.evaluate(loaded)
