"""A job interrupted by a restart goes on from its last resume point with the history it would have had.

The reference is always the same setup trained straight through; the interrupted job trains 3 of 6 epochs,
is stopped (a cancel, or a server restart), and goes on from the resume points it saved.  Histories are
compared field by field except the wall-clock ``seconds``.
"""

from __future__ import annotations

import io
import math
import pickle
import time
import zipfile
from pathlib import Path

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.limits import Limits
from actviz.network import checkpoint
from actviz.training import engine, resume, store
from actviz.training.config import TrainConfig
from actviz.training.control import TrainControl
from actviz.training.jobs import JobManager, JobStatus


class Sink:
    """Collects what the engine reports; cancels the job after epoch ``stop_after`` of every run."""

    def __init__(self, control: TrainControl | None = None, stop_after: int | None = None) -> None:
        self.history: dict[int, list] = {}
        self.ended: dict[int, tuple] = {}
        self.control, self.stop_after = control, stop_after

    def run_started(self, run: int) -> None:
        pass

    def live_point(self, *args) -> None:
        pass

    def epoch_done(self, run, record, norms, boundary) -> None:
        self.history.setdefault(run, []).append(record)
        if self.stop_after is not None and record.epoch >= self.stop_after:
            self.control.cancel()

    def run_finished(self, run, status, message, summary) -> None:
        self.ended[run] = (str(status), summary)


def rows(history) -> list[dict]:
    return [{k: v for k, v in r.as_dict().items() if k != "seconds"} for r in history]


def assert_same_history(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(rows(a), rows(b), strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float) and math.isnan(x[k]):
                assert math.isnan(y[k]), k
            else:
                assert y[k] == pytest.approx(x[k], rel=1e-5, abs=1e-7), (k, x["epoch"])


# Every source of state a resume point must carry: Adam's moments, two seeds' batch orders and dropout
# masks, RReLU's random slopes, PReLU's learned slope, early stopping (runs that end before and after the
# resume point); and plain SGD with momentum, a step schedule and full batches.
CONFIGS = {
    "adam": TrainConfig(datasets.DatasetSpec("moons", n_samples=400),
                        (choose("relu"), choose("rrelu"), choose("prelu", learnable=["init"]), choose("sigmoid")),
                        hidden=(8, 8), epochs=6, seed=3, seeds=2, dropout=0.1, batch_size=32, patience=2, lr=0.01),
    "sgd": TrainConfig(datasets.DatasetSpec("circles", n_samples=300), (choose("tanh"), choose("swish")),
                       hidden=(6,), epochs=6, seed=5, optimizer="sgd", lr=0.2, momentum=0.9, batch_size=0,
                       schedule="step", lr_step=2, lr_gamma=0.5),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_three_epochs_interrupted_then_resumed_give_the_history_of_six_straight(name, tmp_path):
    cfg = CONFIGS[name]
    straight = Sink()
    engine.train(cfg, straight)

    paths = [resume.path_for(tmp_path, "job", i) for i in range(len(cfg.plan()))]
    control = TrainControl()
    engine.train(cfg, Sink(control, stop_after=3), control,
                 saver=resume.Saver(paths, every_s=0, max_share=None))
    assert resume.peek(paths, cfg) == 3
    points = resume.read(paths, cfg)
    resumed = Sink()
    runs = engine.train(cfg, resumed, resume=points)
    assert points == []   # consumed: the saved tensors are not held while the job trains

    assert set(resumed.history) == set(straight.history)
    for run in straight.history:
        assert_same_history(straight.history[run], resumed.history[run])
        assert resumed.ended[run][0] == straight.ended[run][0]
        for k in ("test_acc", "test_loss", "best_epoch"):
            assert resumed.ended[run][1][k] == pytest.approx(straight.ended[run][1][k], rel=1e-5, abs=1e-7), k
    if name == "adam":  # the setup really covers runs that stopped early before and after the resume point
        lengths = [len(h) for h in straight.history.values()]
        assert min(lengths) <= 3 and any(3 < n < 6 for n in lengths) and max(lengths) == 6
    assert all(r.model is not None for r in runs)


def saved(tmp_path, cfg: TrainConfig, stop_after: int = 1) -> list[Path]:
    paths = [resume.path_for(tmp_path, "job", i) for i in range(len(cfg.plan()))]
    control = TrainControl()
    engine.train(cfg, Sink(control, stop_after=stop_after), control, saver=resume.Saver(paths, every_s=0,
                                                                                       max_share=None))
    return paths


SMALL = TrainConfig(datasets.DatasetSpec("moons", n_samples=200), (choose("tanh"), choose("relu")), hidden=(4,),
                    epochs=3, seed=41)


def test_a_resume_point_is_a_checkpoint_of_the_one_schema(tmp_path):
    path = saved(tmp_path, SMALL)[1]
    loaded = checkpoint.load(path.read_bytes())   # any reader of checkpoints reads the model at that epoch
    assert loaded.config["resume"]["epoch"] == 1 and loaded.config["resume"]["run"] == 1
    assert loaded.config["dataset"]["name"] == "moons" and loaded.label == "ReLU"


def test_missing_damaged_foreign_or_mixed_resume_points_are_refused_with_a_reason(tmp_path):
    paths = saved(tmp_path, SMALL)
    other = TrainConfig(SMALL.dataset, SMALL.activations, hidden=(4,), epochs=3, seed=42)
    with pytest.raises(InputError, match="another setup"):
        resume.peek(paths, other)
    with pytest.raises(InputError, match="another setup"):
        resume.read(paths, other)

    good = paths[0].read_bytes()
    paths[0].write_bytes(good[: len(good) // 2])   # cut short: a crash mid-copy
    with pytest.raises(InputError, match="damaged.*Run again starts it from the beginning"):
        resume.peek(paths, SMALL)
    paths[0].write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="damaged"):
        resume.read(paths, SMALL)
    paths[0].unlink()
    with pytest.raises(InputError, match="no training state was saved"):
        resume.peek(paths, SMALL)

    (tmp_path / "later").mkdir()
    later = saved(tmp_path / "later", SMALL, stop_after=2)   # a run saved at epoch 2 beside one at epoch 1
    paths[0].write_bytes(later[0].read_bytes())
    with pytest.raises(InputError, match="different epochs"):
        resume.peek(paths, SMALL)


def test_a_resume_point_with_a_pickle_payload_is_refused_without_running_it(tmp_path):
    paths = saved(tmp_path, SMALL)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with zipfile.ZipFile(paths[0]) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["resume.pt"] = pickle.dumps({"optimizer": Evil()})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    paths[0].write_bytes(buf.getvalue())
    assert resume.peek(paths, SMALL) == 1   # its config.json is fine ...
    with pytest.raises(InputError, match="resume.pt was refused"):
        resume.read(paths, SMALL)          # ... its tensors are not
    assert not marker.exists()


def test_saving_is_bounded_by_its_share_of_the_time():
    clock = [0.0]
    saver = resume.Saver([], every_s=5.0, max_share=0.02, clock=lambda: clock[0])
    assert saver.due()                      # the first epoch boundary saves
    saver.cost_s, saver.last = 0.01, 0.0    # a quick save: the next one 5 s later
    clock[0] = 4.0
    assert not saver.due()
    clock[0] = 5.0
    assert saver.due()
    saver.cost_s, saver.last = 1.0, 5.0    # a 1 s save: the next one 50 s later, not 5 s
    clock[0] = 40.0
    assert not saver.due()
    clock[0] = 55.0
    assert saver.due()


# --- through the job manager and worker processes ---------------------------------------------------------

def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout} s")


def forget_connections(folder: Path) -> None:
    with store._STORES_LOCK:
        opened = store._STORES.pop(str(folder.resolve()), None)
    if opened is not None:
        opened.close()


@pytest.fixture
def managers(tmp_path):
    made = []

    def make(backend: str = "processes") -> JobManager:
        runner = engine.train if backend == "threads" else None   # the engine itself, in this process
        mgr = JobManager(Limits(max_running_jobs=1, max_jobs_per_session=5), state_dir=str(tmp_path), runner=runner)
        assert mgr.backend.name == backend
        made.append(mgr)
        return mgr

    yield make
    for mgr in made:
        mgr.shutdown()
    forget_connections(tmp_path)


def epochs(mgr: JobManager, job_id: str) -> int:
    return min(len(r.history) for r in mgr.snapshot(job_id, "alice").runs)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_a_job_a_restart_interrupted_resumes_with_the_history_of_one_never_stopped(managers, tmp_path, backend):
    cfg = TrainConfig(datasets.DatasetSpec("moons", n_samples=400), (choose("rrelu"), choose("tanh")),
                      hidden=(8,), epochs=6, seed=7, seeds=2, dropout=0.1, batch_size=32, patience=4)
    first = managers(backend)
    straight, _ = first.submit(cfg, "alice")
    wait_for(lambda: first.snapshot(straight, "alice").status.finished, what="the straight job")
    reference = first.snapshot(straight, "alice")
    assert reference.status == JobStatus.DONE

    # Three epochs, one step at a time: a job paused at an epoch boundary saves its resume point there.
    job, _ = first.submit(cfg, "alice", fresh=True)
    first.pause(job, "alice")
    for n in (1, 2, 3):
        first.step(job, "alice")
        wait_for(lambda n=n: epochs(first, job) == n and first.snapshot(job, "alice").paused, what=f"epoch {n}")
    first.shutdown()
    forget_connections(tmp_path)

    second = managers(backend)
    stopped = second.snapshot(job, "alice")
    assert stopped.status == JobStatus.INTERRUPTED and stopped.resume_epoch == 3 and stopped.resume_note is None
    again, attached = second.resume_interrupted(job, "alice")
    assert not attached and again != job
    wait_for(lambda: second.snapshot(again, "alice").status.finished, what="the resumed job")
    done = second.snapshot(again, "alice")
    assert done.status == JobStatus.DONE and done.resumed_from == 3
    for a, b in zip(reference.runs, done.runs, strict=True):
        assert_same_history(a.history, b.history)
        assert b.summary["test_acc"] == pytest.approx(a.summary["test_acc"])
    assert second.model(again, "alice", 0) is not None
    # It ended normally: its own resume points are gone; the interrupted job's stay until it is freed.
    assert not list(tmp_path.glob(f"models/{again}-*.resume.zip"))
    assert len(list(tmp_path.glob(f"models/{job}-*.resume.zip"))) == len(cfg.plan())


@pytest.mark.slow
def test_a_damaged_resume_point_found_by_the_worker_fails_the_job_with_a_reason(managers, tmp_path):
    first = managers()
    job, _ = first.submit(SMALL, "alice")
    first.pause(job, "alice")
    first.step(job, "alice")
    wait_for(lambda: epochs(first, job) == 1 and first.snapshot(job, "alice").paused, what="epoch 1")
    first.shutdown()
    forget_connections(tmp_path)
    # The config.json a restart reads is intact; the optimizer state behind it is not.
    path = tmp_path / "models" / f"{job}-0.resume.zip"
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["resume.pt"] = members["resume.pt"][:100]
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)

    second = managers()
    assert second.snapshot(job, "alice").resume_epoch == 1
    again, _ = second.resume_interrupted(job, "alice")
    wait_for(lambda: second.snapshot(again, "alice").status.finished, what="the resumed job")
    failed = second.snapshot(again, "alice")
    assert failed.status == JobStatus.FAILED
    assert "saved training state is damaged" in failed.error and "Run again" in failed.error
    path.unlink()
    with pytest.raises(InputError, match="no training state was saved"):
        second.resume_interrupted(job, "alice")
    assert second.snapshot(job, "alice").resume_epoch is None   # the page now offers Run again only


def rewrite(path: Path, name: str, change) -> None:
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.mark.parametrize("change", [
    lambda text: text.replace(b'"epochs_since_best":0', b'"epochs_since_best":"soon"'),
    lambda text: text.replace(b'"best_epoch":1', b'"best_epoch":99'),
    lambda text: text.replace(b'"history":[', b'"history":[7,'),
    lambda text: b"{not json",
])
def test_malformed_training_counters_are_refused_before_training(tmp_path, change):
    paths = saved(tmp_path, SMALL)
    rewrite(paths[0], "resume.json", change)
    with pytest.raises(InputError, match="damaged.*resume.json"):
        resume.read(paths, SMALL)
