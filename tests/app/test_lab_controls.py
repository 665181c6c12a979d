"""The lab's live learning-rate box sends a command only when its value changed.

Streamlit can call a number box's on_change when nobody touched it (the browser's first report of the
value the script preset), often just as a race ends; that used to send set_lr to the finished job and a
toast "the job is not training" covered the results.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actviz.errors import InputError
from ui import training_controls


class _State(dict):
    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


class _Manager:
    def __init__(self, running: bool) -> None:
        self.running, self.calls = running, []

    def set_lr(self, job_id: str, token: str, lr: float) -> str:
        self.calls.append((job_id, token, lr))
        if not self.running:
            raise InputError("the job is not training")
        return f"learning rate {lr:g} from the next step"


@pytest.fixture
def state(monkeypatch):
    s = _State()
    monkeypatch.setattr(training_controls, "st", SimpleNamespace(session_state=s))
    return s


def test_an_untouched_box_sends_nothing_even_to_a_finished_job(state):
    manager = _Manager(running=False)
    state["t_ctl_lr_7"] = 0.01
    training_controls._set_lr(manager, "7", "tok", "t_ctl_lr_7", 0.01)
    assert manager.calls == [] and "t_ctl_message" not in state


def test_a_changed_value_is_sent_and_its_answer_shown(state):
    manager = _Manager(running=True)
    state["t_ctl_lr_7"] = 0.05
    training_controls._set_lr(manager, "7", "tok", "t_ctl_lr_7", 0.01)
    assert manager.calls == [("7", "tok", 0.05)]
    assert state["t_ctl_message"] == "learning rate 0.05 from the next step"
    finished = _Manager(running=False)
    training_controls._set_lr(finished, "7", "tok", "t_ctl_lr_7", 0.01)
    assert finished.calls and state["t_ctl_message"] == "⚠️ the job is not training"
