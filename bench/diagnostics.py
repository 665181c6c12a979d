"""Benchmark sections for the gradient-flow diagnostics (registered in :data:`bench.runner.SECTIONS`).

Synthetic tensors shaped like MNIST (784 features, 10 classes) stand in for the data so nothing needs
downloading; the cost of a forward or backward pass does not depend on the pixel values.
"""

from __future__ import annotations

from typing import Any

import torch

from actviz.activations.choice import choose
from actviz.network import diagnostics, models
from bench.runner import paired

HIDDEN = (512, 256, 256, 128)  # the UvA tutorial's FashionMNIST net: 784-512-256-256-128-10
TARGET = 1.5


def _net(name: str = "relu", seed: int = 42) -> models.MLP:
    return models.build_mlp(784, HIDDEN, 10, choose(name), models.InitSpec(), seed)


def bench_diagnostics(quick: bool = False) -> dict[str, Any]:
    """Full diagnostics of one 256 batch (grad stats + histograms + activation stats) vs bare forward/backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 784, generator=gen)
    y = torch.randint(10, (256,), generator=gen)
    results = {}
    for name in ("relu", "sigmoid", "swish"):
        model = _net(name)

        def reference(model: models.MLP = model) -> None:
            model.zero_grad(set_to_none=True)
            models.loss_fn(model(x), y).backward()

        def work(model: models.MLP = model) -> None:
            diagnostics.gradient_report(model, x, y)

        results[name] = paired(work, reference, 8 if quick else 40)
    worst = max(results, key=lambda k: results[k]["ratio"])
    ratio = results[worst]["ratio"]
    return {"metric": "gradient diagnostics of 784-512-256-256-128-10 on a 256 batch, worst of relu/sigmoid/swish",
            "value": ratio, "unit": "ratio", "target": TARGET, "met": ratio <= TARGET,
            "reference": "bare forward + backward of the same net and batch", "ratio_to_reference": ratio,
            "work_ms": results[worst]["work_ms"], "reference_ms": results[worst]["reference_ms"],
            "per_activation": {k: round(v["ratio"], 3) for k, v in results.items()}}


def bench_dead_neurons(quick: bool = False) -> dict[str, Any]:
    """Dead-neuron count over 60,000 x 784 samples vs the bare forward pass of the same net over them.

    The full pass is measured (``stop_early=False``, as when some unit is dead); the early exit the app
    uses when every unit has fired is reported as well.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(60_000, 784, generator=gen)
    model = _net("relu")
    chunk = diagnostics.DEAD_CHUNK

    def reference() -> None:
        with torch.inference_mode():
            for start in range(0, len(x), chunk):
                model(x[start:start + chunk])

    res = paired(lambda: diagnostics.dead_neurons(model, x, stop_early=False), reference, 3 if quick else 10)
    early = paired(lambda: diagnostics.dead_neurons(model, x), reference, 2 if quick else 5)
    ratio = res["ratio"]
    return {"metric": "dead-neuron count of 784-512-256-256-128-10 (ReLU) over 60,000 samples",
            "value": ratio, "unit": "ratio", "target": TARGET, "met": ratio <= TARGET,
            "reference": "bare forward of the same net over the same 60,000 samples", "ratio_to_reference": ratio,
            "work_ms": res["work_ms"], "reference_ms": res["reference_ms"],
            "ratio_with_early_exit": early["ratio"],
            "dead_per_layer": list(diagnostics.dead_neurons(model, x).counts)}
