"""The one cache helper: values are kept and shared, a key being computed is computed once, and entries with
a time to live are computed again after it."""

from __future__ import annotations

import threading
import time

from actviz.cache import memo


def test_a_value_is_computed_once_per_key_and_shared():
    calls = []

    @memo(maxsize=2)
    def square(x):
        calls.append(x)
        return [x * x]

    assert square(3) is square(3) and square(4) == [16]
    assert calls == [3, 4]
    square(5)  # the least recently used key (3) is dropped
    square(3)
    assert calls == [3, 4, 5, 3]


def test_thirty_callers_of_one_key_cost_one_computation():
    calls = []
    gate = threading.Event()

    @memo(maxsize=4)
    def slow(x):
        calls.append(x)
        gate.wait(5)
        return x

    threads = [threading.Thread(target=slow, args=(1,)) for _ in range(30)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join(10)
    assert calls == [1]


def test_an_entry_with_a_time_to_live_is_computed_again_after_it():
    calls = []

    @memo(maxsize=4, ttl=0.05)
    def files(folder):
        calls.append(folder)
        return len(calls)

    first = files("a")
    time.sleep(0.2)
    assert files("a") == first + 1 and calls == ["a", "a"]

    @memo(maxsize=4, ttl=600)
    def kept(folder):
        calls.append(folder)
        return object()

    assert kept("b") is kept("b")
