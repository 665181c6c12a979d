"""The job manager keeps its jobs in a state folder: a restart gives back every finished job (history, results,
model) to the sessions that followed it, marks the ones it interrupted, and a damaged job list or a missing
model file never stops the server.  "Restart" here is a new JobManager on the same folder with a fresh
connection to the database, as a new server process would have."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.limits import Limits
from actviz.training import codec, store
from actviz.training.config import EpochRecord, RunStatus, TrainConfig
from actviz.training.jobs import JobManager, JobStatus
from actviz.training.persist import MISSING_MODEL

pytestmark = pytest.mark.slow


def config(seed: int = 0, acts=("relu", "tanh"), epochs: int = 2) -> TrainConfig:
    return TrainConfig(datasets.DatasetSpec("moons", n_samples=200), tuple(choose(a) for a in acts), hidden=(6,),
                       epochs=epochs, seed=seed, batch_size=64)


def limits(**kw) -> Limits:
    return Limits(**{"max_running_jobs": 1, "max_jobs_per_session": 5, **kw})


def wait_for(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout} s")


def forget_connections(folder: Path) -> None:
    """What a process exit does to the store: written, closed, gone (the next manager opens it anew)."""
    with store._STORES_LOCK:
        opened = store._STORES.pop(str(folder.resolve()), None)
    if opened is not None:
        opened.close()


@pytest.fixture
def managers(tmp_path):
    made = []

    def make(folder: Path | None = tmp_path, **kw) -> JobManager:
        mgr = JobManager(limits(**kw.pop("limits", {})), state_dir=None if folder is None else str(folder), **kw)
        made.append(mgr)
        return mgr

    yield make
    for mgr in made:
        mgr.shutdown()
    forget_connections(tmp_path)


def restart(mgr: JobManager, folder: Path, make) -> JobManager:
    mgr.shutdown()
    forget_connections(folder)
    return make(folder)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_finished_job_comes_back_after_a_restart_with_its_history_results_and_model(managers, tmp_path):
    first = managers()
    job_id, _ = first.submit(config(seed=3), "alice")
    wait_for(lambda: first.snapshot(job_id, "alice").status.finished, what="the job to finish")
    before = first.snapshot(job_id, "alice")
    assert before.status == JobStatus.DONE, before.error
    trained = [weights(first.model(job_id, "alice", i)) for i in range(2)]

    second = restart(first, tmp_path, managers)
    mine = second.jobs_for("alice")
    assert [j.id for j in mine] == [job_id] and second.jobs_for("bob") == []
    after = mine[0]
    assert after.status == JobStatus.DONE and after.error is None and after.config == before.config
    assert codec.dumps([r.history for r in after.runs]) == codec.dumps([r.history for r in before.runs])
    assert [r.summary.get("test_acc") for r in after.runs] == [r.summary.get("test_acc") for r in before.runs]
    assert [r.status for r in after.runs] == [r.status for r in before.runs]
    assert before.runs[0].weights and [r.weights for r in after.runs] == [r.weights for r in before.runs]
    assert abs(after.created_at - before.created_at) < 1e-6
    for i in range(2):
        model = second.model(job_id, "alice", i)
        assert model is not None
        back = weights(model)
        assert back.keys() == trained[i].keys()
        assert all(torch.equal(back[k], trained[i][k]) for k in back)
    files = sorted((tmp_path / "models").glob("*.zip"))
    assert [f.name for f in files] == [f"{job_id}-0.zip", f"{job_id}-1.zip"]  # in the state folder, kept
    assert second.model(job_id, "bob", 0) is None   # still only the sessions that followed it

    # A model file lost between two starts: the job still shows its results and says what is missing.
    files[1].unlink()
    third = restart(second, tmp_path, managers)
    again = third.snapshot(job_id, "alice")
    assert again.status == JobStatus.DONE and MISSING_MODEL in again.error and "Tanh" in again.error
    assert third.model(job_id, "alice", 1) is None and third.model(job_id, "alice", 0) is not None
    assert codec.dumps(again.runs[1].history) == codec.dumps(before.runs[1].history)


class Blocking:
    """A stand-in runner that trains one epoch and then waits (a long job caught by the restart)."""

    def __init__(self):
        self.one_epoch = threading.Event()

    def __call__(self, cfg, sink, control):
        for i in range(len(cfg.activations)):
            sink.run_started(i)
            sink.epoch_done(i, EpochRecord(epoch=1, train_loss=0.7, train_acc=0.5, val_loss=0.7, val_acc=0.5,
                                           test_loss=0.7, test_acc=0.5, seconds=0.0), [0.1], None)
        self.one_epoch.set()
        while not control.is_set():
            time.sleep(0.01)
        return [SimpleNamespace(model=None) for _ in cfg.activations]


def test_a_job_training_at_the_restart_comes_back_interrupted_and_run_again_trains_it(managers, tmp_path):
    runner = Blocking()
    first = managers(runner=runner)
    cfg = config(seed=5, epochs=2)
    running, _ = first.submit(cfg, "alice")
    waiting, _ = first.submit(config(seed=6), "alice")   # one worker: this one waits in the queue
    assert runner.one_epoch.wait(30)
    wait_for(lambda: first.snapshot(running, "alice").runs[0].history, what="the first epoch")

    second = restart(first, tmp_path, managers)
    jobs = {j.id: j for j in second.jobs_for("alice")}
    assert set(jobs) == {running, waiting}
    stopped = jobs[running]
    assert stopped.status == JobStatus.INTERRUPTED and stopped.status.finished
    assert "interrupted by a server restart after 1 of 2 epochs" in stopped.error
    assert [len(r.history) for r in stopped.runs] == [1, 1]            # the epochs trained so far are kept
    assert all(r.status not in (RunStatus.RUNNING, RunStatus.PENDING) for r in stopped.runs)
    assert "waited in the queue" in jobs[waiting].error and jobs[waiting].status == JobStatus.INTERRUPTED
    assert second.model(running, "alice", 0) is None

    # Start does not attach to the interrupted record; Run again (a fresh submit of its config) trains anew.
    again, attached = second.submit(stopped.config, "alice", fresh=True)
    assert not attached and again != running
    wait_for(lambda: second.snapshot(again, "alice").status.finished, what="the job run again")
    done = second.snapshot(again, "alice")
    assert done.status == JobStatus.DONE and [len(r.history) for r in done.runs] == [2, 2]
    assert second.model(again, "alice", 0) is not None
    other, attached = second.submit(config(seed=6), "alice")
    assert not attached and other != waiting
    assert second.snapshot(running, "alice").status == JobStatus.INTERRUPTED   # still listed as it was


def test_an_unreadable_job_list_is_moved_aside_and_the_server_starts(managers, tmp_path, caplog):
    (tmp_path / store.FILENAME).write_bytes(b"this is not a database\x00" * 200)
    with caplog.at_level(logging.ERROR):
        mgr = managers(runner=Blocking())
    assert any("job list" in r.getMessage() and r.levelno >= logging.ERROR for r in caplog.records)
    assert mgr.jobs_for("alice") == []
    assert list(tmp_path.glob(store.FILENAME + ".damaged-*"))   # kept for whoever wants to look at it
    with sqlite3.connect(tmp_path / store.FILENAME) as db:       # a new, working job list
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_a_damaged_row_is_skipped_and_the_others_come_back(managers, tmp_path, caplog):
    first = managers(runner=Blocking())
    job_id, _ = first.submit(config(seed=8), "alice")
    first.shutdown()
    opened = store.open_store(tmp_path)
    opened.flush()
    with opened._db_lock:
        opened._db.execute("INSERT INTO jobs SELECT 'broken', key, status, '{\"__class__\": \"os:system\"}', "
                           "sessions, created_at, started_at, finished_at, error, runs, models, extra, updated_at "
                           "FROM jobs")
    forget_connections(tmp_path)
    with caplog.at_level(logging.WARNING):
        second = managers()
    assert [j.id for j in second.jobs_for("alice")] == [job_id]
    assert any("broken" in r.getMessage() for r in caplog.records)


def test_freeing_a_finished_job_deletes_its_row_and_its_model_files_together(managers, tmp_path):
    mgr = managers(limits={"job_ttl_s": 1.0})
    job_id, _ = mgr.submit(config(seed=9, acts=("relu",), epochs=1), "alice")
    wait_for(lambda: mgr.snapshot(job_id, "alice").status.finished, what="the job to finish")
    model = tmp_path / "models" / f"{job_id}-0.zip"
    assert model.exists()
    wait_for(lambda: mgr.snapshot(job_id, "alice") is None, timeout=20, what="the job to be freed")
    opened = store.open_store(tmp_path)
    assert opened.flush()
    assert not model.exists() and all(r.id != job_id for r in opened.load())


def test_a_busy_job_is_written_a_bounded_number_of_times(managers, tmp_path, monkeypatch):
    writes = []
    opened = store.open_store(tmp_path)
    original = opened.save
    monkeypatch.setattr(opened, "save", lambda record: (writes.append(record.status), original(record)))

    def chatty(cfg, sink, control):  # 400 progress reports in about a second
        sink.run_started(0)
        for e in range(400):
            sink.live_point(0, e / 400, 0.5, e / 400)
            time.sleep(0.0025)
        sink.run_finished(0, RunStatus.DONE, "", {})
        return [SimpleNamespace(model=None)]

    mgr = managers(runner=chatty)
    job_id, _ = mgr.submit(config(acts=("relu",)), "alice")
    wait_for(lambda: mgr.snapshot(job_id, "alice").status.finished, what="the job to finish")
    assert opened.flush()
    assert writes[0] == "queued" and writes[-1] == "done" and "running" in writes
    assert len(writes) <= 8, writes   # queued, started, one per SAVE_EVERY_S of progress, done


def test_a_long_job_is_written_less_often_and_its_live_points_are_thinned_on_disk():
    from actviz.training import persist
    from actviz.training.records import Job

    saved, now = [], [0.0]
    keeper = persist.Persistence(SimpleNamespace(save=saved.append), lambda: now[0])
    job = Job(config(acts=("relu",)), "alice", 0.0)
    job.runs[0].live = [(i / 10, 1.0 / (i + 1)) for i in range(5000)]
    keeper.save(job)
    stored = saved[-1].runs[0].live
    assert len(stored) == persist.MAX_LIVE_STORED and stored[0] == (0.0, 1.0) and stored[-1] == job.runs[0].live[-1]
    assert [e for e, _ in stored] == sorted(e for e, _ in stored) and len(job.runs[0].live) == 5000  # a copy
    job.version += 1
    for t, writes in ((1.9, 1), (2.0, 2), (3.0, 2)):   # a short history: every 2 s, and only when it changed
        now[0] = t
        keeper.tick([job])
        assert len(saved) == writes, t
    record = EpochRecord(epoch=1, train_loss=0.5, train_acc=0.5, val_loss=0.5, val_acc=0.5, test_loss=0.5,
                         test_acc=0.5, seconds=0.0)
    job.runs[0].history = [record] * 10_000            # 10,000 records: every 13 s
    job.version += 1
    for t, writes in ((14.9, 2), (15.0, 3)):
        now[0] = t
        keeper.tick([job])
        assert len(saved) == writes, t


def test_a_state_folder_that_cannot_be_used_leaves_the_server_in_memory(tmp_path, caplog):
    not_a_folder = tmp_path / "state"
    not_a_folder.write_text("a file where the folder should be")
    with caplog.at_level(logging.ERROR):
        mgr = JobManager(limits(), runner=Blocking(), state_dir=str(not_a_folder))
    try:
        assert any("will not survive a restart" in r.getMessage() for r in caplog.records)
        job_id, _ = mgr.submit(config(), "alice")          # jobs still work, in memory
        assert [j.id for j in mgr.jobs_for("alice")] == [job_id]
    finally:
        mgr.shutdown()
