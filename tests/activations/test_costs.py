"""The measured cost table: peak memory per element (exact, from the tensors a pass allocates) and the
timing protocol's guarantees (no speed thresholds here: those are the benchmark's, bench/costs.py)."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from actviz.activations import costs
from actviz.activations.choice import choose, custom


@pytest.mark.parametrize("name, expected", [
    ("relu", 8.0),      # the output (4 bytes) and the gradient (4 bytes), nothing else
    ("gelu", 8.0),      # keeps its input for the backward pass: no extra tensor
    ("identity", 0.0),  # returns its input itself
    ("glu", 20.0),      # sigma(a), sigma(a)*b, then dz/da (and its temporaries) and dz/db
])
def test_peak_memory_per_element_counts_the_tensors_a_pass_holds(name, expected):
    assert costs.peak_bytes_per_element(choose(name)) == expected


def test_peak_memory_sees_temporaries_kept_for_the_backward_pass():
    plain = costs.peak_bytes_per_element(choose("relu"))
    swish = costs.peak_bytes_per_element(choose("swish"))  # beta*x, sigma(beta*x), x*sigma: all kept
    assert swish > plain
    doubled = costs.peak_bytes_per_element(custom("x * x * x * x", {}))
    assert doubled >= 4 * 4  # three products kept for the backward pass plus the gradient


def test_measure_uses_one_thread_in_its_own_thread_only_and_restores_it():
    before = torch.get_num_threads()
    seen = []
    other_ready, measured = threading.Event(), threading.Event()

    def other():
        torch.ones(4) + 1  # initialise this thread's setting
        other_ready.set()
        measured.wait(30)
        seen.append(torch.get_num_threads())

    t = threading.Thread(target=other)
    t.start()
    other_ready.wait(30)
    cost = costs.measure(choose("tanh"), n=1 << 14, repeats=2)
    measured.set()
    t.join(30)
    assert torch.get_num_threads() == before and seen == [before]
    for value in (cost.forward, cost.forward_backward, cost.forward_ns, cost.forward_backward_ns,
                  cost.relu_forward_ns, cost.relu_forward_backward_ns):
        assert math.isfinite(value) and value > 0
    assert cost.peak_bytes == 8.0
    assert set(cost.to_json()) >= {"forward_vs_relu", "forward_backward_vs_relu", "peak_bytes_per_element"}


def test_costs_are_measured_once_per_activation_whatever_its_parameters(monkeypatch):
    calls = []
    monkeypatch.setattr(costs, "measure", lambda c: calls.append(c) or costs.Cost(2, 3, 8, 1, 1, 1, 1))
    costs.cached_cost.cache_clear()
    try:
        a = costs.cached_costs([choose("elu", {"alpha": 0.5})])
        b = costs.cached_costs([choose("elu", {"alpha": 2.0}), custom("x * x", {})])
        assert len(calls) == 2 and list(a.values())[0] is list(b.values())[0]
    finally:
        costs.cached_cost.cache_clear()


def test_the_method_is_stated():
    for words in ("float32", "2²²", "one thread", "minimum", "ReLU", "Peak memory"):
        assert words in costs.METHOD
