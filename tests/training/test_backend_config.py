"""Choosing where jobs run (ACTVIZ_JOB_BACKEND): process by default, ray on request, a typo stops the start
naming the valid values; and the core works without Ray installed (it is optional)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from actviz.errors import InputError
from actviz.limits import Limits
from actviz.training import backend_config
from actviz.training.jobs import JobManager


def test_unset_means_worker_processes(monkeypatch):
    monkeypatch.delenv("ACTVIZ_JOB_BACKEND", raising=False)
    assert backend_config.configured() == "process"
    assert backend_config.configured({"ACTVIZ_JOB_BACKEND": " Processes "}) == "process"
    mgr = JobManager(Limits())
    assert mgr.backend.name == "processes"
    mgr.shutdown()


@pytest.mark.parametrize("value", ["rya", "threads", "ray;rm -rf /", "x" * 200])
def test_an_unknown_backend_is_refused_naming_the_valid_ones(value):
    with pytest.raises(InputError, match=r"is not a job backend; use one of: process, ray") as err:
        backend_config.configured({"ACTVIZ_JOB_BACKEND": value})
    assert len(str(err.value)) < 200


def test_ray_without_ray_installed_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(InputError, match="pip install -r requirements-ray.txt"):
        backend_config.configured({"ACTVIZ_JOB_BACKEND": "ray"})


def test_the_launcher_stops_at_once_on_a_mistyped_backend(repo_root):
    env = {**os.environ, "ACTVIZ_JOB_BACKEND": "rya"}
    done = subprocess.run([sys.executable, "-m", "ui.launch", "--server.port", "1"], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "ACTVIZ_JOB_BACKEND='rya' is not a job backend; use one of: process, ray" in done.stderr


def test_the_core_imports_and_trains_without_ray(repo_root):
    # sys.modules["ray"] = None makes any `import ray` fail, as on a machine without it.
    script = """
import sys
sys.modules["ray"] = None
from actviz.training import backend_config, jobs, ray_backend, ray_actor
from actviz.training.engine import train
from actviz.training.config import TrainConfig
from actviz.data.datasets import DatasetSpec
from actviz.activations.choice import choose
from actviz.training.records import Job
cfg = TrainConfig(DatasetSpec("moons"), (choose("relu"),), hidden=(4,), epochs=1, batch_size=64)
runs = train(cfg, Job(cfg, "session", 0.0))
print("ok", len(runs), backend_config.configured())
try:
    ray_backend.RayBackend().connect()
except ImportError:
    print("no ray")
"""
    env = {k: v for k, v in os.environ.items() if k != "ACTVIZ_JOB_BACKEND"}
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["ok 1 process", "no ray"]
