"""Jobs on Ray (ACTVIZ_JOB_BACKEND=ray): the same histories as worker processes, live controls through the
job actor, resource requests the cluster cannot meet refused cleanly, and one job shared by two replicas.

One local Ray per module (started by the backend itself, as the server does, then shut down).  Without Ray
installed these are skipped, unless ACTVIZ_REQUIRE_RAY=1 (CI) turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from actviz import budget
from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.limits import Limits
from actviz.training import backend_config, estimates, ray_backend
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
    """A local Ray with this machine's CPUs, started as the server starts it: by the backend, from a thread
    that ends at once (the warm-up's); Ray's processes must outlive that thread."""
    backend = ray_backend.RayBackend(threads=1)
    starter = threading.Thread(target=backend.connect)
    starter.start()
    starter.join()
    import ray as module

    assert module.is_initialized()
    yield module
    backend.close()  # ray.shutdown(): it started this Ray


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


UNREACHABLE = """
import os, time
from actviz.activations.choice import choose
from actviz.data.datasets import DatasetSpec
from actviz.limits import Limits
from actviz.training import ray_backend
from actviz.training.config import TrainConfig
from actviz.training.jobs import JobManager
ray_backend.CONNECT_TIMEOUT_S = 3.0
mgr = JobManager(Limits(max_running_jobs=1), backend=ray_backend.RayBackend(address="127.0.0.1:1"))
job, _ = mgr.submit(TrainConfig(DatasetSpec("moons"), (choose("relu"),), epochs=2), "alice")
deadline = time.monotonic() + 60
while not mgr.snapshot(job, "alice").status.finished and time.monotonic() < deadline:
    time.sleep(0.05)
snap = mgr.snapshot(job, "alice")
print(snap.status, "|", snap.error, flush=True)
os._exit(0)  # Ray keeps retrying that address in a thread of its own
"""


def test_a_cluster_that_does_not_answer_fails_the_job_saying_so(repo_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run([sys.executable, "-c", UNREACHABLE], cwd=repo_root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    status, error = done.stdout.strip().splitlines()[-1].split(" | ")
    assert status == "failed"
    assert error.startswith("could not reach the Ray cluster at 127.0.0.1:1 (ACTVIZ_RAY_ADDRESS) within 3 s")
    assert "RAY_AUTH_MODE=token" in error


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


def test_a_job_over_its_memory_ceiling_fails_alone_on_ray_while_another_finishes(make):
    # The estimator lies (1 MB) for a job that needs about a gigabyte: its actor's ceiling stops it.
    liar = budget.Estimate("this training job", {"all": 2**20}, 1e9, 1.0)
    mgr = make(estimator=lambda cfg: liar if cfg.hidden == (4096, 4096, 4096) else estimates.training(cfg))
    greedy, _ = mgr.submit(TrainConfig(datasets.DatasetSpec("digits"), (choose("relu"),), hidden=(4096, 4096, 4096),
                                       epochs=2, batch_size=0), "mallory")
    # Beside it, a job whose checkpoint (~0.4 MB) goes back through Ray's object store under its ceiling.
    fine_cfg = config(epochs=3, hidden=(256, 256), acts=("relu",))
    fine, _ = mgr.submit(fine_cfg, "alice")
    wait_for(lambda: mgr.snapshot(greedy, "mallory").status.finished, timeout=120, what="the greedy job to end")
    bad = mgr.snapshot(greedy, "mallory")
    assert bad.status == JobStatus.FAILED and bad.error.startswith("out of memory (estimated 1 MB"), bad.error
    wait_for(lambda: mgr.snapshot(fine, "alice").status.finished, timeout=120, what="the other job to finish")
    snap = mgr.snapshot(fine, "alice")
    assert snap.status == JobStatus.DONE, snap.error
    model = mgr.model(fine, "alice", 0)
    ds = datasets.load(fine_cfg.dataset)
    from actviz.training import engine

    assert engine.evaluate(model, ds.x_test, ds.y_test)[1] == pytest.approx(snap.runs[0].summary["test_acc"])


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


def test_a_job_a_restart_interrupted_on_ray_resumes_there_with_the_history_of_one_never_stopped(ray, tmp_path):
    from actviz.training import store
    from tests.training.test_resume import assert_same_history

    cfg = config(seed=9, epochs=5, acts=("rrelu", "tanh"))
    made = []

    def manager() -> JobManager:
        made.append(JobManager(Limits(max_running_jobs=1, max_jobs_per_session=5), state_dir=str(tmp_path),
                               backend=ray_backend.RayBackend(threads=1)))
        return made[-1]

    def epochs(mgr, job_id) -> int:
        return min(len(r.history) for r in mgr.snapshot(job_id, "alice").runs)

    try:
        first = manager()
        straight, _ = first.submit(cfg, "alice")
        wait_for(lambda: first.snapshot(straight, "alice").status.finished, what="the straight job")
        reference = first.snapshot(straight, "alice")
        job, _ = first.submit(cfg, "alice", fresh=True)
        first.pause(job, "alice")
        for n in (1, 2):   # paused at an epoch boundary: the resume point is saved there
            first.step(job, "alice")
            wait_for(lambda n=n: epochs(first, job) == n and first.snapshot(job, "alice").paused, what=f"epoch {n}")
        first.shutdown()
        with store._STORES_LOCK:
            store._STORES.pop(str(tmp_path.resolve())).close()
        second = manager()
        assert second.snapshot(job, "alice").resume_epoch == 2
        again, _ = second.resume_interrupted(job, "alice")
        wait_for(lambda: second.snapshot(again, "alice").status.finished, what="the resumed job on Ray")
        done = second.snapshot(again, "alice")
        assert done.status == JobStatus.DONE and done.resumed_from == 2, done.error
        for a, b in zip(reference.runs, done.runs, strict=True):
            assert_same_history(a.history, b.history)
    finally:
        for mgr in made:
            mgr.shutdown()
        with store._STORES_LOCK:
            opened = store._STORES.pop(str(tmp_path.resolve()), None)
        if opened is not None:
            opened.close()
    wait_for(lambda: not job_actors(ray), timeout=20, what="the job actors to end")


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


REPLICA = """
import json, sys, time
from actviz.activations.choice import choose
from actviz.data.datasets import DatasetSpec
from actviz.limits import Limits
from actviz.training.config import TrainConfig
from actviz.training.jobs import JobManager, JobStatus
cfg = TrainConfig(DatasetSpec("moons"), (choose("relu"),), hidden=(16,), epochs=1000, seed=0, batch_size=64)
mgr = JobManager(Limits(max_running_jobs=1))
job, attached = mgr.submit(cfg, "bob")
deadline = time.monotonic() + 90
while len(mgr.snapshot(job, "bob").runs[0].history) < 3 and time.monotonic() < deadline:
    time.sleep(0.05)
name = mgr._executions[job].actor_name
losses = [r.train_loss for r in mgr.snapshot(job, "bob").runs[0].history]
mgr.cancel(job, "bob")  # this replica stops following
while not mgr.snapshot(job, "bob").status.finished and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"backend": mgr.backend.name, "attached": attached, "actor": name, "losses": losses,
                  "status": mgr.snapshot(job, "bob").status}))
mgr.shutdown()
"""


def test_a_job_waits_while_the_cluster_is_full_and_a_cancel_ends_the_wait(make, ray):
    # Each job asks for both of the machine's CPUs (work big enough for two threads): the second must wait.
    both = budget.Estimate("this training job", {"all": 2**20}, 1e6, 10.0, step_flops=10 * budget.PARALLEL_STEP_FLOPS)
    first, second = make(max_running_jobs=1, estimator=lambda cfg: both), make(max_running_jobs=1,
                                                                             estimator=lambda cfg: both)
    a, _ = first.submit(config(epochs=1000, acts=("relu",)), "alice")
    wait_for(lambda: first.snapshot(a, "alice").runs[0].history, what="the first job to train")
    b, _ = second.submit(config(epochs=1000, acts=("tanh",)), "bob")
    time.sleep(2.0)
    waiting = second.snapshot(b, "bob")
    assert waiting.status == JobStatus.RUNNING and not waiting.runs[0].live  # placed nowhere yet: no progress
    second.cancel(b, "bob")
    wait_for(lambda: second.snapshot(b, "bob").status == JobStatus.CANCELLED, timeout=10, what="the cancel")
    assert first.snapshot(a, "alice").status == JobStatus.RUNNING
    first.cancel(a, "alice")


def test_two_replicas_submitting_the_same_config_share_one_job_on_the_cluster(make, ray, repo_root):
    first = make()  # this process is one replica; a second process joins the cluster by its address
    cfg = config(epochs=1000, acts=("relu",), hidden=(16,))
    a, _ = first.submit(cfg, "alice")
    env = {**os.environ, "ACTVIZ_JOB_BACKEND": "ray", "ACTVIZ_RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    other = subprocess.run([sys.executable, "-c", REPLICA], cwd=repo_root, env=env, capture_output=True, text=True,
                           timeout=120)
    assert other.returncode == 0, other.stderr[-3000:]
    seen = json.loads(other.stdout.strip().splitlines()[-1])
    assert seen["backend"] == "ray" and not seen["attached"]  # the other replica did not know this one's job
    name = first._executions[a].actor_name
    assert seen["actor"] == name == ray_backend.actor_name(cfg.key())
    assert len(seen["losses"]) >= 3
    mine = [r.train_loss for r in first.snapshot(a, "alice").runs[0].history]
    assert mine[:len(seen["losses"])] == seen["losses"]  # the same records: one training, followed twice
    assert seen["status"] == "cancelled"  # the other replica stopped following ...
    before = len(first.snapshot(a, "alice").runs[0].history)
    wait_for(lambda: len(first.snapshot(a, "alice").runs[0].history) > before + 2, what="the job to go on")
    assert first.snapshot(a, "alice").status == JobStatus.RUNNING  # ... and the job goes on for this one
    assert job_actors(ray) == [name]  # trained once
    first._executions[a].kill()  # the backend's last resort ends the job on the cluster at once
    wait_for(lambda: first.snapshot(a, "alice").status.finished, timeout=20, what="the kill")
    assert first.snapshot(a, "alice").status == JobStatus.FAILED
    assert first.snapshot(a, "alice").error == "the job was killed"
    wait_for(lambda: not job_actors(ray), timeout=20, what="the actor to be gone")


def test_a_fresh_run_of_a_config_this_replica_follows_gets_an_actor_of_its_own():
    backend = ray_backend.RayBackend()
    shared = backend.claim("key", "job1")
    assert shared == ray_backend.actor_name("key")  # what every replica finds
    fresh = backend.claim("key", "job2")  # this replica already follows "key": the user asked for a new run
    assert fresh != shared and fresh.startswith(shared)
    backend.unclaim("key")
    backend.unclaim("key")
    assert backend.claim("key", "job3") == shared  # nothing followed any more: the shared name again


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
