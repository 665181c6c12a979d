"""The Ray job actor's own logic, driven in this process without Ray (it is a plain class until the server
wraps it with ``ray.remote``): followers, turns held by any of them, a cancel from one follower of several,
the trained models as checkpoint bytes, and the actor ending itself when nobody needs it."""

from __future__ import annotations

import time

import pytest
import torch

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.network import checkpoint
from actviz.training import ray_actor
from actviz.training.config import TrainConfig


def config(epochs: int) -> TrainConfig:
    return TrainConfig(datasets.DatasetSpec("moons"), (choose("relu"), choose("tanh")), hidden=(8,), epochs=epochs,
                       seed=0, batch_size=64)


def payload(cfg: TrainConfig) -> dict:
    # No memory ceiling: the actor runs in this test process, whose address space it would otherwise cap at
    # its size now plus 1 MB and the margin (every later test in the session then fails to allocate).
    return {"job_id": "j", "config": cfg, "estimate_bytes": 2**20, "threads": 1, "budget_bytes": None,
            "ceiling": False}


@pytest.fixture
def actor(monkeypatch):
    monkeypatch.setattr(ray_actor, "_prepared", True)  # no nice(15) or allocator change for the test process
    monkeypatch.setattr(ray_actor, "WATCH_S", 0.05)
    threads = torch.get_num_threads()
    ended = []
    made = ray_actor.JobActor(end=ended.append)
    made.ended = ended
    yield made
    made.command("a", "cancel", [])
    made.command("b", "cancel", [])
    torch.set_num_threads(threads)


def read(actor, follower: str, cursor: int = 0, until=None, timeout: float = 30.0):
    """Poll as a replica does; returns (all messages read, cursor, still following)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        messages, cursor, cpu, following = actor.poll(follower, cursor)
        assert cpu >= 0.0
        seen += messages
        if until is None or until(seen) or time.monotonic() > deadline:
            return seen, cursor, following
        time.sleep(0.02)


def quiet(actor, cursor: int, timeout: float = 15.0) -> int:
    """Read until no progress report arrives for a whole second (fails if reports never stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        seen, cursor, _ = read(actor, "a", cursor)
        if not [m for m in seen if m[0] in ("live", "epoch")]:
            return cursor
    raise AssertionError("the job kept reporting progress while held")


def epochs(messages, run: int = 0) -> int:
    return sum(1 for m in messages if m[0] == "epoch" and m[1] == run)


def test_a_job_trains_in_the_actor_and_its_models_come_back_as_checkpoints(actor):
    cfg = config(epochs=3)
    assert actor.join("a")
    actor.start(payload(cfg))
    actor.start(payload(cfg))  # a second replica's start is ignored: one training
    seen, _, _ = read(actor, "a", until=lambda s: s and s[-1][0] in ("done", "failed"))
    assert seen[-1][0] == "done", seen[-1]
    indices, cancelled = seen[-1][1], seen[-1][2]
    assert indices == [0, 1] and cancelled is False
    assert [epochs(seen, r) for r in (0, 1)] == [3, 3]
    assert [m[1] for m in seen if m[0] == "run_started"] == [0, 1]
    model = checkpoint.load(actor.checkpoint(1)).model
    assert sum(p.numel() for p in model.parameters()) == 2 * 8 + 8 + 8 + 1
    assert actor.checkpoint(5) is None
    assert not actor.join("late")  # a finished job takes no new followers: a later submit trains anew
    assert actor.ended == []  # still followed: the results may not have been fetched
    assert actor.leave("a") is True  # the last follower has its copy ...
    deadline = time.monotonic() + 5
    while not actor.ended and time.monotonic() < deadline:
        time.sleep(0.02)
    assert actor.ended == [0]  # ... so the actor ends itself, freeing its name and its resources


def test_a_turn_held_by_any_follower_keeps_the_job_waiting(actor):
    cfg = config(epochs=1000)
    assert actor.join("a") and actor.join("b")
    actor.start(payload(cfg))
    seen, cursor, _ = read(actor, "a", until=lambda s: epochs(s) >= 2)
    actor.hold("a")
    actor.hold("b")
    cursor = quiet(actor, cursor)  # the engine stops at its next report and waits there
    actor.release("a")  # b still holds it
    time.sleep(1.0)
    still, cursor, _ = read(actor, "a", cursor)
    assert not [m for m in still if m[0] in ("live", "epoch")]
    actor.release("b")
    going, cursor, _ = read(actor, "a", cursor, until=lambda s: epochs(s) >= 1)
    assert epochs(going) >= 1


def test_a_cancel_from_one_of_two_followers_only_ends_its_following(actor):
    assert actor.join("a") and actor.join("b")
    actor.start(payload(config(epochs=1000)))
    read(actor, "a", until=lambda s: epochs(s) >= 1)
    actor.command("a", "cancel", [])
    _, _, following = read(actor, "a")
    assert following is False
    seen, cursor, following = read(actor, "b")
    assert following is True
    before = epochs(seen)
    more, cursor, _ = read(actor, "b", cursor, until=lambda s: epochs(s) >= 2)
    assert epochs(more) >= 2 and not [m for m in more if m[0] in ("done", "failed")]  # it goes on for b
    actor.command("b", "cancel", [])  # the last follower stops it: the results so far come back
    rest, _, _ = read(actor, "b", cursor, until=lambda s: s and s[-1][0] in ("done", "failed"))
    assert rest[-1][0] == "done" and rest[-1][2] is True
    assert before >= 1 and actor.checkpoint(0) is not None


def test_commands_reach_the_engine_and_a_bad_one_is_a_notice(actor):
    assert actor.join("a")
    actor.start(payload(config(epochs=1000)))
    seen, cursor, _ = read(actor, "a", until=lambda s: epochs(s) >= 1)
    actor.command("a", "pause", [])
    state, cursor, _ = read(actor, "a", cursor, until=lambda s: any(m[0] == "state" and m[1]["paused"] for m in s))
    assert any(m[0] == "state" and m[1]["paused"] for m in state)
    # The pause lands at the engine's next batch boundary; an epoch that had run its last batch is still
    # reported after the 'paused' state.  Step only once the engine has stopped reporting.
    cursor = quiet(actor, cursor)
    actor.command("a", "set_lr", ["fast"])
    notes, cursor, _ = read(actor, "a", cursor, until=lambda s: any(m[0] == "notice" for m in s))
    assert any(m[0] == "notice" and "learning rate" in m[1] for m in notes)
    actor.command("a", "step", [])
    stepped, cursor, _ = read(actor, "a", cursor, until=lambda s: epochs(s) >= 1)
    time.sleep(0.5)
    after, cursor, _ = read(actor, "a", cursor)
    assert epochs(stepped) + epochs(after) == 1  # exactly one epoch, then paused again


def test_an_actor_nobody_polls_stops_its_job_and_ends(actor, monkeypatch):
    monkeypatch.setattr(ray_actor, "ORPHAN_S", 0.5)
    assert actor.join("a")
    actor.start(payload(config(epochs=1000)))
    read(actor, "a", until=lambda s: epochs(s) >= 1)
    deadline = time.monotonic() + 20  # every replica following it has gone: no more polls
    while not actor.ended and time.monotonic() < deadline:
        time.sleep(0.05)
    assert actor.ended == [0]
    assert actor._control.is_set()  # the engine was told to stop first


def test_an_actor_whose_followers_left_before_it_started_ends(actor):
    assert actor.join("a")  # the cluster placed it just as its only replica cancelled the wait
    time.sleep(0.3)
    assert actor.ended == []  # joined, about to start
    assert actor.leave("a") is False
    deadline = time.monotonic() + 5
    while not actor.ended and time.monotonic() < deadline:
        time.sleep(0.02)
    assert actor.ended == [0]
