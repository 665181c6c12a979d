"""Benchmark sections for the training engine (registered in :data:`bench.runner.SECTIONS`).

Data are synthetic tensors shaped like FashionMNIST (784 features, 10 classes): the cost of a training
step does not depend on pixel values, and nothing needs downloading.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.network import models
from actviz.training.config import TrainConfig
from actviz.training.engine import train

HIDDEN = (512, 256, 256, 128)
BATCH = 256


class _NullSink:
    def run_started(self, run: int) -> None: ...
    def live_point(self, *args: Any) -> None: ...
    def epoch_done(self, *args: Any) -> None: ...
    def run_finished(self, *args: Any) -> None: ...


def _fake_fashion(n: int, seed: int = 0) -> datasets.Dataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 784, generator=gen)
    y = torch.randint(10, (n,), generator=gen)
    small = slice(0, 512)
    spec = datasets.DatasetSpec(name="digits")  # only a label for the engine's bookkeeping
    return datasets.Dataset(spec, x, y, x[small], y[small], x[small], y[small], 784, 10,
                            tuple(str(i) for i in range(10)), "synthetic 784-feature data")


def _engine_epoch_seconds(ds: datasets.Dataset, acts: tuple, epochs: int = 1) -> float:
    """Wall time of the engine training ``acts`` on ``ds``."""
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), acts, hidden=HIDDEN, optimizer="sgd",
                      lr=1e-2, momentum=0.9, batch_size=BATCH, epochs=epochs, seed=42)
    t0 = time.perf_counter()
    train(cfg, _NullSink(), dataset=ds)
    return time.perf_counter() - t0


def _steps_per_second_engine(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """One epoch of the engine (its public ``train``) over ``steps`` batches of the preloaded tensors,
    with its per-epoch evaluation of a small validation and test split included."""
    n = steps * BATCH
    small = slice(0, 256)
    ds = datasets.Dataset(datasets.DatasetSpec(name="digits"), x[:n], y[:n], x[small], y[small], x[small], y[small],
                          784, 10, tuple(str(i) for i in range(10)), "synthetic 784-feature data")
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"),), hidden=HIDDEN, optimizer="sgd",
                      lr=1e-2, momentum=0.9, batch_size=BATCH, epochs=1, seed=42)
    t0 = time.perf_counter()
    train(cfg, _NullSink(), dataset=ds)
    return steps / (time.perf_counter() - t0)


def _steps_per_second_plain_torch(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """A plain PyTorch loop over the same batches: forward, loss, backward, optimizer step; nothing else."""
    model = models.build_mlp(784, HIDDEN, 10, choose("relu"), models.InitSpec(), 42)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    xb, yb = x[:BATCH], y[:BATCH]
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        models.loss_fn(model(xb), yb).backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def _steps_per_second_matmul(steps: int) -> float:
    """The bare matmuls of the same forward + backward: the in-run roofline."""
    sizes = [784, *HIDDEN, 10]
    gen = torch.Generator().manual_seed(0)
    ws = [torch.randn(b, a, generator=gen) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    x = torch.randn(BATCH, 784, generator=gen)
    outs = [torch.empty(BATCH, w.shape[0]) for w in ws]
    gin = [torch.empty(BATCH, w.shape[1]) for w in ws]
    gw = [torch.empty_like(w) for w in ws]
    t0 = time.perf_counter()
    for _ in range(steps):
        h = x
        for w, o in zip(ws, outs, strict=True):
            torch.mm(h, w.t(), out=o)
            h = o
        g = outs[-1]
        for i in range(len(ws) - 1, -1, -1):
            inp = x if i == 0 else outs[i - 1]
            torch.mm(g.t(), inp, out=gw[i])
            if i > 0:
                torch.mm(g, ws[i], out=gin[i])
                g = gin[i]
    return steps / (time.perf_counter() - t0)


class _PerSampleDataset(Dataset):
    """The usual tutorial input pipeline, sample by sample, as torchvision's FashionMNIST dataset runs it:
    uint8 array -> PIL image -> ToTensor (float in [0, 1]) -> Normalize(0.2861, 0.3530) -> flatten."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images.numpy(), labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        pic = Image.fromarray(self.images[i], mode="L")
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True)).view(1, 28, 28).float().div(255.0)
        return img.sub(0.2861).div(0.3530).reshape(-1), int(self.labels[i])


def _steps_per_second_dataloader(images: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """What the tutorials do: a per-sample Dataset and a shuffling DataLoader feeding the same net."""
    model = models.build_mlp(784, HIDDEN, 10, choose("relu"), models.InitSpec(), 42)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    loader = DataLoader(_PerSampleDataset(images, y), batch_size=BATCH, shuffle=True, drop_last=True)
    done = 0
    t0 = time.perf_counter()
    while done < steps:
        for xb, yb in loader:
            opt.zero_grad()
            models.loss_fn(model(xb), yb).backward()
            opt.step()
            done += 1
            if done >= steps:
                break
    return steps / (time.perf_counter() - t0)


def bench_training_throughput(quick: bool = False) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (8192, 28, 28), dtype=torch.uint8, generator=gen)
    x = images.reshape(8192, 784).to(torch.float32).div(255.0).sub(0.2861).div(0.3530)  # preloaded once
    y = torch.randint(10, (8192,), generator=gen)
    steps = 8 if quick else 30
    rounds = 2 if quick else 5
    _steps_per_second_engine(x, y, 3), _steps_per_second_matmul(3)  # warm-up
    roofline, vs_loader, vs_plain = [], [], []
    for _ in range(rounds):
        engine = _steps_per_second_engine(x, y, steps)
        matmul = _steps_per_second_matmul(steps)
        loader = _steps_per_second_dataloader(images, y, steps)
        plain = _steps_per_second_plain_torch(x, y, steps)
        roofline.append(engine / matmul)
        vs_loader.append(engine / loader)
        vs_plain.append(engine / plain)
    r, s, p = statistics.median(roofline), statistics.median(vs_loader), statistics.median(vs_plain)
    return {"metric": "training steps/s on 784-512-256-256-128-10, batch 256, vs the bare matmuls (roofline)",
            "value": r, "unit": "ratio", "target": 0.9, "met": r >= 0.9,
            "reference": "torch.mm of the same forward + backward shapes", "ratio_to_reference": r,
            "vs_per_sample_dataloader": s, "vs_dataloader_target": 2.0, "vs_dataloader_met": s >= 2.0,
            "vs_plain_torch_loop": p}


def bench_k_activations(quick: bool = False) -> dict[str, Any]:
    """K activations in one job vs K single-activation jobs run one after another."""
    torch.set_flush_denormal(True)
    ds = _fake_fashion(2048 if quick else 6144)
    acts = (choose("relu"), choose("tanh"), choose("gelu"), choose("swish"))
    _engine_epoch_seconds(ds, acts[:1])  # warm-up
    ratios = []
    for _ in range(1 if quick else 3):
        together = _engine_epoch_seconds(ds, acts)
        apart = sum(_engine_epoch_seconds(ds, (a,)) for a in acts)
        ratios.append(together / apart)
    ratio = statistics.median(ratios)
    return {"metric": "one job with 4 activations vs 4 single-activation jobs (wall time)", "value": ratio,
            "unit": "ratio", "target": 1.0, "met": ratio <= 1.0,
            "reference": "sum of the four single jobs' wall times", "ratio_to_reference": ratio}


def background_job(stop: threading.Event) -> threading.Thread:
    """A 4-activation job on the UvA tutorial's FashionMNIST net, running until ``stop`` (for load benchmarks)."""
    ds = _fake_fashion(4096)
    acts = (choose("relu"), choose("tanh"), choose("gelu"), choose("swish"))
    cfg = TrainConfig(datasets.DatasetSpec(name="digits"), acts, hidden=HIDDEN, optimizer="sgd",
                      lr=1e-2, momentum=0.9, batch_size=BATCH, epochs=1000, seed=42)

    t = threading.Thread(target=train, args=(cfg, _NullSink(), stop), kwargs={"dataset": ds},
                         name="bench-background-job", daemon=True)
    t.start()
    return t
