"""What an activation costs, measured: time per element relative to ReLU and peak memory per element.

The method (the gallery prints :data:`METHOD` under its table):

* float32 input of 2^22 elements (16 MiB, past the caches), drawn once from a seeded N(0, 1);
* one intra-op thread, set in the measuring thread only, so the numbers do not depend on how many
  cores happen to be free and other threads keep their own setting;
* forward: ``f(x)`` without autograd; forward+backward: ``f(x)`` with autograd, then the gradient with
  respect to x for a fixed upstream gradient;
* time is the CPU time of the measuring thread (``time.thread_time``: with one intra-op thread all the
  work runs there, and time the thread spends waiting for a busy machine's cores does not count);
* each timing is the minimum of several repeats, ReLU measured alternately with the activation, and
  the ratio is of the two minima (the minimum is the run least disturbed by the rest of the machine);
* peak memory: the largest total size of the tensors the forward and backward pass allocate and keep
  alive at once (input and upstream gradient excluded), per element; tracked by a dispatch mode that
  watches every op's outputs until they are freed.  Kernels' private scratch space is not included.

Gated units f(a, b) are timed on two inputs of 2^22 elements each, per output element.  Results are
cached per process by activation and parameters (:func:`cached_costs`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from actviz.activations.choice import ActivationChoice, choose
from actviz.cache import memo

N_ELEMENTS = 1 << 22
REPEATS = 7
THREADS = 1
METHOD = ("Measured on this server, once per activation: float32 input of 2²² elements, one thread, the CPU "
          f"time of that thread (other programs' load does not count), the minimum of {REPEATS} runs, ReLU "
          "timed alternately with it. Forward: f(x); forward+backward: f(x) and its gradient. Peak memory: "
          "the most bytes per element the pass's tensors hold at once (input excluded); ReLU needs 4 for its "
          "output and 4 for the gradient.")

_LOCK = threading.Lock()  # one measurement at a time: two would slow each other down


@dataclass(frozen=True)
class Cost:
    forward: float                # forward time per element / ReLU's
    forward_backward: float       # forward+backward time per element / ReLU's
    peak_bytes: float             # peak bytes per element held during forward+backward
    forward_ns: float             # absolute, ns per element
    forward_backward_ns: float
    relu_forward_ns: float
    relu_forward_backward_ns: float

    def to_json(self) -> dict[str, float]:
        return {"forward_vs_relu": self.forward, "forward_backward_vs_relu": self.forward_backward,
                "peak_bytes_per_element": self.peak_bytes, "forward_ns_per_element": self.forward_ns,
                "forward_backward_ns_per_element": self.forward_backward_ns,
                "relu_forward_ns_per_element": self.relu_forward_ns,
                "relu_forward_backward_ns_per_element": self.relu_forward_backward_ns}


class _PeakMemory(TorchDispatchMode):
    """The largest total size of live tensors created under this mode (each storage counted once)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            del self.live[key]
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and not t.is_meta:
                storage = t.untyped_storage()
                if storage.nbytes() and storage.data_ptr() not in self.live:
                    self.live[storage.data_ptr()] = (StorageWeakRef(storage), storage.nbytes())
        self.peak = max(self.peak, sum(n for _, n in self.live.values()))
        return out


def _inputs(choice: ActivationChoice, n: int, requires_grad: bool) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    count = 2 if choice.is_gated else 1
    return [torch.randn(n, generator=gen).requires_grad_(requires_grad) for _ in range(count)]


def _callable(choice: ActivationChoice) -> Callable[..., torch.Tensor]:
    return choice.gated_function() if choice.is_gated else choice.function()


def _forward(fn, inputs) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return fn(*inputs)
    return run


def _forward_backward(fn, inputs, upstream: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.enable_grad():
            return torch.autograd.grad(fn(*inputs), inputs, upstream)
    return run


def _min_times(work: Callable[[], object], reference: Callable[[], object], repeats: int) -> tuple[float, float]:
    work(), reference()  # warm-up (allocator, lazy init)
    best_w = best_r = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        reference()
        t1 = time.thread_time()
        work()
        t2 = time.thread_time()
        best_r, best_w = min(best_r, t1 - t0), min(best_w, t2 - t1)
    return best_w, best_r


def peak_bytes_per_element(choice: ActivationChoice, n: int = 1 << 16) -> float:
    """Peak bytes per element held by the tensors of one forward+backward pass."""
    inputs = _inputs(choice, n, True)
    upstream = torch.ones(n)
    mode = _PeakMemory()
    with mode, torch.enable_grad():
        grads = torch.autograd.grad(_callable(choice)(*inputs), inputs, upstream)
        del grads
    return mode.peak / n


def measure(choice: ActivationChoice, n: int = N_ELEMENTS, repeats: int = REPEATS) -> Cost:
    """Measure one activation now (float32, ``n`` elements, one intra-op thread, minimum of ``repeats``)."""
    relu = choose("relu")
    upstream = torch.ones(n)
    with _LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(THREADS)
        try:
            fn, relu_fn = _callable(choice), relu.function()
            x_plain, x_grad = _inputs(choice, n, False), _inputs(choice, n, True)
            r_plain, r_grad = _inputs(relu, n, False), _inputs(relu, n, True)
            fwd, relu_fwd = _min_times(_forward(fn, x_plain), _forward(relu_fn, r_plain), repeats)
            both, relu_both = _min_times(_forward_backward(fn, x_grad, upstream),
                                         _forward_backward(relu_fn, r_grad, upstream), repeats)
        finally:
            torch.set_num_threads(before)
    per = 1e9 / n
    return Cost(fwd / relu_fwd, both / relu_both, peak_bytes_per_element(choice), fwd * per, both * per,
                relu_fwd * per, relu_both * per)


def _cost_key(choice: ActivationChoice) -> tuple[str, str]:
    # Parameter values do not change which operations run, so a slider drag reuses the first
    # measurement instead of re-timing (and jittering the table).
    return choice.name, choice.expression or ""


@memo(maxsize=512, key=_cost_key)
def cached_cost(choice: ActivationChoice) -> Cost:
    """:func:`measure`, once per activation (or formula) per process; thirty sessions asking at once
    wait for one measurement."""
    return measure(choice)


def cached_costs(choices: list[ActivationChoice]) -> dict[ActivationChoice, Cost]:
    return {c: cached_cost(c) for c in choices}
