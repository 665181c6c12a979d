"""The training lab across a server restart (AppTest): with a state folder, the job a browser trained is in its
picker again after the restart, with its results, and a job the restart interrupted says so, in the picker
and on the page, and trains again with one click on Run again.

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
