"""Issue 11's engine options, each checked against an independent computation: learning-rate schedules
against torch's schedulers, R² / RMSE / confusion counts against scikit-learn, input features against
their formulas, per-layer activations, dropout, stop conditions, CSV regression."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, mean_squared_error, r2_score

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import features, models
from actviz.network.perlayer import PerLayer
from actviz.training import schedule
from actviz.training.config import TrainConfig, parse_activation_list
from actviz.training.engine import train


class Sink:
    def __init__(self):
        self.records, self.final, self.boundaries = {}, {}, {}

    def run_started(self, run):
        pass

    def live_point(self, *args):
        pass

    def epoch_done(self, run, record, norms, boundary):
        self.records.setdefault(run, []).append(record)
        if boundary is not None:
            self.boundaries[run] = boundary

    def run_finished(self, run, status, message, summary):
        self.final[run] = (status, message, summary)


def moons(n=300):
    return datasets.DatasetSpec(name="moons", n_samples=n, noise=0.2, seed=0)


# --- learning-rate schedules --------------------------------------------------------------------------

def torch_lrs(make, epochs):
    """The learning rate of each epoch under a torch scheduler stepped once per epoch."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("name, make", [
    ("constant", lambda o, total: torch.optim.lr_scheduler.ConstantLR(o, 1.0)),
    ("step", lambda o, total: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("cosine", lambda o, total: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total)),
    ("onecycle", lambda o, total: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=total)),
])
@pytest.mark.parametrize("warmup", [0, 3])
def test_schedules_are_torchs_schedulers(name, make, warmup):
    """After ``warmup`` epochs of torch's LinearLR(1/(W+1) -> 1) ramp, torch's own scheduler over the rest."""
    epochs = 20
    ramp = torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, 1 / (warmup + 1), 1.0, total_iters=warmup),
                     warmup) if warmup else []
    expected = ramp + torch_lrs(lambda o: make(o, epochs - warmup), epochs - warmup)
    cfg = TrainConfig(moons(), (choose("relu"),), hidden=(4,), lr=0.1, epochs=epochs, schedule=name, warmup=warmup,
                      lr_step=3, lr_gamma=0.5)
    ours = [cfg.lr_at(e) for e in range(1, epochs + 1)]
    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_every_epoch_record_carries_the_learning_rate_it_trained_with():
    cfg = TrainConfig(moons(), (choose("relu"), choose("tanh")), hidden=(4,), lr=0.05, epochs=6, schedule="cosine",
                      warmup=1, seed=1)
    sink = Sink()
    train(cfg, sink)
    for run in (0, 1):
        assert [r.lr for r in sink.records[run]] == pytest.approx([cfg.lr_at(e) for e in range(1, 7)])
    assert sink.records[0][0].lr == pytest.approx(0.025) and sink.records[0][1].lr == pytest.approx(0.05)


def test_schedule_options_are_validated():
    with pytest.raises(InputError, match="schedule"):
        TrainConfig(moons(), (choose("relu"),), schedule="exponential")
    with pytest.raises(InputError, match="warm-up"):
        TrainConfig(moons(), (choose("relu"),), epochs=5, warmup=5)
    assert "every 4 epochs" in schedule.describe("step", 2, 4, 0.3) and "warm-up" in schedule.describe("step", 2)


# --- regression and confusion matrices ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["reg_plane", "reg_gaussians"])
def test_regression_reports_r2_and_rmse_of_the_kept_weights(name):
    spec = datasets.DatasetSpec(name=name, n_samples=600, noise=0.0, seed=1)
    cfg = TrainConfig(spec, (choose("tanh"),), hidden=(16, 16), lr=0.01, epochs=25, seed=0)
    sink = Sink()
    runs = train(cfg, sink)
    status, _, summary = sink.final[0]
    ds = datasets.load(spec)
    with torch.no_grad():
        pred = runs[0].model(ds.x_test)[:, 0].numpy()
    truth = ds.y_test.numpy()
    assert summary["test_r2"] == pytest.approx(r2_score(truth, pred), abs=1e-5)
    assert summary["test_rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth, pred)), rel=1e-4)
    assert summary["test_acc"] is None and "confusion" not in summary
    best = sink.records[0][summary["best_epoch"] - 1]
    assert summary["test_r2"] == pytest.approx(best.test_r2, abs=1e-5)
    assert math.isnan(best.test_acc) and math.isnan(best.train_acc)
    if name == "reg_plane":
        assert summary["test_r2"] > 0.9
    # The surface on the plane is the predicted value, not a probability.
    grid = sink.boundaries[0]
    assert len(grid) == 60 and min(min(r) for r in grid) < 0 < max(max(r) for r in grid)


def test_every_classification_run_reports_its_confusion_matrix():
    spec = datasets.DatasetSpec(name="digits")
    cfg = TrainConfig(spec, (choose("relu"), choose("sigmoid")), hidden=(32,), epochs=3, seed=0)
    sink = Sink()
    runs = train(cfg, sink)
    ds = datasets.load(spec)
    for i in (0, 1):
        summary = sink.final[i][2]
        with torch.no_grad():
            pred = models.predict(runs[i].model(ds.x_test)).numpy()
        expected = confusion_matrix(ds.y_test.numpy(), pred, labels=list(range(10)))
        assert np.array_equal(np.array(summary["confusion"]), expected)
        conf = np.array(summary["confusion"])
        assert conf.shape == (10, 10) and np.trace(conf) / conf.sum() == pytest.approx(summary["test_acc"])
        assert conf.sum(axis=1).tolist() == np.bincount(ds.y_test.numpy(), minlength=10).tolist()


def test_binary_confusion_is_two_by_two():
    sink = Sink()
    train(TrainConfig(moons(), (choose("relu"),), hidden=(4,), epochs=2), sink)
    conf = np.array(sink.final[0][2]["confusion"])
    assert conf.shape == (2, 2) and np.trace(conf) / conf.sum() == pytest.approx(sink.final[0][2]["test_acc"])


def test_csv_regression_reports_rmse_in_the_targets_units(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = 1000 + 250 * x[:, 0] - 100 * x[:, 1] + rng.normal(scale=10, size=400)
    rows = "\n".join(f"{a:.5f},{b:.5f},{c:.5f},{t:.4f}" for (a, b, c), t in zip(x, y, strict=True))
    content = ("a,b,c,price\n" + rows + "\n").encode()
    spec = datasets.register_csv(content, "price", task="regression")
    assert spec.task == "regression" and "task=regression" in spec.key()
    cfg = TrainConfig(spec, (choose("identity"),), hidden=(), lr=0.05, epochs=40, seed=0)
    sink = Sink()
    runs = train(cfg, sink)
    summary = sink.final[0][2]
    ds = datasets.load(spec)
    assert ds.y_scale == pytest.approx(np.std(y), rel=0.2)
    with torch.no_grad():
        pred = runs[0].model(ds.x_test)[:, 0].numpy() * ds.y_scale
    truth = ds.y_test.numpy() * ds.y_scale
    assert summary["test_rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth, pred)), rel=1e-3)
    assert summary["test_r2"] > 0.95 and summary["test_rmse"] < 40
    with pytest.raises(InputError, match="non-numeric"):
        datasets.register_csv(b"a,b,label\n" + b"1,2,x\n" * 20, "label", task="regression")


# --- inputs, layers, regularisation, stop conditions ---------------------------------------------------

def test_input_features_are_tf_playgrounds():
    x = torch.tensor([[0.5, -2.0], [3.0, 1.0]])
    names = features.parse("x1,x2,x1^2,x2sq,x1*x2,sin(x1),sinx2")
    assert names == features.NAMES and features.parse("x2, x1") == ()
    expected = torch.stack([x[:, 0], x[:, 1], x[:, 0] ** 2, x[:, 1] ** 2, x[:, 0] * x[:, 1], torch.sin(x[:, 0]),
                            torch.sin(x[:, 1])], 1)
    assert torch.equal(features.expand(x, names), expected)
    model = models.build_mlp(2, (4,), 1, choose("relu"), seed=0, features=("x1x2", "sinx1"))
    assert model.linears[0].in_features == 2 and model.features == ("x1x2", "sinx1")
    with torch.no_grad():
        manual = model.linears[1](torch.relu(model.linears[0](torch.stack([x[:, 0] * x[:, 1], torch.sin(x[:, 0])],
                                                                           1))))
        assert torch.allclose(model(x), manual)
    with pytest.raises(InputError, match="unknown input feature"):
        features.parse("x3")
    with pytest.raises(InputError, match="2-D"):
        TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"),), features=("x1x2",))


def test_circles_need_squares_and_a_linear_model_learns_them_with_x1sq_and_x2sq():
    spec = datasets.DatasetSpec(name="circles", n_samples=400, noise=0.05, seed=0)
    plain, squared = Sink(), Sink()
    base = {"hidden": (), "lr": 0.1, "epochs": 40, "seed": 0}
    train(TrainConfig(spec, (choose("relu"),), **base), plain)
    train(TrainConfig(spec, (choose("relu"),), features=("x1sq", "x2sq"), **base), squared)
    assert plain.final[0][2]["test_acc"] < 0.75 < 0.95 < squared.final[0][2]["test_acc"]


def test_per_layer_activations_apply_one_activation_per_layer():
    acts = parse_activation_list("relu>tanh,swish(beta=2)>sigmoid,tanh")
    assert isinstance(acts[0], PerLayer) and acts[0].name == "relu>tanh" and acts[0].label == "ReLU > Tanh"
    assert acts[1].layers[0].param_dict == {"beta": 2.0}
    model = models.build_mlp(2, (4, 3), 1, acts[0], seed=0)
    x = torch.randn(5, 2)
    with torch.no_grad():
        l0, l1, l2 = model.linears
        assert torch.allclose(model(x), l2(torch.tanh(l1(torch.relu(l0(x))))))
    with pytest.raises(InputError, match="gives 2 activations but the network has 3"):
        TrainConfig(moons(), acts, hidden=(4, 4, 4))
    with pytest.raises(InputError, match="needs a formula"):
        parse_activation_list("relu>custom")


def test_dropout_changes_training_but_not_evaluation():
    base = {"hidden": (32,), "epochs": 3, "seed": 0}
    a, b = Sink(), Sink()
    train(TrainConfig(moons(), (choose("relu"),), **base), a)
    runs = train(TrainConfig(moons(), (choose("relu"),), dropout=0.5, **base), b)
    assert a.records[0][0].train_loss != pytest.approx(b.records[0][0].train_loss, rel=1e-3)
    ds = datasets.load(moons())
    # The reported test loss is the deterministic model's (no units dropped at evaluation).
    assert b.final[0][2]["test_loss"] == pytest.approx(models.evaluate(runs[0].model, ds.x_test, ds.y_test)[0])


def test_l2_shrinks_the_weights():
    base = {"hidden": (32,), "epochs": 5, "seed": 0, "lr": 0.05}
    plain = train(TrainConfig(moons(), (choose("relu"),), **base), Sink())[0].model
    shrunk = train(TrainConfig(moons(), (choose("relu"),), l2=0.05, **base), Sink())[0].model
    norm = lambda m: sum(float(lin.weight.detach().square().sum()) for lin in m.linears)
    assert norm(shrunk) < 0.8 * norm(plain)


def test_stop_conditions_end_a_run_when_reached():
    sink = Sink()
    train(TrainConfig(moons(), (choose("relu"), choose("sigmoid")), hidden=(16,), lr=0.05, epochs=60,
                      stop_val_acc=0.8, seed=0), sink)
    for run in (0, 1):
        status, message, summary = sink.final[run]
        last = sink.records[run][-1]
        assert status == "done" and last.val_acc >= 0.8 and "stop condition" in message
        assert all(r.val_acc < 0.8 for r in sink.records[run][:-1])
    sink = Sink()
    train(TrainConfig(datasets.DatasetSpec(name="reg_plane", n_samples=400), (choose("tanh"),), hidden=(8,),
                      lr=0.02, epochs=80, stop_loss=0.01, seed=0), sink)
    assert sink.records[0][-1].train_loss <= 0.01 < sink.records[0][-2].train_loss
    assert len(sink.records[0]) < 80
    with pytest.raises(InputError, match="no accuracy"):
        TrainConfig(datasets.DatasetSpec(name="reg_plane"), (choose("tanh"),), stop_val_acc=0.9)
