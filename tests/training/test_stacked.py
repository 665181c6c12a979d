"""The stacked engine: a run's history is the same alone, in a race, stacked or not, and equals a plain
PyTorch loop; members that diverge or stop leave the stack without disturbing the others."""

from __future__ import annotations

import math

import pytest
import torch

from actviz.activations.choice import choose, custom
from actviz.data import datasets
from actviz.network import models
from actviz.network.perlayer import PerLayer
from actviz.training.config import TrainConfig
from actviz.training.engine import train


class Recorder:
    def __init__(self):
        self.epochs: dict[int, list] = {}
        self.final: dict[int, tuple] = {}
        self.order: list[tuple[str, int, int]] = []   # ("epoch"|"finished", run, epoch)

    def run_started(self, run):
        pass

    def live_point(self, run, epoch_float, train_loss, progress):
        pass

    def epoch_done(self, run, record, layer_grad_norms, boundary):
        self.epochs.setdefault(run, []).append(record)
        self.order.append(("epoch", run, record.epoch))

    def run_finished(self, run, status, message, summary):
        self.final[run] = (status, message, summary)
        self.order.append(("finished", run, len(self.epochs.get(run, []))))


FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr")


def assert_same_history(a, b, rel=2e-4):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        for f in FIELDS:
            va, vb = getattr(ra, f), getattr(rb, f)
            if math.isnan(va):
                assert math.isnan(vb)
            elif f.endswith("acc"):  # a sample on the boundary may flip with float noise
                assert va == pytest.approx(vb, abs=0.01), f
            else:
                assert va == pytest.approx(vb, rel=rel, abs=1e-6), f


def moons(n=400):
    return datasets.DatasetSpec(name="moons", n_samples=n, noise=0.2, seed=0)


RACE = (choose("relu"), choose("prelu", {"init": 0.25}, ["init"]), custom("x * sigmoid(beta * x)", {"beta": 1.5}),
        choose("swish", {"beta": 1.0}, ["beta"]), PerLayer((choose("tanh"), choose("gelu"))))


@pytest.mark.parametrize("options", [
    {},
    {"dropout": 0.2, "l2": 0.01, "l1": 0.001, "optimizer": "sgd", "lr": 0.05},
])
def test_a_runs_history_is_the_same_alone_in_a_race_and_stacked(options):
    base = {"hidden": (8, 8), "epochs": 4, "seed": 5, "batch_size": 32, "lr": 0.01, **options}
    race = TrainConfig(moons(), RACE, seeds=2, **base)
    stacked, separate = Recorder(), Recorder()
    train(race, stacked, stacked=True)
    train(race, separate, stacked=False)
    for p in race.plan():
        alone_cfg = TrainConfig(moons(), (p.activation,), **{**base, "seed": p.seed})
        alone = Recorder()
        train(alone_cfg, alone)
        assert_same_history(stacked.epochs[p.index], alone.epochs[0])
        assert_same_history(separate.epochs[p.index], alone.epochs[0])
        learned, expected = stacked.final[p.index][2]["learned"], alone.final[0][2]["learned"]
        assert learned.keys() == expected.keys()
        for name in learned:
            assert learned[name] == pytest.approx(expected[name], rel=1e-3)


@pytest.mark.parametrize("optimizer, l1, l2", [("adam", 0.0, 0.0), ("sgd", 0.001, 0.01)])
def test_the_engine_equals_a_plain_pytorch_loop(optimizer, l1, l2):
    """nn.Module + torch.optim on the same batches (randperm from the seed's generator), the penalty
    added to the loss by hand, the splits scored with models.evaluate after every epoch."""
    cfg = TrainConfig(moons(), (choose("tanh"), choose("relu")), hidden=(8, 8), epochs=3, seed=3, batch_size=32,
                      optimizer=optimizer, lr=0.02, momentum=0.9, l1=l1, l2=l2)
    rec = Recorder()
    train(cfg, rec)
    ds = datasets.load(cfg.dataset)
    for i, act in enumerate(cfg.activations):
        model = models.build_mlp(2, (8, 8), 1, act, cfg.init, cfg.seed)
        opt = (torch.optim.Adam(model.parameters(), lr=0.02) if optimizer == "adam"
               else torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9))
        gen = torch.Generator().manual_seed(cfg.seed)
        n = len(ds.x_train)
        for epoch, rec_epoch in enumerate(rec.epochs[i], start=1):
            perm = torch.randperm(n, generator=gen)
            total, count = 0.0, 0
            for b in range(0, n, 32):
                idx = perm[b:b + 32]
                opt.zero_grad()
                loss = models.loss_fn(model(ds.x_train[idx]), ds.y_train[idx])
                penalty = sum(l2 * 0.5 * lin.weight.square().sum() + l1 * lin.weight.abs().sum()
                              for lin in model.linears)
                (loss + penalty).backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            val_loss, val_acc = models.evaluate(model, ds.x_val, ds.y_val)
            test_loss, test_acc = models.evaluate(model, ds.x_test, ds.y_test)
            assert rec_epoch.epoch == epoch
            assert rec_epoch.train_loss == pytest.approx(total / count, rel=2e-4)
            assert rec_epoch.val_loss == pytest.approx(val_loss, rel=2e-4)
            assert rec_epoch.test_loss == pytest.approx(test_loss, rel=2e-4)
            assert rec_epoch.val_acc == pytest.approx(val_acc, abs=0.01)
            assert rec_epoch.test_acc == pytest.approx(test_acc, abs=0.01)


def test_a_diverging_member_leaves_the_stack_and_the_others_are_undisturbed():
    base = {"hidden": (16, 16), "optimizer": "sgd", "lr": 0.5, "momentum": 0.9, "epochs": 6, "seed": 1}
    race = TrainConfig(moons(), (choose("relu"), custom("exp(x)"), choose("tanh")), **base)
    rec = Recorder()
    runs = train(race, rec)
    status, message, summary = rec.final[1]
    assert status == "diverged" and "learning rate" in message
    assert runs[1].model is not None
    for i, act in ((0, choose("relu")), (2, choose("tanh"))):
        alone = Recorder()
        train(TrainConfig(moons(), (act,), **base), alone)
        assert rec.final[i][0] == "done"
        assert_same_history(rec.epochs[i], alone.epochs[0])
    # Reported when it happened, not when the job ended.
    finished_at = rec.order.index(("finished", 1, len(rec.epochs.get(1, []))))
    assert finished_at < len(rec.order) - 3


def test_a_run_whose_loss_explodes_without_nan_is_diverged_and_lists_no_test_accuracy():
    """Issue 10: SGD lr 100 on digits — ReLU's loss reached 1e6 then ~180 (chance is ln 10 = 2.3)."""
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"), choose("tanh")), hidden=(64,),
                      optimizer="sgd", lr=100.0, momentum=0.9, epochs=3, seed=0)
    rec = Recorder()
    train(cfg, rec)
    for run in (0, 1):
        status, message, summary = rec.final[run]
        assert status == "diverged", message
        assert "exploded" in message or "NaN" in message or "infinite" in message
        assert "learning rate (100)" in message
        if not rec.epochs.get(run):
            assert summary["test_acc"] is None and summary["best_epoch"] is None
            assert "no test accuracy" in message


def test_early_stopping_per_member_reports_at_once_and_keeps_its_best_weights():
    base = {"hidden": (8,), "optimizer": "adam", "lr": 0.05, "epochs": 30, "patience": 2, "seed": 4}
    race = TrainConfig(moons(200), (choose("relu"), choose("sigmoid"), choose("tanh")), **base)
    rec = Recorder()
    runs = train(race, rec)
    stopped = [i for i in range(3) if rec.final[i][0] == "early_stopped"]
    assert stopped, "no run stopped early"
    ds = datasets.load(race.dataset)
    for i in range(3):
        alone = Recorder()
        train(TrainConfig(moons(200), (race.activations[i],), **base), alone)
        assert_same_history(rec.epochs[i], alone.epochs[0])
        assert rec.final[i][0] == alone.final[0][0]
        summary = rec.final[i][2]
        best = rec.epochs[i][summary["best_epoch"] - 1]
        # The reported accuracy is that of the weights it keeps, and the model really has them.
        assert summary["test_acc"] == pytest.approx(best.test_acc)
        assert models.evaluate(runs[i].model, ds.x_test, ds.y_test)[1] == pytest.approx(best.test_acc)
    for i in stopped:
        last = len(rec.epochs[i])
        position = rec.order.index(("finished", i, last))
        assert rec.order[position - 1][2] == last  # right after its own last epoch


def test_gated_runs_stack_apart_and_match_their_runs_alone():
    """A gated layer has twice the outputs: gated and element-wise runs train in separate stacks of one job."""
    base = {"hidden": (8, 6), "epochs": 3, "seed": 2, "lr": 0.01}
    race = TrainConfig(moons(), (choose("relu"), choose("swiglu"), choose("glu"), choose("sine")), **base)
    rec = Recorder()
    runs = train(race, rec)
    assert runs[1].model.linears[0].out_features == 16 and runs[0].model.linears[0].out_features == 8
    for i, act in enumerate(race.activations):
        alone = Recorder()
        train(TrainConfig(moons(), (act,), **base), alone)
        assert_same_history(rec.epochs[i], alone.epochs[0])


def test_every_epoch_record_carries_the_learned_parameters_of_its_run():
    cfg = TrainConfig(moons(), (choose("relu"), choose("prelu", {"init": 0.25}, ["init"])), hidden=(8, 8), epochs=3,
                      lr=0.05, seed=0)
    rec = Recorder()
    runs = train(cfg, rec)
    assert all(r.learned == {} for r in rec.epochs[0])
    slopes = [r.learned["init"] for r in rec.epochs[1]]
    assert len(slopes) == 3 and all(len(s) == 2 for s in slopes) and slopes[0] != slopes[-1]
    if rec.final[1][2]["best_epoch"] == 3:  # the model keeps its best epoch's weights
        assert slopes[-1] == pytest.approx([float(a.init.detach()) for a in runs[1].model.acts])
    flat = rec.epochs[1][0].as_dict()
    assert flat["learned_init_L1"] == slopes[0][0] and "learned" not in flat


class WeightSink(Recorder):
    def __init__(self):
        super().__init__()
        self.weights: dict[int, list] = {}
        self.count: dict[int, int] = {}

    def publish_weights(self, run, weights):
        self.weights[run] = weights
        self.count[run] = self.count.get(run, 0) + 1


def test_small_2d_nets_publish_their_weights_for_the_network_view():
    cfg = TrainConfig(moons(), (choose("relu"), choose("tanh")), hidden=(4, 3), epochs=5, seed=0, seeds=2)
    sink = WeightSink()
    runs = train(cfg, sink)
    for p in cfg.plan():
        assert sink.count[p.index] >= 6  # every epoch end and the kept weights at the end
        published = sink.weights[p.index]
        assert [(len(w), len(w[0]), len(b)) for w, b in published] == [(4, 2, 4), (3, 4, 3), (1, 3, 1)]
        for (w, b), lin in zip(published, runs[p.index].model.linears, strict=True):
            assert torch.equal(torch.tensor(w), lin.weight.detach()) and torch.equal(torch.tensor(b), lin.bias.detach())
    big = WeightSink()
    train(TrainConfig(moons(), (choose("relu"),), hidden=(64, 64), epochs=1), big)
    assert big.count == {}, "only small nets publish their weights"
