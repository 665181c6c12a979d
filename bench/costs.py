"""The gallery's cost table against a standalone timing of the same operations.

The page's figures come from :func:`actviz.views.gallery.cost_table` (the registry's callables, timed
by :mod:`actviz.activations.costs`).  The reference here is written independently: the same torch ops
spelled out by hand, timed with :mod:`timeit` on the measuring thread's CPU clock, one intra-op
thread, float32, 2^22 elements, best of several repeats, each relative to ``F.relu`` timed the same
way.  Target: every forward and forward+backward ratio on the page within 35 % of the standalone one.
"""

from __future__ import annotations

import statistics
import time
import timeit
from typing import Any

import torch
import torch.nn.functional as F

from actviz.activations import costs
from actviz.activations.choice import choose
from actviz.views import gallery

TOLERANCE = 0.35

# name -> (forward op on x (and b for gated units)), written without the registry.
STANDALONE = {
    "relu": lambda x: F.relu(x),
    "sigmoid": lambda x: torch.sigmoid(x),
    "tanh": lambda x: torch.tanh(x),
    "gelu": lambda x: F.gelu(x),
    "swish": lambda x: x * torch.sigmoid(1.0 * x),
    "mish": lambda x: x * torch.tanh(F.softplus(x)),
    "softplus": lambda x: F.softplus(x, 1.0, 20.0),
    "elu": lambda x: F.elu(x, 1.0),
    "relu_squared": lambda x: F.relu(x) ** 2,
    "gaussian": lambda x: torch.exp(-x * x),
    "swiglu": lambda a, b: a * torch.sigmoid(1.0 * a) * b,
}


def _standalone_ratios(name: str, n: int, repeats: int) -> tuple[float, float]:
    gen = torch.Generator().manual_seed(1)
    fn, relu = STANDALONE[name], STANDALONE["relu"]
    inputs = [torch.randn(n, generator=gen) for _ in range(2 if name == "swiglu" else 1)]
    x_relu = torch.randn(n, generator=gen)
    upstream = torch.ones(n)

    def fwd(f, xs):
        with torch.no_grad():
            f(*xs)

    def both(f, xs):
        leaves = [t.detach().requires_grad_(True) for t in xs]
        torch.autograd.grad(f(*leaves), leaves, upstream)

    def best(stmt) -> float:
        return min(timeit.Timer(stmt, timer=time.thread_time).repeat(repeat=repeats, number=1))

    out = []
    for kind in (fwd, both):
        work = best(lambda kind=kind: kind(fn, inputs))
        ref = best(lambda kind=kind: kind(relu, [x_relu]))
        out.append(work / ref)
    return out[0], out[1]


def bench_costs(quick: bool = False) -> dict[str, Any]:
    names = ["sigmoid", "gelu", "swish", "mish", "swiglu"] if quick else [n for n in STANDALONE if n != "relu"]
    choices = [choose(n) for n in names]
    costs.cached_cost.cache_clear()
    page = gallery.cost_table(choices).set_index("activation")
    repeats = 5 if quick else 9
    before = torch.get_num_threads()
    torch.set_num_threads(costs.THREADS)
    try:
        rows, worst = {}, 0.0
        for c in choices:
            fwd_ref, both_ref = _standalone_ratios(c.name, costs.N_ELEMENTS, repeats)
            fwd_page = float(page.loc[c.label, "forward vs ReLU"].rstrip("×"))
            both_page = float(page.loc[c.label, "forward+backward vs ReLU"].rstrip("×"))
            errors = (abs(fwd_page / fwd_ref - 1), abs(both_page / both_ref - 1))
            worst = max(worst, *errors)
            rows[c.name] = {"page_forward": fwd_page, "standalone_forward": round(fwd_ref, 3),
                            "page_forward_backward": both_page, "standalone_forward_backward": round(both_ref, 3),
                            "page_peak_bytes_per_element": float(page.loc[c.label, "peak memory, bytes/element"])}
    finally:
        torch.set_num_threads(before)
    return {"metric": "gallery cost table vs standalone timing (worst relative difference)", "value": worst,
            "unit": "fraction", "target": TOLERANCE, "met": worst <= TOLERANCE,
            "reference": "the same ops timed by hand (timeit, thread CPU time)",
            "median_difference": statistics.median(
                abs(r["page_forward"] / r["standalone_forward"] - 1) for r in rows.values()),
            "activations": rows}
