"""Budgets before work: estimates bound what real runs use, and refusals name the knob to turn."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import pytest

from actviz import budget, limits
from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import checkpoint, models
from actviz.training import estimates
from actviz.training.config import TrainConfig
from tests.conftest import ROOT

MEASURE = r"""
import json, sys, threading, time
import torch
from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.training.config import TrainConfig
from actviz.training.engine import train

def anon():  # anonymous memory only: shared-library pages come and go with the machine's page cache
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024

peak = [0]
done = threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.002)

class Sink:
    def run_started(self, *a): pass
    def live_point(self, *a): pass
    def epoch_done(self, *a): pass
    def run_finished(self, *a): pass

c = json.loads(sys.argv[1])
torch.set_num_threads(1)
cfg = TrainConfig(datasets.DatasetSpec(**c["dataset"]), tuple(choose(a) for a in c["acts"]), hidden=tuple(c["hidden"]),
                  batch_size=c["batch"], epochs=c["epochs"], optimizer=c["optimizer"])
before = anon()
sampler = threading.Thread(target=sample)
sampler.start()
train(cfg, Sink())
done.set()
sampler.join()
print(json.dumps({"used": peak[0] - before}))
"""


def config(name="digits", acts=("relu",), hidden=(64,), batch=64, epochs=2, optimizer="adam", **spec):
    return TrainConfig(datasets.DatasetSpec(name, **spec), tuple(choose(a) for a in acts), hidden=tuple(hidden),
                       batch_size=batch, epochs=epochs, optimizer=optimizer)


@pytest.mark.parametrize("case", [
    {"dataset": {"name": "digits"}, "acts": ["relu", "tanh"], "hidden": [1024, 1024, 1024], "batch": 128,
     "epochs": 1, "optimizer": "adam"},
    {"dataset": {"name": "moons", "n_samples": 40000}, "acts": ["sigmoid"], "hidden": [512, 512], "batch": 0,
     "epochs": 1, "optimizer": "sgd"},
])
def test_the_memory_estimate_bounds_a_real_run_without_wild_overestimates(case):
    out = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(case)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True)
    used = json.loads(out.stdout.strip().splitlines()[-1])["used"]
    cfg = config(case["dataset"]["name"], case["acts"], case["hidden"], case["batch"], case["epochs"],
                 case["optimizer"], **{k: v for k, v in case["dataset"].items() if k != "name"})
    estimate = estimates.training(cfg, threads=1)
    assert used <= estimate.memory_bytes <= max(3 * used, used + 256 * 2**20), (used / 2**20, estimate.memory_mb)


def test_estimates_grow_with_every_activation_seed_batch_and_epoch():
    base = estimates.training(config(hidden=(256, 256)), threads=1)
    more_acts = estimates.training(config(acts=("relu", "tanh", "gelu"), hidden=(256, 256)), threads=1)
    bigger_batch = estimates.training(config(hidden=(256, 256), batch=0), threads=1)
    longer = estimates.training(config(hidden=(256, 256), epochs=20), threads=1)
    assert more_acts.memory["parameters"] == 3 * base.memory["parameters"]
    assert more_acts.flops == pytest.approx(3 * base.flops)
    assert bigger_batch.memory["activations"] > base.memory["activations"]
    assert 8 * base.flops < longer.flops < 10 * base.flops  # 20 epochs against 2
    seeded = SimpleNamespace(**{f: getattr(config(hidden=(256, 256)), f) for f in
                                ("hidden", "activations", "batch_size", "epochs", "optimizer", "momentum")}, seeds=5)
    assert budget.training(seeded, datasets.shape(config().dataset)).memory["parameters"] == \
        5 * base.memory["parameters"]
    # Parameters: weights and biases of every Linear layer (plus learnable activation parameters).
    assert budget.parameters((64, 256, 256, 10)) == sum(p.numel() for p in models.build_mlp(
        64, (256, 256), 10, choose("relu")).parameters()) + 4


def test_a_training_job_over_the_memory_budget_is_refused_naming_the_knob():
    huge = config(hidden=(4096,) * 20, batch=0, epochs=3)
    with pytest.raises(budget.BudgetError, match="ACTVIZ_MAX_JOB_MEMORY_MB") as err:
        estimates.check_training(huge, allowed=budget.Budget(2048, 60))
    assert err.value.knob == "ACTVIZ_MAX_JOB_MEMORY_MB"
    assert "GB" in str(err.value) and "smaller network" in str(err.value)
    assert isinstance(err.value, InputError)


def test_a_training_job_over_the_time_budget_is_refused_naming_the_knob():
    long = config(acts=("relu", "tanh", "gelu", "elu", "selu", "silu", "mish", "softplus", "celu", "hardswish",
                        "leaky_relu", "sigmoid"), hidden=(1024,) * 20, epochs=1000)
    with pytest.raises(budget.BudgetError, match="ACTVIZ_MAX_JOB_MINUTES") as err:
        estimates.check_training(long, allowed=budget.Budget(None, 60))
    assert " h of computing" in str(err.value) and "fewer epochs" in str(err.value)
    estimates.check_training(long, allowed=budget.Budget.unlimited())  # nothing refused without budgets


def test_defaults_follow_the_memory_actually_available(monkeypatch):
    monkeypatch.setattr(limits, "available_memory_mb", lambda: 2048)  # a --memory 2g container
    monkeypatch.setattr(limits, "_cpu_count", lambda: 2)
    assert limits._default_job_memory_mb() == (2048 - limits.WEB_RESERVE_MB) // 2
    monkeypatch.setattr(limits, "available_memory_mb", lambda: 1024)
    assert limits._default_job_memory_mb() == limits.MIN_JOB_MEMORY_MB
    monkeypatch.setattr(limits, "available_memory_mb", lambda: 64 * 1024)
    assert limits.Limits.from_env({"ACTVIZ_MAX_RUNNING_JOBS": "3"}).max_job_memory_mb == (64 * 1024 - 1024) // 4
    assert limits.Limits.from_env({"ACTVIZ_MAX_JOB_MEMORY_MB": "500"}).max_job_memory_mb == 500
    assert limits.Limits.from_env({"ACTVIZ_MAX_JOB_MINUTES": "2.5"}).max_job_minutes == 2.5


def test_the_cgroup_limit_wins_over_the_machine(monkeypatch):
    files = {"/sys/fs/cgroup/memory.max": 2 * 2**30}
    monkeypatch.setattr(limits, "_read_int", lambda path: files.get(path))
    assert limits.available_memory_mb() == 2048
    files.clear()  # no cgroup limit ("max"): the machine's memory
    machine = limits.available_memory_mb()
    assert machine > 2048


def _checkpoint_claiming(n_in: int, hidden: list[int]) -> bytes:
    model = models.build_mlp(2, (3,), 1, choose("relu"))
    data = checkpoint.save(model)
    src = zipfile.ZipFile(io.BytesIO(data))
    cfg = json.loads(src.read("config.json"))
    cfg["model"]["n_in"], cfg["model"]["hidden"] = n_in, hidden
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("config.json", json.dumps(cfg))
        z.writestr("model.pt", src.read("model.pt"))
    return out.getvalue()


def test_a_checkpoint_claiming_a_huge_network_is_refused_before_any_model_is_built(monkeypatch):
    built = []
    huge, wrong = _checkpoint_claiming(100_000, [4096] * 20), _checkpoint_claiming(2, [7])
    monkeypatch.setattr(models, "build_mlp", lambda *a, **k: built.append(a))
    with pytest.raises(InputError):
        checkpoint.load(huge)
    with pytest.raises(InputError, match="does not match config.json|too small|shape"):
        checkpoint.load(wrong)  # a small network, but not the one these tensors belong to
    assert built == []


def test_a_checkpoint_over_the_memory_budget_names_the_knob(monkeypatch):
    monkeypatch.setattr(limits, "_current", limits.Limits(max_job_memory_mb=1))
    with pytest.raises(budget.BudgetError, match="ACTVIZ_MAX_JOB_MEMORY_MB"):
        checkpoint.load(checkpoint.save(models.build_mlp(2, (3,), 1, choose("relu"))))


def test_a_csv_over_the_memory_budget_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(limits, "_current", limits.Limits(max_job_memory_mb=1))
    rows = "\n".join(",".join(str((i * j) % 7) for j in range(50)) + f",{i % 2}" for i in range(20_000))
    header = ",".join(f"f{j}" for j in range(50)) + ",label\n"
    import pandas as pd

    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("parsed before the budget check"))
    with pytest.raises(budget.BudgetError, match="ACTVIZ_MAX_JOB_MEMORY_MB"):
        datasets.load_csv((header + rows).encode())


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "actviz", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_the_cli_applies_the_same_budgets_and_can_lift_them_on_ones_own_machine():
    small = {"ACTVIZ_MAX_JOB_MEMORY_MB": "100"}  # below any job's fixed overhead
    args = ("train", "--dataset", "moons", "--activations", "relu", "--hidden", "4", "--epochs", "1", "--json")
    refused = run_cli(*args, env=small)
    assert refused.returncode == 2
    assert "ACTVIZ_MAX_JOB_MEMORY_MB" in refused.stderr and "--no-budget" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    lifted = run_cli(*args, "--no-budget", env=small)
    assert lifted.returncode == 0, lifted.stderr
    assert json.loads(lifted.stdout)["runs"]["relu"]["status"] == "done"
    slow = run_cli("train", "--dataset", "digits", "--activations", "relu,tanh", "--hidden", "2048x10",
                   "--epochs", "1000", env={"ACTVIZ_MAX_JOB_MINUTES": "1"})
    assert slow.returncode == 2 and "ACTVIZ_MAX_JOB_MINUTES" in slow.stderr
    diag = run_cli("gradients", "--activation", "sigmoid", "--dataset", "moons", "--samples", "100000",
                   "--batch-size", "65536", "--hidden", "4096x20", env={"ACTVIZ_MAX_JOB_MEMORY_MB": "4096"})
    assert diag.returncode == 2 and "ACTVIZ_MAX_JOB_MEMORY_MB" in diag.stderr
