"""Driving a job while it trains: pause, step one epoch, a new learning rate, resume, cancel."""

from __future__ import annotations

import threading
import time

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.errors import InputError
from actviz.training.config import TrainConfig
from actviz.training.control import TrainControl, as_control
from actviz.training.engine import train


class Sink:
    def __init__(self, on_epoch=None):
        self.records: dict[int, list] = {}
        self.final: dict[int, tuple] = {}
        self.on_epoch = on_epoch

    def run_started(self, run):
        pass

    def live_point(self, *args):
        pass

    def epoch_done(self, run, record, norms, boundary):
        self.records.setdefault(run, []).append(record)
        if self.on_epoch:
            self.on_epoch(run, record)

    def run_finished(self, run, status, message, summary):
        self.final[run] = (status, message, summary)

    def epochs(self, run=0):
        return len(self.records.get(run, []))


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def config(epochs=40):
    return TrainConfig(datasets.DatasetSpec(name="moons", n_samples=300), (choose("relu"), choose("tanh")),
                       hidden=(8,), epochs=epochs, lr=0.01, seed=0)


def test_pause_step_set_lr_resume_and_cancel():
    control = TrainControl()
    sink = Sink(on_epoch=lambda run, rec: control.pause() if rec.epoch == 2 and run == 1 else None)
    worker = threading.Thread(target=train, args=(config(), sink, control))
    worker.start()
    try:
        wait_for(lambda: control.state()["waiting"])
        assert sink.epochs(0) == sink.epochs(1) == 2 and control.paused
        time.sleep(0.3)
        assert sink.epochs(0) == 2, "a paused job trained on"
        control.step()
        wait_for(lambda: control.state()["waiting"] and sink.epochs(1) == 3)
        time.sleep(0.2)
        assert sink.epochs(0) == sink.epochs(1) == 3, "step trained more (or less) than one epoch"
        control.set_lr(0.5)
        control.step()
        wait_for(lambda: control.state()["waiting"] and sink.epochs(1) == 4)
        assert [r.lr for r in sink.records[0]] == [0.01, 0.01, 0.01, 0.5]
        control.resume()
        wait_for(lambda: sink.epochs(1) >= 6)
        control.cancel()
        worker.join(10)
        assert not worker.is_alive()
    finally:
        control.cancel()
        worker.join(10)
    assert all(sink.final[i][0] == "stopped" for i in (0, 1))
    assert "stopped by the user" in sink.final[0][1]
    assert sink.epochs(0) < 40 and sink.final[0][2]["test_acc"] is not None


def test_cancel_while_paused_ends_the_job():
    control = TrainControl()
    control.pause()
    sink = Sink()
    worker = threading.Thread(target=train, args=(config(), sink, control))
    worker.start()
    wait_for(lambda: control.state()["waiting"])
    control.cancel()
    worker.join(10)
    assert not worker.is_alive() and sink.epochs(0) == 0
    assert sink.final[0][0] == "stopped" and sink.final[0][2]["test_acc"] is None


def test_a_plain_event_still_cancels_and_commands_travel_as_plain_values():
    event = threading.Event()
    event.set()
    sink = Sink()
    train(config(), sink, event)
    assert sink.final[0][0] == "stopped"
    control = as_control(None)
    control.apply("pause")
    assert control.paused
    control.apply("set_lr", "0.02")
    assert control.lr == 0.02
    control.apply("resume")
    assert control.state() == {"paused": False, "waiting": False, "stepping": False, "lr": 0.02, "cancelled": False,
                               "epoch": 0}
    with pytest.raises(InputError, match="unknown training command"):
        control.apply("explode")
    with pytest.raises(InputError, match="learning rate"):
        control.set_lr(1e9)
