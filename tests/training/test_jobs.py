"""The job manager: bounded workers, queue, de-duplication, isolation, cancel, TTLs, no leaks."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.limits import Limits
from actviz.training.config import EpochRecord, RunStatus
from actviz.training.engine import TrainConfig
from actviz.training.jobs import JobManager, JobStatus


def config(seed: int = 0, acts=("relu",), epochs: int = 3) -> TrainConfig:
    return TrainConfig(datasets.DatasetSpec(name="moons", n_samples=200), tuple(choose(a) for a in acts),
                       hidden=(4,), epochs=epochs, seed=seed)


class FakeRunner:
    """Stands in for training: reports progress like the engine, one step per ``step_s``."""

    def __init__(self, steps: int = 5, step_s: float = 0.02, fail: bool = False):
        self.steps, self.step_s, self.fail = steps, step_s, fail
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, cfg, sink, cancel):
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.fail:
                raise RuntimeError("boom")
            for i in range(len(cfg.activations)):
                sink.run_started(i)
            for step in range(self.steps):
                self.release.wait(5)
                if cancel.is_set():
                    break
                time.sleep(self.step_s)
                for i in range(len(cfg.activations)):
                    record = EpochRecord(epoch=step + 1, train_loss=1.0 / (step + 1), train_acc=0.5, val_loss=1.0,
                                         val_acc=0.5, test_loss=1.0, test_acc=0.5, seconds=0.0)
                    sink.epoch_done(i, record, [0.1], None)
            status = RunStatus.CANCELLED if cancel.is_set() else RunStatus.DONE
            for i in range(len(cfg.activations)):
                sink.run_finished(i, status, "", {"test_acc": 0.5})
            return [SimpleNamespace(model=f"model-{i}") for i in range(len(cfg.activations))]
        finally:
            with self._lock:
                self.active -= 1


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def make(runner=None, **limits) -> tuple[JobManager, FakeRunner]:
    runner = runner or FakeRunner()
    base = {"max_running_jobs": 2, "max_queued_jobs": 10, "max_jobs_per_session": 5, "worker_idle_s": 0.2}
    return JobManager(Limits(**{**base, **limits}), runner=runner), runner


def test_a_job_runs_to_completion_and_keeps_its_history():
    mgr, runner = make()
    job_id, attached = mgr.submit(config(), "alice")
    assert not attached
    wait_for(lambda: mgr.snapshot(job_id, "alice").status == JobStatus.DONE)
    snap = mgr.snapshot(job_id, "alice")
    assert [h.epoch for h in snap.runs[0].history] == [1, 2, 3, 4, 5]
    assert snap.runs[0].status == "done" and snap.runs[0].progress == 1.0
    assert mgr.model(job_id, "alice", 0) == "model-0"
    mgr.shutdown()


def test_no_more_than_max_running_jobs_train_at_once_and_the_queue_shows_positions():
    runner = FakeRunner(steps=3, step_s=0.05)
    runner.release.clear()
    mgr, _ = make(runner, max_running_jobs=2)
    ids = [mgr.submit(config(seed=i), f"s{i}")[0] for i in range(5)]
    wait_for(lambda: runner.active == 2)
    statuses = [mgr.snapshot(j, f"s{i}").status for i, j in enumerate(ids)]
    assert statuses.count(JobStatus.RUNNING) == 2 and statuses.count(JobStatus.QUEUED) == 3
    assert [mgr.snapshot(j, f"s{i}").queue_position for i, j in enumerate(ids)][2:] == [1, 2, 3]
    runner.release.set()
    wait_for(lambda: all(mgr.snapshot(j, f"s{i}").status == JobStatus.DONE for i, j in enumerate(ids)))
    assert runner.max_active == 2 and mgr.peak_running == 2
    mgr.shutdown()


def test_identical_configurations_cost_one_job_and_everyone_sees_it():
    mgr, runner = make()
    first, attached0 = mgr.submit(config(), "teacher")
    results = [mgr.submit(config(), f"student{i}") for i in range(29)]
    assert not attached0 and all(attached for _, attached in results)
    assert {job_id for job_id, _ in results} == {first}
    wait_for(lambda: mgr.snapshot(first, "student7").status == JobStatus.DONE)
    assert runner.calls == 1
    assert mgr.snapshot(first, "student28").watchers == 30
    # Once it has finished, pressing Start on the same setup trains it again (a new run to watch live);
    # the finished job stays in the list of those who watched it.
    again, attached = mgr.submit(config(), "latecomer")
    assert not attached and again != first
    wait_for(lambda: mgr.snapshot(again, "latecomer").status == JobStatus.DONE)
    assert runner.calls == 2 and mgr.snapshot(first, "teacher").status == JobStatus.DONE
    mgr.shutdown()


def test_fresh_never_attaches_to_an_identical_running_job():
    runner = FakeRunner(steps=50, step_s=0.02)
    mgr, _ = make(runner)
    first, _ = mgr.submit(config(), "a")
    second, attached = mgr.submit(config(), "b", fresh=True)
    assert not attached and second != first
    wait_for(lambda: mgr.snapshot(second, "b").status == JobStatus.DONE)
    assert runner.calls == 2
    mgr.shutdown()


def test_a_session_cannot_see_cancel_or_download_another_sessions_job():
    mgr, _ = make()
    job_id, _ = mgr.submit(config(), "alice")
    assert mgr.snapshot(job_id, "mallory") is None
    assert mgr.jobs_for("mallory") == []
    with pytest.raises(InputError):
        mgr.cancel(job_id, "mallory")
    wait_for(lambda: mgr.snapshot(job_id, "alice").status == JobStatus.DONE)
    assert mgr.model(job_id, "mallory", 0) is None
    assert mgr.model(job_id, "alice", 0) == "model-0"
    mgr.shutdown()


def test_cancel_stops_a_running_job_quickly_and_keeps_what_was_learned():
    runner = FakeRunner(steps=10_000, step_s=0.01)
    mgr, _ = make(runner)
    job_id, _ = mgr.submit(config(), "alice")
    wait_for(lambda: len(mgr.snapshot(job_id, "alice").runs[0].history) >= 3)
    t0 = time.monotonic()
    mgr.cancel(job_id, "alice")
    wait_for(lambda: mgr.snapshot(job_id, "alice").status == JobStatus.CANCELLED, timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    assert len(mgr.snapshot(job_id, "alice").runs[0].history) >= 3
    # A cancelled job is not reused: starting the same setup again trains again.
    again, attached = mgr.submit(config(), "alice")
    assert not attached and again != job_id
    mgr.shutdown()


def test_stopping_a_shared_job_only_detaches_that_session():
    runner = FakeRunner(steps=200, step_s=0.01)
    mgr, _ = make(runner)
    job_id, _ = mgr.submit(config(), "a")
    mgr.submit(config(), "b")
    message = mgr.cancel(job_id, "a")
    assert "still watching" in message
    assert mgr.snapshot(job_id, "a") is None
    assert mgr.snapshot(job_id, "b").status in (JobStatus.QUEUED, JobStatus.RUNNING)
    mgr.cancel(job_id, "b")
    wait_for(lambda: mgr.stats()["by_status"].get(JobStatus.CANCELLED) == 1)
    mgr.shutdown()


def test_cancelling_a_queued_job_removes_it_from_the_queue():
    runner = FakeRunner(steps=3)
    runner.release.clear()
    mgr, _ = make(runner, max_running_jobs=1)
    first, _ = mgr.submit(config(seed=1), "a")
    second, _ = mgr.submit(config(seed=2), "b")
    wait_for(lambda: mgr.snapshot(first, "a").status == JobStatus.RUNNING)
    assert mgr.snapshot(second, "b").queue_position == 1
    mgr.cancel(second, "b")
    assert mgr.snapshot(second, "b").status == JobStatus.CANCELLED
    runner.release.set()
    wait_for(lambda: mgr.snapshot(first, "a").status == JobStatus.DONE)
    assert runner.calls == 1
    mgr.shutdown()


def test_limits_on_queue_and_jobs_per_session_give_clear_messages():
    runner = FakeRunner()
    runner.release.clear()
    mgr, _ = make(runner, max_running_jobs=1, max_queued_jobs=2, max_jobs_per_session=2)
    mgr.submit(config(seed=1), "a")
    mgr.submit(config(seed=2), "a")
    with pytest.raises(InputError, match="already have 2 jobs"):
        mgr.submit(config(seed=3), "a")
    wait_for(lambda: runner.active == 1)
    mgr.submit(config(seed=4), "b")
    with pytest.raises(InputError, match="queue is full"):
        mgr.submit(config(seed=5), "c")
    runner.release.set()
    mgr.shutdown()


def test_a_crashing_job_fails_with_a_message_and_the_worker_survives():
    mgr, _ = make(FakeRunner(fail=True))
    job_id, _ = mgr.submit(config(), "a")
    wait_for(lambda: mgr.snapshot(job_id, "a").status == JobStatus.FAILED)
    assert "boom" in mgr.snapshot(job_id, "a").error
    mgr._runner = FakeRunner()
    ok, _ = mgr.submit(config(seed=9), "a")
    wait_for(lambda: mgr.snapshot(ok, "a").status == JobStatus.DONE)
    mgr.shutdown()


def test_finished_jobs_are_freed_after_the_ttl_and_abandoned_ones_are_cancelled():
    now = [1000.0]
    runner = FakeRunner(steps=2)
    # A long time slice: the fake clock jumps 31 s below, which must not hand the queued job a turn first.
    mgr = JobManager(Limits(max_running_jobs=1, job_ttl_s=60, session_ttl_s=30, worker_idle_s=0.2, time_slice_s=3600),
                     clock=lambda: now[0], runner=runner)
    done_id, _ = mgr.submit(config(seed=1), "a")
    wait_for(lambda: mgr.snapshot(done_id, "a").status == JobStatus.DONE)
    now[0] += 20
    assert mgr.cleanup() == 0 and mgr.snapshot(done_id, "a") is not None
    now[0] += 50  # finished 70 s ago > job TTL
    assert mgr.cleanup() == 1
    assert mgr.snapshot(done_id, "a") is None and mgr.stats()["jobs"] == 0

    runner.release.clear()
    running, _ = mgr.submit(config(seed=2), "gone")
    queued, _ = mgr.submit(config(seed=3), "gone")
    wait_for(lambda: runner.active == 1)
    now[0] += 31  # the browser closed: no poll for longer than the session TTL
    mgr.cleanup()
    runner.release.set()
    wait_for(lambda: mgr.stats()["by_status"].get(JobStatus.CANCELLED, 0) >= 1 and runner.active == 0)
    assert queued not in mgr._jobs
    mgr.shutdown()


def test_idle_worker_threads_exit_so_threads_do_not_accumulate():
    before = threading.active_count()
    mgr, _ = make(max_running_jobs=2, worker_idle_s=0.1, max_queued_jobs=20, job_ttl_s=0.3)
    for i in range(12):
        mgr.submit(config(seed=i), f"s{i}")
    wait_for(lambda: mgr.stats()["completed"] == 12)
    assert mgr.stats()["workers"] <= 2
    wait_for(lambda: mgr.stats()["workers"] == 0, timeout=5)
    # The janitor frees the finished jobs after their TTL, then exits too.
    wait_for(lambda: mgr.stats()["jobs"] == 0, timeout=5)
    wait_for(lambda: threading.active_count() <= before, timeout=5)
    mgr.shutdown()
