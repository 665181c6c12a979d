"""The training lab's form table: every engine option has a field, a link key and a validated config;
a job's runs per seed and the race summary the page shows."""

from __future__ import annotations

import time

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network.perlayer import PerLayer
from actviz.training.config import TrainConfig
from actviz.training.jobs import JobManager, JobStatus
from actviz.views import network_view, race_stats
from actviz.views import training_lab as lab


def test_every_engine_option_round_trips_through_the_link_and_the_form():
    form = lab.TrainingForm(dataset="reg_gaussians", hidden="8,8", selected=["tanh"], layer_items="relu>tanh",
                            seeds=3, features=["x1", "x2", "x1x2"], l1=0.001, l2=0.01, dropout=0.2,
                            schedule="step", warmup=2, lr_step=5, lr_gamma=0.3, stop_on_loss=True, stop_loss=0.02)
    link = lab.TRAINING_LAB.encode(form)
    for key in ("seeds", "layers", "feat", "l1", "l2", "dropout", "sched", "warmup", "lrstep", "lrgamma", "sloss",
                "slossv"):
        assert key in link, key
    decoded, warnings = lab.TRAINING_LAB.decode(link)
    assert not warnings
    cfg = lab.config_from_form(decoded)
    assert cfg.seeds == 3 and cfg.features == ("x1", "x2", "x1x2") and (cfg.l1, cfg.l2, cfg.dropout) == (0.001,
                                                                                                         0.01, 0.2)
    assert (cfg.schedule, cfg.warmup, cfg.lr_step, cfg.lr_gamma, cfg.stop_loss) == ("step", 2, 5, 0.3, 0.02)
    assert cfg.activations[0] == choose("tanh") and isinstance(cfg.activations[1], PerLayer)
    again = lab.config_from_form(lab.form_from_config(cfg))
    assert again.key() == cfg.key()


@pytest.mark.parametrize("query, fragment", [
    ({"seeds": "40"}, "seeds"), ({"dropout": "3"}, "dropout"), ({"sched": "zigzag"}, "sched"),
    ({"feat": "x1,bogus"}, "unknown input feature"), ({"layers": "relu>nope"}, "per-layer"),
])
def test_hostile_links_fall_back_with_a_warning(query, fragment):
    form, warnings = lab.TRAINING_LAB.decode(query)
    assert any(fragment in w for w in warnings)
    lab.config_from_form(form)


def test_a_custom_formula_in_a_per_layer_item():
    form = lab.TrainingForm(selected=["relu"], custom_expr="x * sigmoid(x)", layer_items="custom>tanh")
    acts = lab.activations_from_form(form)
    assert len(acts) == 2 and acts[1].layers[0].is_custom  # used in the item: not raced on its own too
    with pytest.raises(InputError, match="needs a formula"):
        lab.activations_from_form(lab.TrainingForm(layer_items="custom>tanh"))


def test_a_job_with_seeds_has_a_run_per_activation_and_seed_and_a_summary_in_words():
    cfg = TrainConfig(datasets.DatasetSpec(name="moons", n_samples=300), (choose("relu"), choose("sigmoid")),
                      hidden=(8,), epochs=4, lr=0.05, seeds=3, seed=0)
    mgr = JobManager()
    job_id, _ = mgr.submit(cfg, "alice")
    deadline = time.monotonic() + 120
    while not (snap := mgr.snapshot(job_id, "alice")).status.finished:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    mgr.shutdown()
    assert snap.status == JobStatus.DONE and len(snap.runs) == 6
    assert [(r.group, r.seed) for r in snap.runs] == [(g, s) for g in (0, 1) for s in (0, 1, 2)]
    assert snap.runs[4].label == "Sigmoid · seed 1"
    table, verdict = race_stats.race_summary(snap)
    assert list(table.columns)[:5] == ["activation", "seeds", "mean test accuracy", "± std", "95 % interval"]
    relu = table[table.activation == "ReLU"].iloc[0]
    accs = [r.summary["test_acc"] for r in snap.runs if r.group == 0]
    assert relu["mean test accuracy"] == pytest.approx(sum(accs) / 3)
    assert verdict.n == 3 and verdict.text
    bands = race_stats.seed_bands(snap, "test_acc")
    assert bands["ReLU"].epochs == [1, 2, 3, 4] and bands["ReLU"].n == [3, 3, 3, 3]
    assert lab.file_stem(snap, 4).startswith("actviz_moons_sigmoid_seed1_")
    # The network view draws what the engine published: each run's kept weights, in nn.Linear's layout.
    model = network_view.build_model(cfg, 4, snap.runs[4].weights)
    assert [tuple(lin.weight.shape) for lin in model.linears] == [(8, 2), (1, 8)]
