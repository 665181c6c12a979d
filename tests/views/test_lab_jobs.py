"""What the lab says about jobs: readable unique labels, one accuracy per run, bars that end where a run
ended, and replay frames (all against hand-made job snapshots)."""

from __future__ import annotations

import time

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.training.config import EpochRecord, RunProgress, RunStatus, TrainConfig
from actviz.training.jobs import JobSnapshot, JobStatus
from actviz.views import lab_jobs


def record(epoch: int, acc: float) -> EpochRecord:
    return EpochRecord(epoch, 1.0 / epoch, acc, 1.0, acc, 1.0, acc, 0.01)


def job(job_id="a", acts=("relu", "tanh"), created=100.0, runs=None, epochs=10, status=JobStatus.DONE) -> JobSnapshot:
    cfg = TrainConfig(datasets.DatasetSpec(name="moons"), tuple(choose(a) for a in acts), hidden=(4,), epochs=epochs)
    runs = runs or [RunProgress(a.label, a.key) for a in cfg.activations]
    return JobSnapshot(job_id, status, cfg, runs, None, created, created, created + 5, None, 1, 7)


def test_cut_keeps_short_text_and_ends_cut_text_with_an_ellipsis():
    assert lab_jobs.cut("short") == "short"
    long = "#1 · 13:52:01 · Moons · " + ", ".join(["LeakyReLU (negative_slope=0.1)"] * 5)
    short = lab_jobs.cut(long, 60)
    assert len(short) <= 60 and short.endswith("…") and long.startswith(short[:-1])
    assert not short[:-1].endswith(" ")  # cut at a word boundary, not mid-word
    assert "LeakyReLU (ne…" not in short


def test_labels_are_unique_and_say_number_time_dataset_and_activations():
    jobs = [job("a", created=time.monotonic() - 60), job("b", created=time.monotonic() - 30),
            job("c", acts=("relu", "sigmoid", "tanh", "gelu", "swish", "mish", "elu", "selu"))]
    labels = lab_jobs.job_labels(jobs)
    shorts = [labels[j.id][0] for j in jobs]
    assert len(set(shorts)) == 3
    whole = labels["a"][1]
    assert whole.startswith("#1 · ") and "Moons" in whole and whole.endswith("ReLU, Tanh")
    stamp = time.strftime("%H:%M", time.localtime(time.time() - 60))
    assert stamp in whole
    assert labels["c"][0].endswith("…") and "Mish" in labels["c"][1]


def test_bars_end_where_each_run_ended():
    done = RunProgress("ReLU", "relu", RunStatus.DONE, history=[record(e, 0.9) for e in range(1, 11)], progress=1.0)
    early = RunProgress("Tanh", "tanh", RunStatus("done"), history=[record(e, 0.8) for e in range(1, 5)],
                        progress=1.0)
    early.status = "early_stopped"  # the engine's new status, read as a plain value
    stopped = RunProgress("GELU", "gelu", RunStatus.CANCELLED, history=[record(1, 0.7), record(2, 0.7)], progress=1.0)
    running = RunProgress("ELU", "elu", RunStatus.RUNNING, history=[record(1, 0.7)], progress=0.15)
    assert lab_jobs.bar_fraction(done, 10) == 1.0
    assert lab_jobs.bar_fraction(early, 10) == pytest.approx(0.4)
    assert lab_jobs.bar_fraction(stopped, 10) == pytest.approx(0.2)
    assert lab_jobs.bar_fraction(running, 10) == pytest.approx(0.15)


def test_one_accuracy_per_run_and_it_says_which():
    running = RunProgress("ReLU", "relu", RunStatus.RUNNING, history=[record(1, 0.6), record(2, 0.7)])
    assert lab_jobs.accuracy(running) == (0.7, "test accuracy after epoch 2")
    early = RunProgress("Tanh", "tanh", RunStatus.DONE, history=[record(e, 0.5 + e / 100) for e in range(1, 9)],
                        summary={"test_acc": 0.81, "best_epoch": 5})
    early.status = "early_stopped"
    assert lab_jobs.accuracy(early) == (0.81, "test accuracy at the best validation epoch, 5")
    line = lab_jobs.run_line(early, 20)
    assert line == "Tanh · 81.0% · stopped early at epoch 8"
    assert "58" not in line  # the last epoch's number is not shown beside it


def test_replay_walks_the_recorded_epochs_at_the_chosen_pace():
    runs = [RunProgress("ReLU", "relu", RunStatus.DONE, history=[record(e, e / 10) for e in range(1, 11)],
                        live=[(e / 2, 1.0) for e in range(1, 21)], grad_norms=[[1.0]] * 10, boundary=[[0.5]],
                        summary={"test_acc": 1.0}, progress=1.0),
            RunProgress("Tanh", "tanh", RunStatus.DONE, history=[record(e, e / 10) for e in range(1, 5)],
                        grad_norms=[[1.0]] * 4, summary={"test_acc": 0.4}, progress=1.0)]
    finished = job(runs=runs)
    assert lab_jobs.replay_frame(finished, 0, 30) == 0
    assert lab_jobs.replay_frame(finished, 15, 30) == 5
    assert lab_jobs.replay_frame(finished, 31, 30) == 10
    half = lab_jobs.replayed(finished, 5)
    assert half.status == JobStatus.RUNNING and half.version != finished.version
    relu, tanh = half.runs
    assert [h.epoch for h in relu.history] == [1, 2, 3, 4, 5] and relu.status == RunStatus.RUNNING
    assert max(e for e, _ in relu.live) <= 5 and len(relu.grad_norms) == 5 and relu.boundary is None
    assert relu.summary == {} and lab_jobs.accuracy(relu) == (0.5, "test accuracy after epoch 5")
    assert [h.epoch for h in tanh.history] == [1, 2, 3, 4] and tanh.status == RunStatus.DONE  # ended at 4
    assert lab_jobs.replayed(finished, 10).status == JobStatus.DONE
    assert finished.runs[0].history[-1].epoch == 10  # the job itself is untouched


def test_created_time_converts_a_monotonic_clock():
    snap = job(created=50.0)
    assert lab_jobs.wall_clock(snap, now_wall=1000.0, now_mono=80.0) == 970.0


def test_a_regression_run_reports_its_r2():
    import math

    rec = EpochRecord(3, 0.2, math.nan, 0.3, math.nan, 0.25, math.nan, 0.01)
    object.__setattr__(rec, "test_r2", 0.912) if hasattr(rec, "test_r2") else None
    running = RunProgress("Tanh", "tanh", RunStatus.RUNNING, history=[rec])
    if hasattr(rec, "test_r2"):
        assert lab_jobs.accuracy(running) == (0.912, "test R² after epoch 3")
    done = RunProgress("Tanh", "tanh", RunStatus.DONE, history=[rec], summary={"test_r2": 0.9531, "test_rmse": 0.2})
    value, what = lab_jobs.accuracy(done)
    assert (value, what) == (0.9531, "test R²")
    assert lab_jobs.run_line(done, 3) == "Tanh · R² 0.953"
    assert lab_jobs.score_text(0.5, "test accuracy") == "50.0%"


class _Manager:
    """Answers snapshots from a scripted list (the last one repeats)."""

    def __init__(self, snapshots):
        self.snapshots, self.calls = list(snapshots), 0

    def snapshot(self, job_id, session):
        self.calls += 1
        return self.snapshots[min(self.calls - 1, len(self.snapshots) - 1)]


def _with_points(status=JobStatus.RUNNING, points=False, position=None):
    runs = [RunProgress("ReLU", "relu", live=[(0.1, 0.7)] if points else [])]
    j = job(runs=runs, status=status)
    return JobSnapshot(j.id, status, j.config, runs, position, j.created, j.started, None, None, 1, 7)


def test_start_waits_for_the_first_point_only_while_it_is_near():
    sleeps = []
    manager = _Manager([_with_points(), _with_points(), _with_points(points=True)])
    assert lab_jobs.wait_for_first_point(manager, "a", "t", timeout=5, sleep=sleeps.append) is True
    assert manager.calls == 3 and len(sleeps) == 2
    # Queued behind other jobs: no wait at all.
    queued = _Manager([_with_points(JobStatus.QUEUED, position=2)])
    assert lab_jobs.wait_for_first_point(queued, "a", "t", timeout=5, sleep=sleeps.append) is False
    assert queued.calls == 1
    # A job that never reports gives up at the timeout.
    silent = _Manager([_with_points()])
    t0 = time.monotonic()
    assert lab_jobs.wait_for_first_point(silent, "a", "t", timeout=0.1) is False
    assert time.monotonic() - t0 < 2
