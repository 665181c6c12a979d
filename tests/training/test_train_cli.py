"""``python -m actviz train``: seeds with summaries and a verdict, regression, per-layer activations,
statuses, and checkpoints of every new kind that ``evaluate`` scores the same."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actviz import cli


def run(capsys, *args: str) -> dict:
    assert cli.main(["train", "--json", *args]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_seeds_give_one_run_per_activation_and_seed_and_a_summary(capsys):
    out = run(capsys, "--activations", "relu,tanh", "--hidden", "8", "--epochs", "3", "--seeds", "3",
              "--samples", "300", "--seed", "10")
    assert list(out["runs"]) == [f"{a}@seed{s}" for a in ("relu", "tanh") for s in (10, 11, 12)]
    assert out["config"]["seeds"] == 3
    for name in ("relu", "tanh"):
        accs = [out["runs"][f"{name}@seed{s}"]["test_acc"] for s in (10, 11, 12)]
        s = out["summary"][name]
        assert s["seeds"] == 3 and s["test_acc_mean"] == pytest.approx(np.mean(accs))
        assert s["test_acc_std"] == pytest.approx(np.std(accs, ddof=1))
        assert s["test_acc_ci95"][0] <= s["test_acc_mean"] <= s["test_acc_ci95"][1]
        for seed in (10, 11, 12):
            run_ = out["runs"][f"{name}@seed{seed}"]
            assert run_["activation"] == name and run_["seed"] == seed and run_["status"] == "done"
            conf = np.array(run_["confusion"])
            assert np.trace(conf) / conf.sum() == pytest.approx(run_["test_acc"])
    assert out["verdict"]["n"] == 3 and out["verdict"]["beyond_noise"] in (True, False)
    assert out["verdict"]["leader"] in ("relu", "tanh") and "seed" in out["verdict"]["text"]
    # Seed s gives every activation the same initial weights: the same seed alone reproduces the run.
    alone = run(capsys, "--activations", "tanh", "--hidden", "8", "--epochs", "3", "--samples", "300", "--seed", "11")
    assert alone["runs"]["tanh"]["history"][-1]["train_loss"] == pytest.approx(
        out["runs"]["tanh@seed11"]["history"][-1]["train_loss"], rel=1e-4)


def test_one_seed_keeps_the_old_keys(capsys):
    out = run(capsys, "--activations", "relu", "--hidden", "4", "--epochs", "2", "--samples", "200")
    r = out["runs"]["relu"]
    for key in ("status", "history", "test_acc", "best_epoch", "dead_fraction", "learned", "message"):
        assert key in r
    assert {"epoch", "train_loss", "train_acc", "val_acc", "test_loss", "test_acc", "seconds", "lr"} <= set(
        r["history"][0])
    assert out["summary"]["relu"]["test_acc_std"] is None and out["verdict"]["beyond_noise"] is None


def test_regression_per_layer_features_schedule_and_evaluate(capsys, tmp_path):
    out = run(capsys, "--dataset", "reg_plane", "--samples", "400", "--activations", "tanh>relu,tanh",
              "--hidden", "8,8", "--epochs", "6", "--lr", "0.02", "--features", "x1,x2,x1x2", "--schedule", "step",
              "--lr-step", "2", "--lr-gamma", "0.5", "--l2", "0.001", "--dropout", "0.1", "--save", str(tmp_path))
    per_layer = out["runs"]["tanh>relu"]
    assert per_layer["test_r2"] is not None and per_layer["test_acc"] is None and per_layer["test_rmse"] > 0
    assert [h["lr"] for h in per_layer["history"]] == pytest.approx([0.02, 0.02, 0.01, 0.01, 0.005, 0.005])
    assert out["summary"]["tanh"]["test_r2_mean"] == pytest.approx(out["runs"]["tanh"]["test_r2"])
    assert out["verdict"]["metric"] == "test_r2"
    assert cli.main(["evaluate", str(tmp_path / "tanh-relu_0.zip"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["test_r2"] == pytest.approx(per_layer["test_r2"], abs=1e-6)
    assert scored["config"]["model"]["features"] == ["x1", "x2", "x1x2"]
    assert scored["config"]["model"]["activation"]["layers"][1]["name"] == "relu"


def test_csv_regression_from_the_command_line(capsys, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    lines = ["u,v,target"] + [f"{a:.4f},{b:.4f},{3 * a - b:.4f}" for a, b in x]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    out = run(capsys, "--csv", str(path), "--label", "target", "--task", "regression", "--activations", "identity",
              "--hidden", "", "--epochs", "30", "--lr", "0.05", "--save", str(tmp_path))
    assert out["runs"]["identity"]["test_r2"] > 0.99
    assert cli.main(["evaluate", str(tmp_path / "identity_0.zip"), "--csv", str(path), "--label", "target",
                     "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["test_r2"] == pytest.approx(out["runs"]["identity"]["test_r2"], abs=1e-6)


def test_a_custom_formula_races_and_stops_early_with_its_status(capsys):
    out = run(capsys, "--activations", "relu", "--expr", "x * sigmoid(beta * x)", "--param", "custom.beta=2",
              "--hidden", "8", "--epochs", "40", "--patience", "2", "--lr", "0.05", "--samples", "200")
    assert set(out["runs"]) == {"relu", "custom[x * sigmoid(beta * x)](beta=2.0)"}
    for r in out["runs"].values():
        assert r["status"] in ("early_stopped", "done")
        if r["status"] == "early_stopped":
            assert r["test_acc"] == pytest.approx(r["history"][r["best_epoch"] - 1]["test_acc"])


@pytest.mark.parametrize("args, fragment", [
    (["--seeds", "11"], "seeds"),
    (["--seeds", "0"], "seeds"),
    (["--dropout", "0.95"], "dropout"),
    (["--l2", "-1"], "L2"),
    (["--schedule", "linear"], "schedule"),
    (["--features", "x9"], "unknown input feature"),
    (["--dataset", "digits", "--features", "x1x2"], "2-D"),
    (["--task", "regression"], "regression needs"),
    (["--activations", "relu>tanh>relu"], "gives 3 activations"),
    (["--activations", "relu>"], "one activation per hidden layer"),
    (["--stop-acc", "2"], "stop at"),
    (["--warmup", "5", "--epochs", "5"], "warm-up"),
])
def test_bad_train_options_give_one_clean_line(capsys, args, fragment):
    base = ["train", "--activations", "relu", "--hidden", "4,4", "--epochs", "3"]
    code = cli.main(base + args)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err


def test_an_interrupted_train_goes_on_from_its_resume_points_with_the_same_history(capsys, tmp_path, monkeypatch):
    from actviz.training import resume
    from actviz.views import train_report

    args = ["--activations", "relu,rrelu", "--hidden", "8", "--epochs", "4", "--samples", "300", "--seed", "4",
            "--dropout", "0.1", "--seeds", "2"]
    straight = run(capsys, *args)
    monkeypatch.setattr(resume, "EVERY_S", 0.0)   # a resume point at the first epoch boundary
    printed = train_report.ProgressPrinter.epoch_done

    def interrupted(self, run_, record, *rest):  # Ctrl-C during epoch 2's report
        printed(self, run_, record, *rest)
        if record.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_report.ProgressPrinter, "epoch_done", interrupted)
    assert cli.main(["train", "--json", *args, "--resume-dir", str(tmp_path)]) == 130
    capsys.readouterr()
    assert len(list(tmp_path.glob("*.resume.zip"))) == 4
    monkeypatch.setattr(train_report.ProgressPrinter, "epoch_done", printed)

    assert cli.main(["train", "--json", *args, "--resume-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "going on from epoch 1" in captured.err
    resumed = json.loads(captured.out)
    assert list(resumed["runs"]) == list(straight["runs"])
    for name, expected in straight["runs"].items():
        got = resumed["runs"][name]["history"]
        assert [h["epoch"] for h in got] == [1, 2, 3, 4]
        for a, b in zip(expected["history"], got, strict=True):
            assert {k: v for k, v in b.items() if k != "seconds"} == \
                {k: v if v is None else pytest.approx(v, rel=1e-5) for k, v in a.items() if k != "seconds"}
    assert not list(tmp_path.glob("*.resume.zip"))   # finished: the next run trains anew

    (tmp_path / "x").mkdir()
    monkeypatch.setattr(train_report.ProgressPrinter, "epoch_done", interrupted)
    assert cli.main(["train", "--json", *args, "--resume-dir", str(tmp_path / "x")]) == 130
    monkeypatch.setattr(train_report.ProgressPrinter, "epoch_done", printed)
    for path in (tmp_path / "x").glob("*.resume.zip"):
        path.write_bytes(b"damaged")
    capsys.readouterr()
    assert cli.main(["train", "--json", *args, "--resume-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "saved training state is damaged" in err and "delete the .resume.zip files" in err
