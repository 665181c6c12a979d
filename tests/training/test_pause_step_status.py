"""After Pause then Step, the job the page polls says *paused* at the next epoch (not "training" for good).

The page renders ``JobSnapshot.paused``; the scheduler counts a job that its user paused as not using a
worker.  Both follow the engine's control state, so after a step the engine's return to its pause must
reach the job record — on the thread backend (same process) and across the worker-process pipe.
"""

from __future__ import annotations

import time

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.limits import Limits
from actviz.training import engine
from actviz.training.config import TrainConfig
from actviz.training.jobs import JobManager


def config() -> TrainConfig:
    return TrainConfig(datasets.DatasetSpec("moons", n_samples=300), (choose("relu"), choose("tanh")), hidden=(8,),
                       epochs=1000, seed=0, batch_size=64)


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached in {timeout} s")


def pause_then_step(mgr: JobManager) -> None:
    job_id, _ = mgr.submit(config(), "alice")
    snap = lambda: mgr.snapshot(job_id, "alice")  # noqa: E731
    epochs = lambda: min(len(r.history) for r in snap().runs)  # noqa: E731
    wait_for(lambda: epochs() >= 1, what="a first epoch")
    mgr.pause(job_id, "alice")
    wait_for(lambda: snap().paused, what="the pause")
    time.sleep(0.5)  # the engine reaches its next batch boundary and waits there
    frozen = epochs()
    assert snap().paused
    mgr.step(job_id, "alice")
    wait_for(lambda: epochs() == frozen + 1, what="the stepped epoch")
    # The engine pauses again at the end of that epoch; the job record must say so, and stay so.
    wait_for(lambda: snap().paused, timeout=5.0, what="the paused state after the step")
    time.sleep(0.5)
    after = snap()
    assert after.paused and min(len(r.history) for r in after.runs) == frozen + 1
    assert mgr.stats()["running"] == 0, "a job paused after its step still holds a worker's turn"
    mgr.resume(job_id, "alice")
    wait_for(lambda: not snap().paused and epochs() > frozen + 1, what="training again")
    mgr.cancel(job_id, "alice")


def test_thread_backend_real_engine_reports_paused_after_a_step():
    mgr = JobManager(Limits(max_running_jobs=1, max_jobs_per_session=5), runner=engine.train)
    try:
        pause_then_step(mgr)
    finally:
        mgr.shutdown()


@pytest.mark.slow
def test_worker_process_reports_paused_after_a_step():
    mgr = JobManager(Limits(max_running_jobs=1, max_jobs_per_session=5))
    mgr.backend.pool.warm(block=True)
    try:
        pause_then_step(mgr)
    finally:
        mgr.shutdown()
