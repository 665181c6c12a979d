"""The training engine learns, reproduces the seeds' lessons, diverges and cancels cleanly."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import threading
import time
import zipfile

import pytest
import torch

from actviz.activations.choice import choose, custom
from actviz.data import datasets
from actviz.errors import InputError
from actviz.limits import Limits
from actviz.network import checkpoint, models
from actviz.training.engine import TrainConfig, train
from actviz.training.jobs import JobManager, JobStatus


class Recorder:
    """A progress sink that keeps everything, with the time each call arrived."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.live: list[tuple[int, float, float]] = []
        self.epochs: list[tuple[int, dict]] = []
        self.norms: list[tuple[int, list[float]]] = []
        self.boundaries: list[tuple[int, list]] = []
        self.final: dict[int, tuple[str, str, dict]] = {}

    def run_started(self, run):
        pass

    def live_point(self, run, epoch_float, train_loss, progress):
        self.live.append((run, epoch_float, time.monotonic() - self.t0))

    def epoch_done(self, run, record, layer_grad_norms, boundary):
        self.epochs.append((run, record))
        self.norms.append((run, layer_grad_norms))
        if boundary is not None:
            self.boundaries.append((run, boundary))

    def run_finished(self, run, status, message, summary):
        self.final[run] = (status, message, summary)

    def history(self, run):
        return [r for i, r in self.epochs if i == run]


def moons(noise=0.1, n=1000):
    return datasets.DatasetSpec(name="moons", n_samples=n, noise=noise, seed=0)


def test_relu_learns_the_moons():
    cfg = TrainConfig(moons(), (choose("relu"),), hidden=(32, 32), optimizer="adam", lr=0.01, batch_size=64,
                      epochs=30, seed=0)
    rec = Recorder()
    train(cfg, rec)
    status, _, summary = rec.final[0]
    assert status == "done"
    assert summary["test_acc"] >= 0.97
    losses = [r.train_loss for r in rec.history(0)]
    assert losses[-1] < 0.5 * losses[0]


def test_relu_learns_the_digits():
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"),), hidden=(128, 128),
                      optimizer="adam", lr=1e-3, batch_size=64, epochs=10, seed=42)
    rec = Recorder()
    train(cfg, rec)
    assert rec.final[0][2]["test_acc"] >= 0.95


def test_deep_sigmoid_net_with_sgd_learns_far_slower_than_relu():
    """The UvA tutorial's lesson on its 512-256-256-128 net (digits standing in for FashionMNIST)."""
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"), choose("sigmoid")),
                      hidden=(512, 256, 256, 128), optimizer="sgd", lr=1e-2, momentum=0.9, batch_size=256,
                      epochs=12, seed=42)
    rec = Recorder()
    train(cfg, rec)
    relu, sigmoid = rec.final[0][2]["test_acc"], rec.final[1][2]["test_acc"]
    assert relu >= 0.5
    assert sigmoid <= 0.2, "the deep sigmoid net stays near chance (10 classes)"
    # Its first layer's gradient is orders of magnitude below its last layer's.
    last_sigmoid = [n for i, n in rec.norms if i == 1][-1]
    assert last_sigmoid[0] < last_sigmoid[-1] / 100


def test_a_diverging_run_stops_with_an_explanation_and_the_others_go_on():
    cfg = TrainConfig(moons(0.2), (choose("relu"), custom("exp(x)")), hidden=(32, 32), optimizer="sgd",
                      lr=0.5, momentum=0.9, epochs=10, seed=1)
    rec = Recorder()
    train(cfg, rec)
    assert rec.final[0][0] == "done" and len(rec.history(0)) == 10
    status, message, _ = rec.final[1]
    assert status == "diverged"
    assert "learning rate" in message and "NaN" in message
    assert len(rec.history(1)) < 10


def test_training_is_reproducible_and_every_activation_starts_from_the_same_weights():
    cfg = TrainConfig(moons(0.2, 300), (choose("tanh"), choose("gelu")), hidden=(8, 8), epochs=3, seed=7)
    a, b = Recorder(), Recorder()
    runs_a = train(cfg, a)
    train(cfg, b)
    strip = lambda recs: [{k: v for k, v in r.as_dict().items() if k != "seconds"} for _, r in recs]
    assert strip(a.epochs) == strip(b.epochs)
    fresh = [models.build_mlp(2, (8, 8), 1, act, cfg.init, cfg.seed) for act in cfg.activations]
    for l0, l1 in zip(fresh[0].linears, fresh[1].linears, strict=True):
        assert torch.equal(l0.weight, l1.weight) and torch.equal(l0.bias, l1.bias)
    assert not torch.equal(runs_a[0].model.linears[0].weight, runs_a[1].model.linears[0].weight)


def test_running_loss_is_reported_within_the_first_epoch():
    # 28,000 training points one at a time: one epoch takes many times the 0.5 s reporting interval
    # even on a fast machine (the timer cancels the job after 3 s).
    cfg = TrainConfig(moons(0.2, 40000), (choose("relu"),), hidden=(16,), batch_size=1, epochs=1, seed=0)
    rec = Recorder()
    cancel = threading.Event()
    threading.Timer(3.0, cancel.set).start()
    train(cfg, rec, cancel)
    assert rec.live, "no running-loss point was reported"
    assert rec.live[0][1] < 1.0, "the first point came before the first epoch ended"


def test_early_stopping_keeps_the_best_epoch():
    cfg = TrainConfig(moons(0.2, 300), (choose("relu"),), hidden=(8,), optimizer="sgd", lr=1e-6,
                      momentum=0.0, epochs=50, patience=3, seed=0)
    rec = Recorder()
    train(cfg, rec)
    status, message, summary = rec.final[0]
    assert status == "early_stopped" and "stopped early" in message
    assert len(rec.history(0)) == summary["best_epoch"] + 3
    # The test accuracy it reports is that of the weights it keeps: the best validation epoch's.
    assert summary["test_acc"] == pytest.approx(rec.history(0)[summary["best_epoch"] - 1].test_acc)


def test_prelu_learns_its_slope_and_reports_it():
    cfg = TrainConfig(moons(0.2), (choose("prelu", {"init": 0.25}, ["init"]),), hidden=(16, 16),
                      optimizer="adam", lr=0.05, epochs=5, seed=0)
    rec = Recorder()
    runs = train(cfg, rec)
    slopes = rec.final[0][2]["learned"]["init"]
    assert len(slopes) == 2
    assert any(abs(s - 0.25) > 1e-3 for s in slopes)
    assert slopes == [float(a.init.detach()) for a in runs[0].model.acts]


def test_two_dimensional_datasets_get_a_decision_boundary():
    cfg = TrainConfig(moons(0.2, 300), (choose("relu"),), hidden=(8,), epochs=2, seed=0)
    rec = Recorder()
    train(cfg, rec)
    _, grid = rec.boundaries[-1]
    assert len(grid) == 60 and len(grid[0]) == 60
    assert all(0.0 <= v <= 1.0 for row in grid for v in row)


def test_cancel_stops_a_job_within_a_second_and_keeps_its_results():
    mgr = JobManager(Limits(max_running_jobs=1, worker_idle_s=0.5))
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"), choose("tanh")),
                      hidden=(256, 256), batch_size=16, epochs=200, seed=3)
    job_id, _ = mgr.submit(cfg, "alice")
    deadline = time.monotonic() + 60
    while not mgr.snapshot(job_id, "alice").runs[0].history:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    mgr.cancel(job_id, "alice")
    while mgr.snapshot(job_id, "alice").status != JobStatus.CANCELLED:
        assert time.monotonic() - t0 < 1.0, "cancel took more than a second"
        time.sleep(0.01)
    snap = mgr.snapshot(job_id, "alice")
    assert all(r.status == "stopped" and r.history for r in snap.runs)
    assert all(r.summary.get("test_acc") is not None for r in snap.runs)
    mgr.shutdown()


def test_two_sessions_jobs_run_concurrently_without_mixing_results():
    mgr = JobManager(Limits(max_running_jobs=2, worker_idle_s=0.5))
    cfg_a = TrainConfig(moons(0.2, 400), (choose("relu"),), hidden=(8,), epochs=30, seed=1)
    cfg_b = TrainConfig(datasets.DatasetSpec(name="digits", max_train=400), (choose("tanh"),), hidden=(16,),
                        epochs=30, seed=2)
    a, _ = mgr.submit(cfg_a, "alice")
    b, _ = mgr.submit(cfg_b, "bob")
    deadline = time.monotonic() + 120
    while not all(mgr.snapshot(j, s).status == JobStatus.DONE for j, s in ((a, "alice"), (b, "bob"))):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mgr.peak_running == 2
    for job_id, session, cfg in ((a, "alice", cfg_a), (b, "bob", cfg_b)):
        solo = Recorder()
        train(cfg, solo)
        shared = mgr.snapshot(job_id, session).runs[0].history
        # The job trained in a worker process, on one thread for so small a net: sums may be added in
        # another order than here, so losses agree to float precision, not bit for bit.
        flat = lambda rs: [v for r in rs for v in (r.epoch, r.train_loss, r.test_acc)]
        assert flat(shared) == pytest.approx(flat(solo.history(0)), rel=1e-5)
    assert mgr.snapshot(a, "bob") is None and mgr.snapshot(b, "alice") is None
    mgr.shutdown()


# --- checkpoints --------------------------------------------------------------------------------------

def trained_model():
    cfg = TrainConfig(moons(0.2, 300), (choose("swish", {"beta": 1.5}, ["beta"]),), hidden=(8, 4), epochs=3,
                      seed=0)
    return train(cfg, Recorder())[0].model


def test_checkpoints_round_trip():
    model = trained_model()
    data = checkpoint.save(model, moons(0.2, 300), {"note": "test"}, {"test_acc": 0.5})
    loaded = checkpoint.load(data)
    x = torch.randn(50, 2)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    assert loaded.training == {"note": "test"} and loaded.result == {"test_acc": 0.5}
    assert loaded.dataset_spec() == moons(0.2, 300)
    assert loaded.model.activation == model.activation
    assert float(loaded.model.acts[0].beta) == pytest.approx(float(model.acts[0].beta))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/actviz_pwned",))


def _swap_member(data: bytes, name: str, content: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, content if item.filename == name else src.read(item.filename))
    return out.getvalue()


def test_a_tampered_checkpoint_with_a_pickle_payload_is_refused_without_running_it():
    if os.path.exists("/tmp/actviz_pwned"):
        os.remove("/tmp/actviz_pwned")
    good = checkpoint.save(trained_model())
    buf = io.BytesIO()
    torch.save({"linears.0.weight": _Exploit()}, buf)
    for payload in (buf.getvalue(), pickle.dumps(_Exploit())):
        with pytest.raises(InputError, match="refused"):
            checkpoint.load(_swap_member(good, "model.pt", payload))
    assert not os.path.exists("/tmp/actviz_pwned")


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.update(format="other"), "not an actviz checkpoint"),
    (lambda c: c["model"].update(hidden=[8, 5]), "expected"),
    (lambda c: c["model"].update(hidden=[10**6]), "hidden"),
    (lambda c: c["model"].update(activation={"name": "custom", "expression": "__import__('os')"}), "function"),
    (lambda c: c["model"].update(activation={"name": "nope"}), "unknown activation"),
    (lambda c: c["model"].update(n_in="2"), "n_in"),
])
def test_a_checkpoint_config_is_validated(mutate, message):
    good = checkpoint.save(trained_model())
    cfg = json.loads(zipfile.ZipFile(io.BytesIO(good)).read("config.json"))
    mutate(cfg)
    with pytest.raises(InputError, match=message):
        checkpoint.load(_swap_member(good, "config.json", json.dumps(cfg).encode()))


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_garbage_is_not_a_checkpoint(data):
    with pytest.raises(InputError):
        checkpoint.load(data)


def test_non_finite_weights_in_a_checkpoint_are_refused():
    model = trained_model()
    with torch.no_grad():
        model.linears[0].weight[0, 0] = math.nan
    with pytest.raises(InputError, match="NaN"):
        checkpoint.load(checkpoint.save(model))


def test_training_leaves_the_callers_denormal_handling_alone():
    cfg = TrainConfig(moons(0.2, 200), (choose("tanh"),), hidden=(4,), epochs=1, seed=0)
    train(cfg, Recorder())
    assert torch.tensor([1e-40]).item() != 0.0, "flush-to-zero leaked into the calling thread"
