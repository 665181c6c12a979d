"""Jobs on Ray (ACTVIZ_JOB_BACKEND=ray): the same histories as worker processes, live controls through the
job actor, resource requests the cluster cannot meet refused cleanly, and one job shared by two replicas.

One local Ray per module (started by the backend itself, as the server does, then shut down).  Without Ray
installed these are skipped, unless ACTVIZ_REQUIRE_RAY=1 (CI) turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import time

import pytest

from actviz import budget
from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.limits import Limits
from actviz.training import backend_config, ray_backend
from actviz.training.config import TrainConfig
from actviz.training.jobs import JobManager, JobStatus
from actviz.views import gradient_flow as gf

pytestmark = pytest.mark.slow

if importlib.util.find_spec("ray") is None:
    if os.environ.get("ACTVIZ_REQUIRE_RAY") == "1":
        raise RuntimeError("ACTVIZ_REQUIRE_RAY=1 but Ray is not installed: pip install -r requirements-ray.txt")
    pytest.skip("Ray is not installed (pip install -r requirements-ray.txt; ACTVIZ_REQUIRE_RAY=1 makes this "
                "a failure)", allow_module_level=True)


def config(seed: int = 0, acts=("relu", "tanh"), epochs: int = 3, hidden=(8,), batch=64) -> TrainConfig:
    return TrainConfig(datasets.DatasetSpec("moons"), tuple(choose(a) for a in acts), hidden=hidden, epochs=epochs,
                       seed=seed, batch_size=batch)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout} s")


def job_actors(ray) -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["namespace"] == ray_backend.NAMESPACE and a["name"].startswith("actviz-job-"))


@pytest.fixture(scope="module")
def ray():
    backend = ray_backend.RayBackend(threads=1)
    module = backend.connect()  # a local Ray with this machine's CPUs, the actviz package shipped to its workers
    yield module
    module.shutdown()


@pytest.fixture
def make(ray):
    made = []

    def factory(**kw):
        estimator = kw.pop("estimator", None)
        mgr = JobManager(Limits(**{"max_running_jobs": 2, "max_jobs_per_session": 5, "time_slice_s": 30.0, **kw}),
                         backend=ray_backend.RayBackend(threads=1), estimator=estimator)
        made.append(mgr)
        return mgr

    yield factory
    for mgr in made:
        mgr.shutdown()
    wait_for(lambda: not job_actors(ray), timeout=20, what="the job actors to end")


def test_the_environment_chooses_ray(monkeypatch):
    monkeypatch.setenv("ACTVIZ_JOB_BACKEND", "ray")
    assert backend_config.configured() == "ray"
    assert isinstance(JobManager(Limits()).backend, ray_backend.RayBackend)


def test_the_same_config_gives_the_same_history_on_worker_processes_and_on_ray(make):
    cfg = config(epochs=4)
    histories, models = [], []
    local = JobManager(Limits(max_running_jobs=1, max_jobs_per_session=5))
    assert local.backend.name == "processes"
    try:
        for mgr in (local, make()):
            job_id, _ = mgr.submit(cfg, "alice")
            wait_for(lambda m=mgr, j=job_id: m.snapshot(j, "alice").status.finished,
                     what=f"the job on {mgr.backend.name}")
            snap = mgr.snapshot(job_id, "alice")
            assert snap.status == JobStatus.DONE, snap.error
            histories.append([[v for r in run.history for v in (r.epoch, r.train_loss, r.val_loss, r.test_acc)]
                              for run in snap.runs])
            models.append((mgr.model(job_id, "alice", 1), snap.runs[1].summary["test_acc"]))
    finally:
        local.shutdown()
    processes, on_ray = histories
    assert [len(h) for h in on_ray] == [4 * 4, 4 * 4]
    for a, b in zip(processes, on_ray, strict=True):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-9)
    model, test_acc = models[1]  # the trained model came back from the cluster, through a checkpoint file
    ds = datasets.load(cfg.dataset)
    from actviz.training import engine

    assert engine.evaluate(model, ds.x_test, ds.y_test)[1] == pytest.approx(test_acc)


def test_pause_step_resume_and_the_learning_rate_reach_the_job_on_ray(make):
    mgr = make()
    job_id, _ = mgr.submit(config(epochs=1000, acts=("relu",)), "alice")

    def epochs() -> int:
        return len(mgr.snapshot(job_id, "alice").runs[0].history)

    wait_for(lambda: epochs() >= 1, what="an epoch on Ray")
    mgr.pause(job_id, "alice")
    wait_for(lambda: mgr.snapshot(job_id, "alice").paused, what="the pause")
    time.sleep(0.5)
    frozen = epochs()
    time.sleep(1.0)
    assert epochs() == frozen
    mgr.step(job_id, "alice")
    wait_for(lambda: epochs() == frozen + 1, what="one more epoch")
    time.sleep(0.5)
    assert epochs() == frozen + 1  # exactly one
    mgr.set_lr(job_id, "alice", 0.05)
    wait_for(lambda: mgr.snapshot(job_id, "alice").lr == 0.05, what="the new learning rate")
    mgr.resume(job_id, "alice")
    wait_for(lambda: epochs() > frozen + 3, what="training again")
    mgr.cancel(job_id, "alice")
    wait_for(lambda: mgr.snapshot(job_id, "alice").status == JobStatus.CANCELLED, timeout=20, what="the stop")
    assert mgr.model(job_id, "alice", 0) is not None  # what it learned so far is kept


def test_a_job_no_machine_of_the_cluster_can_hold_fails_at_once_saying_so(make, ray, monkeypatch):
    monkeypatch.setattr(budget, "_lifted", True)  # this server's own budget would refuse it first
    largest = max(n["Resources"].get("memory", 0) for n in ray.nodes() if n["Alive"])
    huge = budget.Estimate("this training job", {"all": int(2 * largest)}, 1e6, 1.0)
    mgr = make(estimator=lambda cfg: huge)
    job_id, _ = mgr.submit(config(), "alice")
    wait_for(lambda: mgr.snapshot(job_id, "alice").status.finished, timeout=20, what="the refusal")
    snap = mgr.snapshot(job_id, "alice")
    assert snap.status == JobStatus.FAILED
    assert "largest machine of the Ray cluster offers" in snap.error and "use a smaller network" in snap.error
    assert not job_actors(ray)  # nothing waits on the cluster for room that will never come


def test_two_replicas_submitting_the_same_config_share_one_job_on_the_cluster(make, ray):
    first, second = make(), make()  # two app replicas: two managers, two backends, one cluster
    cfg = config(epochs=1000, acts=("relu",), hidden=(16,))
    a, attached = first.submit(cfg, "alice")
    b, attached_b = second.submit(cfg, "bob")
    assert not attached and not attached_b  # neither replica knows the other's job
    wait_for(lambda: all(len(m.snapshot(j, s).runs[0].history) >= 3 for m, j, s in
                         ((first, a, "alice"), (second, b, "bob"))), what="both replicas to see epochs")
    names = [m._executions[j].actor_name for m, j in ((first, a), (second, b))]
    assert names[0] == names[1] == ray_backend.actor_name(cfg.key())
    assert job_actors(ray) == [names[0]]  # trained once
    seen_a = [r.train_loss for r in first.snapshot(a, "alice").runs[0].history]
    seen_b = [r.train_loss for r in second.snapshot(b, "bob").runs[0].history]
    common = min(len(seen_a), len(seen_b))
    assert seen_a[:common] == seen_b[:common]  # the same records, not two trainings that happen to agree
    first.cancel(a, "alice")  # one replica stops following; the job goes on for the other
    wait_for(lambda: first.snapshot(a, "alice").status == JobStatus.CANCELLED, timeout=20, what="alice's stop")
    before = len(second.snapshot(b, "bob").runs[0].history)
    wait_for(lambda: len(second.snapshot(b, "bob").runs[0].history) > before + 2, what="bob's job to go on")
    assert second.snapshot(b, "bob").status == JobStatus.RUNNING
    fresh, _ = second.submit(cfg, "bob", fresh=True)  # a fresh run of the same config trains anew
    wait_for(lambda: len(second.snapshot(fresh, "bob").runs[0].history) >= 1, what="the fresh run")
    assert second._executions[fresh].actor_name != names[0] and len(job_actors(ray)) == 2
    second.cancel(b, "bob")
    second.cancel(fresh, "bob")
    wait_for(lambda: all(second.snapshot(j, "bob").status.finished for j in (b, fresh)), timeout=20,
             what="bob's stops")
    assert second.model(b, "bob", 0) is not None
    wait_for(lambda: not job_actors(ray), timeout=20, what="the actors to end once nobody follows")


def test_gradient_flow_runs_as_a_ray_task_and_a_closed_tab_cancels_it(make):
    mgr = make()
    state = gf.GradientState(dataset="moons", hidden="8,8", selected=["relu", "sigmoid"])
    view = mgr.run_task(gf.build_view, (state, None), gf.estimate_view(state))
    assert [r.label for r in view.comparison.reports] == ["ReLU", "Sigmoid"]
    slow = gf.GradientState(dataset="digits", hidden="512x6", selected=["relu"], init="zeros", sym_steps=2000)
    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt("the tab went away")

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        mgr.run_task(gf.build_view, (slow, None), gf.estimate_view(slow), interrupt)
    assert time.monotonic() - t0 < 5.0
