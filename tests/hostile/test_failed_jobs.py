"""A job that fails says so for every run it had not finished (issue 10: its runs kept saying "running")."""

from __future__ import annotations

import time

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.limits import Limits
from actviz.training.config import RunStatus, TrainConfig
from actviz.training.jobs import JobManager, JobStatus


def _failing_runner(cfg, sink, control=None):
    sink.run_started(0)
    sink.run_started(1)
    raise InputError("the data could not be loaded")


def test_a_failed_job_marks_its_unfinished_runs_failed_with_the_reason():
    cfg = TrainConfig(datasets.DatasetSpec("moons", n_samples=200), (choose("relu"), choose("tanh")), hidden=(4,),
                      epochs=2, seed=1)
    mgr = JobManager(Limits(max_running_jobs=1, worker_idle_s=0.2), runner=_failing_runner)
    try:
        job_id, _ = mgr.submit(cfg, "alice")
        deadline = time.monotonic() + 30
        while mgr.snapshot(job_id, "alice").status != JobStatus.FAILED:
            assert time.monotonic() < deadline, "the job did not fail in time"
            time.sleep(0.02)
        snap = mgr.snapshot(job_id, "alice")
        assert [r.status for r in snap.runs] == [RunStatus.FAILED, RunStatus.FAILED]
        assert all("could not be loaded" in r.message for r in snap.runs)
        assert "could not be loaded" in snap.error
    finally:
        mgr.shutdown()
