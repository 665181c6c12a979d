"""The job list on disk: configs and run records as JSON (never pickled), SQLite rows that survive a new
process, interrupted jobs marked as such, old results and damaged rows dropped without taking anything down."""

from __future__ import annotations

import json
import math
import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actviz.activations.choice import choose, custom
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import models
from actviz.training import codec, store
from actviz.training.config import EpochRecord, RunProgress, RunStatus, TrainConfig


def config(**kw) -> TrainConfig:
    acts = (choose("relu"), choose("leaky_relu", {"negative_slope": "0.05"}), choose("prelu", learnable=["init"]))
    base = dict(dataset=datasets.DatasetSpec(name="circles", n_samples=300, noise=0.1, seed=3), activations=acts,
                hidden=(8, 4), init=models.InitSpec("uniform", low=-0.5, high=0.5, bias=0.1), optimizer="sgd", lr=0.05,
                momentum=0.8, batch_size=32, epochs=7, patience=3, seed=11)
    return TrainConfig(**{**base, **kw})


def record(epoch: int, loss: float = 0.5) -> EpochRecord:
    return EpochRecord(epoch=epoch, train_loss=loss, train_acc=0.75, val_loss=math.nan, val_acc=0.5, test_loss=math.inf,
                       test_acc=0.25, seconds=0.01)


def progress(label: str = "ReLU", epochs: int = 2, status: RunStatus = RunStatus.RUNNING) -> RunProgress:
    return RunProgress(label, label.lower(), status, "", [record(e + 1, 1 / (e + 1)) for e in range(epochs)],
                       [(0.5, 0.9), (1.0, 0.7)], [[0.1, 0.2]] * epochs, [[0.0, 1.0], [0.5, 0.25]], epochs / 10,
                       {"test_acc": 0.9, "learned": {"init": [0.25, 0.3]}, "dead_per_layer": [0, 1]})


# --- codec -----------------------------------------------------------------------------------------------

def test_a_training_config_comes_back_equal_with_the_same_key():
    cfg = config()
    back = codec.loads(codec.dumps(cfg))
    assert back == cfg and back.key() == cfg.key()
    assert isinstance(back.activations, tuple) and isinstance(back.hidden, tuple)


def test_a_custom_formula_and_a_csv_spec_come_back():
    cfg = config(activations=(custom("x * tanh(k * x)", {"k": 1.5}),), optimizer="adam", patience=None)
    assert codec.loads(codec.dumps(cfg)) == cfg
    spec = datasets.DatasetSpec(name="csv", csv_key="ab" * 32, label_column="class", seed=2)
    assert codec.loads(codec.dumps(spec)) == spec


def test_run_records_keep_nan_infinity_statuses_and_nested_summaries():
    runs = [progress("ReLU"), progress("Tanh", 1, RunStatus.DIVERGED)]
    back = codec.loads(codec.dumps(runs))
    assert [r.status for r in back] == [RunStatus.RUNNING, RunStatus.DIVERGED]
    assert all(type(r.status) is RunStatus for r in back)   # the enum, not its string value
    assert back[0].summary == runs[0].summary and back[0].live == runs[0].live and back[0].boundary == runs[0].boundary
    first = back[0].history[0]
    assert math.isnan(first.val_loss) and first.test_loss == math.inf and first.train_loss == 1.0


@pytest.mark.parametrize("data", [
    {"__class__": "os:system", "fields": {}},                                  # not ours
    {"__class__": "subprocess:Popen", "fields": {"args": ["true"]}},
    {"__class__": "actviz.training.store:JobStore", "fields": {"folder": "/"}},  # ours, but not a dataclass
    {"__enum__": "actviz.training.config:RunProgress", "value": 1},             # not an enum
    {"__class__": "actviz.training.config:Nope", "fields": {}},                 # gone in this version
    {"__enum__": "actviz.training.config:RunStatus", "value": "exploded"},
    {"__class__": "actviz.data.spec:DatasetSpec", "fields": {"name": "moons", "n_samples": -5}},  # invalid now
    {"__class__": "actviz.data.spec:DatasetSpec", "fields": []},
    {"__tuple__": "abc"},
    {"__weird__": 1},
])
def test_decoding_builds_only_valid_actviz_dataclasses_and_enums(data):
    with pytest.raises(codec.CodecError):
        codec.decode(data)


def test_unknown_fields_are_dropped_and_missing_ones_take_their_defaults():
    data = codec.encode(config())
    data["fields"]["from_a_future_version"] = 3
    del data["fields"]["seed"]
    back = codec.decode(data)
    assert back.seed == TrainConfig.__dataclass_fields__["seed"].default and back.epochs == 7


def test_values_it_cannot_store_are_refused_when_encoding():
    with pytest.raises(codec.CodecError):
        codec.encode({"x": object()})
    with pytest.raises(codec.CodecError):
        codec.encode({1: "int key"})
    with pytest.raises(codec.CodecError):
        codec.loads("{not json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=6).filter(lambda k: not k.startswith("__")), inner, max_size=4),
    max_leaves=20)


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_plain_values_round_trip_exactly(value):
    assert _same(codec.loads(codec.dumps(value)), value)


MARKERS = ["__class__", "__enum__", "__tuple__", "fields", "value", "actviz.data.spec:DatasetSpec",
           "actviz.training.config:RunStatus", "os:system", "name"]
hostile_json = st.recursive(
    st.none() | st.integers() | st.floats() | st.sampled_from(MARKERS) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(MARKERS) | st.text(max_size=8), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(hostile_json)
def test_arbitrary_stored_json_decodes_or_is_refused_cleanly(data):
    try:
        codec.decode(data)
    except codec.CodecError:
        pass


# --- the SQLite store ------------------------------------------------------------------------------------

def stored(job_id: str = "job-1", status: str = "done", **kw) -> store.StoredJob:
    now = time.time()
    base = dict(id=job_id, key=config().key(), config=config(), status=status, sessions=["tok-a", "tok-b"],
                created_at=now - 60, started_at=now - 50, finished_at=now - 5 if status == "done" else None,
                runs=[progress("ReLU", 3, RunStatus.DONE if status == "done" else RunStatus.RUNNING)],
                models=[], extra={"estimate": {"memory_mb": 12.5}}, updated_at=now - 5)
    return store.StoredJob(**{**base, **kw})


def test_saved_jobs_come_back_from_a_new_store_on_the_same_folder(tmp_path):
    s = store.JobStore(tmp_path)
    model = s.model_path("job-1", 0)
    model.write_bytes(b"zip")
    s.save(stored(models=[str(model)]))
    s.close()
    back = store.JobStore(tmp_path).load()
    assert len(back) == 1
    job = back[0]
    assert job.config == config() and job.status == "done" and sorted(job.sessions) == ["tok-a", "tok-b"]
    assert job.models == [str(model)] and job.extra == {"estimate": {"memory_mb": 12.5}}
    assert [r.train_loss for r in job.runs[0].history] == [1.0, 0.5, 1 / 3]
    # Paths inside the folder are kept relative, so the folder (a Docker volume) can move.
    row = sqlite3.connect(tmp_path / store.FILENAME).execute("SELECT models FROM jobs").fetchone()
    assert json.loads(row[0]) == ["models/job-1-0.zip"]


def test_the_database_is_readable_by_its_owner_only(tmp_path):
    store.JobStore(tmp_path).close()
    assert (tmp_path / store.FILENAME).stat().st_mode & 0o077 == 0


def test_the_latest_save_wins_and_delete_forgets(tmp_path):
    s = store.JobStore(tmp_path)
    for status in ("queued", "running", "done"):
        s.save(stored(status=status))
    s.save(stored("job-2"))
    s.delete("job-2")
    assert s.flush()
    assert [(j.id, j.status) for j in s.load()] == [("job-1", "done")]
    s.close()


def test_a_job_a_restart_interrupted_says_so_and_keeps_its_epochs(tmp_path):
    running = store.interrupted(stored(status="running"))
    assert running.status == store.INTERRUPTED and running.finished_at is not None
    assert "interrupted by a server restart after 3 of 7 epochs" in running.error
    assert running.runs[0].status.finished and "restart" in running.runs[0].message
    assert len(running.runs[0].history) == 3
    queued = store.interrupted(stored(status="queued", started_at=None, runs=[progress(epochs=0)]))
    assert "waited in the queue" in queued.error
    done = stored()
    assert store.interrupted(done) is done


def test_old_finished_jobs_are_deleted_with_their_checkpoints_but_unfinished_ones_stay(tmp_path):
    s = store.JobStore(tmp_path)
    old = s.model_path("old", 0)
    old.write_bytes(b"zip")
    outside = tmp_path / "not-a-model.zip"
    outside.write_bytes(b"keep")
    now = time.time()
    s.save(stored("old", finished_at=now - 7200, models=[str(old), str(outside)]))
    s.save(stored("new"))
    s.save(stored("live", status="running", updated_at=now - 7200))
    ids = [j.id for j in s.load(max_age_s=3600, now=now)]
    assert sorted(ids) == ["live", "new"]
    assert not old.exists() and outside.exists()  # only files of the store's own model folder are removed
    s.flush()
    assert sorted(j.id for j in s.load()) == ["live", "new"]
    s.close()


def test_a_row_this_version_cannot_read_is_skipped(tmp_path):
    s = store.JobStore(tmp_path)
    s.save(stored("good"))
    s.save(stored("bad"))
    s.flush()
    db = sqlite3.connect(tmp_path / store.FILENAME)
    db.execute("UPDATE jobs SET config = ? WHERE id = 'bad'",
               (json.dumps({"__class__": "builtins:eval", "fields": {}}),))
    db.commit()
    assert [j.id for j in s.load()] == ["good"]
    s.close()


def test_without_a_state_folder_there_is_no_store(tmp_path, monkeypatch):
    from actviz import limits

    monkeypatch.delenv("ACTVIZ_STATE_DIR", raising=False)
    assert limits.state_dir() is None and store.open_store(None) is None
    assert limits.state_dir({"ACTVIZ_STATE_DIR": f" {tmp_path} "}) == str(tmp_path)
    assert store.open_store(tmp_path) is store.open_store(str(tmp_path))  # one store per folder
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert store.open_store(blocked / "state") is None  # unusable: logged, jobs stay in memory


def test_invalid_configs_never_reach_the_store():
    with pytest.raises(InputError):
        config(epochs=0)
