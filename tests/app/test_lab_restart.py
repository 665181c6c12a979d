"""The training lab across a server restart (AppTest): with a state folder, the job a browser trained is in its
picker again after the restart, with its results, and a job the restart interrupted says so, in the picker
and on the page, and trains again with one click on Run again — or, when it saved resume points, goes on from
its last saved epoch with one click on Resume (a damaged resume point leaves Run again and says why).

"Restart": the process-wide job manager is shut down, its database connection closed, and the page opened
again with a fresh manager singleton on the same ``ACTVIZ_STATE_DIR``, as a new server process would.
"""

from __future__ import annotations

import time

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.training import jobs, store
from actviz.training.config import EpochRecord, RunProgress, RunStatus, TrainConfig
from tests.app.helpers import assert_clean, open_page, shown
from tests.app.test_training_lab import PAGE, poll_until_finished, start

pytestmark = pytest.mark.slow


def _restart(folder) -> None:
    from ui import session

    with jobs._MANAGER_LOCK:
        old, jobs._MANAGER = jobs._MANAGER, None
    if old is not None:
        old.shutdown()
    with store._STORES_LOCK:
        opened = store._STORES.pop(str(folder.resolve()), None)
    if opened is not None:
        opened.close()
    session.job_manager.clear()


@pytest.fixture
def state(tmp_path, monkeypatch):
    from ui import session

    with jobs._MANAGER_LOCK:
        previous, jobs._MANAGER = jobs._MANAGER, None   # this test's server has a state folder
    session.job_manager.clear()
    monkeypatch.setenv("ACTVIZ_STATE_DIR", str(tmp_path))
    yield tmp_path
    _restart(tmp_path)
    with jobs._MANAGER_LOCK:
        jobs._MANAGER = previous
    session.job_manager.clear()


def _interrupted_record(token: str) -> store.StoredJob:
    """A job that was training (epoch 1 of 2) when the server went down, as the store holds it."""
    cfg = TrainConfig(datasets.DatasetSpec("moons", n_samples=200), (choose("tanh"),), hidden=(4,), epochs=2,
                      seed=41)
    record = EpochRecord(epoch=1, train_loss=0.6, train_acc=0.7, val_loss=0.6, val_acc=0.7, test_loss=0.6,
                         test_acc=0.7, seconds=0.01)
    run = RunProgress("Tanh", "tanh", RunStatus.RUNNING, "", [record], [(1.0, 0.6)], [[0.1, 0.1]], None, 0.5)
    now = time.time()
    return store.StoredJob("interruptedjob1", cfg.key(), cfg, "running", [token], now, now, None, None, [run], [],
                           {}, now)


def test_after_a_restart_the_lab_shows_finished_and_interrupted_jobs_and_runs_one_again(state):
    at = start(open_page(PAGE), t_data="moons", t_act=["gelu"], t_hidden="4", t_epochs=2, t_seed=40)
    token = at.session_state["actviz_token"]   # a browser keeps it in a cookie; AppTest passes it as ?s=
    poll_until_finished(at)
    store.open_store(state).save(_interrupted_record(token))

    _restart(state)
    again = open_page(PAGE, {"s": token})
    assert_clean(again)
    options = again.selectbox(key="t_job_pick").options
    assert len(options) == 2
    assert "GELU" in options[0] and "interrupted" not in options[0]
    assert "interrupted" in options[1] and "Tanh" in options[1]
    # The finished one: its results, as before the restart.
    pick = next(j.id for j in jobs.manager().jobs_for(token) if j.status == jobs.JobStatus.DONE)
    picked = jobs.manager().snapshot(pick, token)
    assert picked.status == jobs.JobStatus.DONE and [len(r.history) for r in picked.runs] == [2]
    again.session_state["t_job_pick"] = pick
    again.run()
    assert any("Results" in h.value for h in again.subheader)

    # The interrupted one says so and offers Run again, which starts the same setup as a new job.
    stopped = next(j.id for j in jobs.manager().jobs_for(token) if j.status == jobs.JobStatus.INTERRUPTED)
    again.session_state["t_job_pick"] = stopped
    again.run()
    status = " ".join(shown(m.value) for m in again.markdown)
    assert "**Interrupted** by a server restart after 1 of 2 epochs; start it again" in status
    again.button(key=f"t_again_{stopped}").click().run()
    assert_clean(again)
    assert len(again.selectbox(key="t_job_pick").options) == 3
    fresh = again.session_state["t_job_pick"]
    assert fresh not in (stopped, pick)
    poll_until_finished(again)
    done = jobs.manager().snapshot(fresh, token)
    assert done.status == jobs.JobStatus.DONE and done.config == jobs.manager().snapshot(stopped, token).config


class _Collect:
    """The engine's sink for a job trained here as the server would have: its records, and a cancel (the
    restart) after epoch ``stop_after``."""

    def __init__(self, control, stop_after: int) -> None:
        self.control, self.stop_after, self.history = control, stop_after, {}

    def run_started(self, run):
        pass

    def live_point(self, *args):
        pass

    def epoch_done(self, run, record, norms, boundary):
        self.history.setdefault(run, []).append(record)
        if record.epoch >= self.stop_after:
            self.control.cancel()

    def run_finished(self, *args):
        pass


def _interrupted_with_resume_points(folder, token: str, job_id: str = "resumablejob1") -> tuple[store.StoredJob, list]:
    """A job that trained 1 of 3 epochs and saved its resume points before the server went down."""
    from actviz.training import engine, resume
    from actviz.training.control import TrainControl

    cfg = TrainConfig(datasets.DatasetSpec("moons", n_samples=200), (choose("tanh"),), hidden=(4,), epochs=3,
                      seed=43)
    control = TrainControl()
    sink = _Collect(control, 1)
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    engine.train(cfg, sink, control, saver=resume.Saver([resume.path_for(models, job_id, 0)], every_s=0,
                                                         max_share=None))
    runs = [p.progress() for p in cfg.plan()]
    runs[0].status, runs[0].history = RunStatus.RUNNING, sink.history[0]
    now = time.time()
    record = store.StoredJob(job_id, cfg.key(), cfg, "running", [token], now, now, None, None, runs, [], {}, now)
    return record, sink.history[0]


def test_an_interrupted_job_with_resume_points_goes_on_from_its_epoch_with_one_click(state):
    at = open_page(PAGE)
    token = at.session_state["actviz_token"]
    record, saved = _interrupted_with_resume_points(state, token)
    store.open_store(state).save(record)

    _restart(state)
    again = open_page(PAGE, {"s": token})
    again.session_state["t_job_pick"] = record.id
    again.run()
    assert_clean(again)
    status = " ".join(shown(m.value) for m in again.markdown)
    assert "**Interrupted** by a server restart after 1 of 3 epochs" in status
    button = again.button(key=f"t_resume_{record.id}")
    assert button.label == "Resume from epoch 1"
    assert again.button(key=f"t_again_{record.id}").label == "Run again"   # from the beginning, still offered

    button.click().run()
    assert_clean(again)
    resumed = again.session_state["t_job_pick"]
    assert resumed != record.id and len(again.selectbox(key="t_job_pick").options) == 2
    poll_until_finished(again)
    done = jobs.manager().snapshot(resumed, token)
    assert done.status == jobs.JobStatus.DONE and done.resumed_from == 1
    history = done.runs[0].history
    assert [r.epoch for r in history] == [1, 2, 3]
    assert history[0].train_loss == saved[0].train_loss and history[0].val_acc == saved[0].val_acc  # not retrained
    assert "resumed from epoch 1" in " ".join(shown(m.value) for m in again.markdown)


def test_a_damaged_resume_point_leaves_run_again_and_says_why(state):
    at = open_page(PAGE)
    token = at.session_state["actviz_token"]
    record, _ = _interrupted_with_resume_points(state, token, "damagedjob001")
    store.open_store(state).save(record)
    (state / "models" / "damagedjob001-0.resume.zip").write_bytes(b"PK\x03\x04 half a file")

    _restart(state)
    again = open_page(PAGE, {"s": token})
    again.session_state["t_job_pick"] = record.id
    again.run()
    assert_clean(again)
    assert not [b for b in again.button if b.key == f"t_resume_{record.id}"]
    assert again.button(key=f"t_again_{record.id}").label == "Run again"
    said = " ".join(c.value for c in again.caption)
    assert "Cannot resume: the saved training state is damaged" in said
    assert "Run again starts it from the beginning" in said
