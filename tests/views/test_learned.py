"""Issue 13 item 3: learnable activation parameters per epoch and the learned shape, checked against the
trained networks themselves (their nn.Parameters and their activation modules' outputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actviz.activations.choice import ActivationChoice, choose
from actviz.data import datasets
from actviz.network.perlayer import PerLayer
from actviz.training.config import RunProgress, TrainConfig
from actviz.training.engine import train
from actviz.training.jobs import JobSnapshot, JobStatus
from actviz.views import learned


class Sink:
    def __init__(self, n):
        self.history = [[] for _ in range(n)]

    def run_started(self, run):
        pass

    def live_point(self, *args):
        pass

    def epoch_done(self, run, record, norms, boundary):
        self.history[run].append(record)

    def run_finished(self, run, status, message, summary):
        pass


@pytest.fixture(scope="module")
def trained():
    """Three runs on moons, 6-5: PReLU learning its slope, ReLU learning nothing, and Swish > DyT per layer
    (layer 1 learns Swish's beta, layer 2 DyT's alpha)."""
    acts = (choose("prelu", learnable=("init",)), choose("relu"),
            PerLayer((choose("swish", {"beta": 1.5}, ("beta",)), choose("dyt", learnable=("alpha",)))))
    cfg = TrainConfig(datasets.DatasetSpec(name="moons", n_samples=300, noise=0.2, seed=0), acts, hidden=(6, 5),
                      epochs=4, lr=0.05, optimizer="adam", seed=3)
    sink = Sink(len(acts))
    runs = train(cfg, sink)
    progress = [RunProgress(a.label, a.key, history=h) for a, h in zip(acts, sink.history, strict=True)]
    job = JobSnapshot("j", JobStatus.DONE, cfg, progress, None, 0.0, 0.0, 1.0, None, 1, 9)
    return job, [r.model for r in runs], [r.best_epoch for r in runs]


def test_only_runs_with_learnable_parameters_learn(trained):
    job, _, _ = trained
    assert learned.learns(job.config)
    assert [layer for layer, _ in learned.learning_layers(job.config, 0)] == [0, 1]
    assert learned.learning_layers(job.config, 1) == []
    assert [(layer, c.name) for layer, c in learned.learning_layers(job.config, 2)] == [(0, "swish"), (1, "dyt")]
    plain = TrainConfig(job.config.dataset, (choose("relu"), choose("swish")), hidden=(4,))
    assert not learned.learns(plain)


def test_traces_start_at_the_configured_value_and_end_at_the_trained_parameters(trained):
    job, models, best = trained
    got = {(t.run, t.param, t.layer): t for t in learned.traces(job)}
    assert set(got) == {(0, "init", 0), (0, "init", 1), (2, "beta", 0), (2, "alpha", 1)}
    for t in got.values():
        assert t.epochs == [0, 1, 2, 3, 4]
    assert got[(0, "init", 0)].values[0] == pytest.approx(0.25)   # PReLU's default slope
    assert got[(2, "beta", 0)].values[0] == pytest.approx(1.5)    # the configured beta
    assert got[(2, "alpha", 1)].values[0] == pytest.approx(0.5)   # DyT's default alpha
    # The trained network keeps the weights of its best validation epoch: there, each trace holds that
    # network's own parameter of that layer.
    def kept(param, run, layer):
        return float(getattr(models[run].acts[layer], param).detach())

    assert got[(0, "init", 0)].values[best[0]] == pytest.approx(kept("init", 0, 0))
    assert got[(0, "init", 1)].values[best[0]] == pytest.approx(kept("init", 0, 1))
    assert got[(2, "beta", 0)].values[best[2]] == pytest.approx(kept("beta", 2, 0))
    assert got[(2, "alpha", 1)].values[best[2]] == pytest.approx(kept("alpha", 2, 1))
    assert got[(2, "beta", 0)].values[-1] != pytest.approx(1.5)   # it did learn


def test_the_learned_shape_is_what_the_trained_layer_computes(trained):
    job, models, best = trained
    frames = learned.shapes(job, 2)
    assert frames.layers == [0, 1] and frames.epochs == [0, 1, 2, 3, 4]
    x = torch.tensor(frames.x, dtype=torch.float64)
    with torch.no_grad():
        for j in range(2):
            layer_out = models[2].acts[j].double()(x).numpy()
            np.testing.assert_allclose(frames.curves[frames.epochs.index(best[2])][j], layer_out, rtol=1e-5, atol=1e-6)
    # Epoch 0 is the untrained activation: Swish with beta 1.5, x·σ(1.5x), computed here independently.
    swish = x.numpy() / (1 + np.exp(-1.5 * x.numpy()))
    np.testing.assert_allclose(frames.curves[0][0], swish, rtol=1e-9)
    assert learned.shapes(job, 1) is None


def test_frames_keep_the_first_and_last_epoch_and_at_most_the_limit():
    assert learned.frame_epochs(list(range(5)), 41) == [0, 1, 2, 3, 4]
    picked = learned.frame_epochs(list(range(301)), 41)
    assert len(picked) <= 41 and picked[0] == 0 and picked[-1] == 300 and picked == sorted(set(picked))


def test_figures_show_every_trace_and_animate_the_shape_over_epochs(trained):
    job, _, _ = trained
    fig = learned.parameter_figure(job)
    lines = [(d.meta["run"], d.meta["param"], d.meta["layer"]) for d in fig.data]
    assert sorted(lines) == sorted([(0, "init", 0), (0, "init", 1), (2, "beta", 0), (2, "alpha", 1)])
    for d in fig.data:
        t = next(t for t in learned.traces(job) if (t.run, t.param, t.layer) == (d.meta["run"], d.meta["param"],
                                                                                   d.meta["layer"]))
        assert list(d.y) == pytest.approx(t.values)
    shape = learned.shape_figure(job, 2)
    assert [f.name for f in shape.frames] == ["0", "1", "2", "3", "4"]
    frames = learned.shapes(job, 2)
    assert np.asarray(shape.frames[2].data[1].y) == pytest.approx(np.asarray(frames.curves[2][1]), rel=1e-5)
    assert shape.layout.sliders[0].active == 4


def test_a_custom_choice_never_learns():
    cfg = TrainConfig(datasets.DatasetSpec(name="moons"), (ActivationChoice("custom", (), "x*sigmoid(x)"),),
                      hidden=(4,))
    assert learned.learning_layers(cfg, 0) == []
