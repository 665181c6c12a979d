"""Histograms for the diagnostics: |gradient| in octaves (log-spaced) and activation outputs (linear).

Gradient histograms bin ``|g|`` on log-spaced edges: one bin per power of two (about 3.3 per decade).
On a linear axis a sigmoid net's input layer (|g| ~ 1e-5) collapses into one bar next to its output
layer (~1e-1); on log-spaced bins every layer keeps its shape and the distance between layers reads
directly as orders of magnitude.  Exactly-zero entries have no logarithm: they are counted apart
(``zeros``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import torch

ACT_BINS = 40
MAX_OCTAVES = 64     # gradient histogram range: 64 octaves (19 decades) below the largest |g|


@dataclass
class Histogram:
    edges: list[float]
    counts: list[int]
    zeros: int = 0        # exactly-zero values (log histograms only: they have no bin)
    log: bool = False     # edges log-spaced over |g|

    def to_json(self) -> dict[str, Any]:
        return {"edges": self.edges, "counts": self.counts, "zeros": self.zeros,
                "scale": "log2 |g|" if self.log else "linear"}


class _Workspace(threading.local):
    """Scratch buffers reused across calls (per thread), so repeated diagnostics do not fault in fresh pages."""

    LIMIT = 1 << 21  # elements; bigger tensors get a fresh allocation instead of a retained buffer

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def get(self, name: str, n: int, dtype: torch.dtype) -> torch.Tensor:
        if n > self.LIMIT:
            return torch.empty(n, dtype=dtype)
        buf = self.buffers.get((name, dtype))
        if buf is None or buf.numel() < n:
            buf = self.buffers[(name, dtype)] = torch.empty(max(n, 4096), dtype=dtype)
        return buf[:n]


WORKSPACE = _Workspace()


def log_abs_histogram(values: torch.Tensor) -> Histogram:
    """Counts of ``|values|`` in octaves ``(2^k, 2^(k+1)]`` over the occupied range, exact zeros apart.

    The octave is read from the float32 bit pattern: for ``|v| = 2^e (1 + m)`` with ``0 <= m < 1``,
    ``ceil(bits / 2^23) = e + 128`` (``e + 127`` for an exact power of two, hence right-closed octaves),
    and it is 0 only for an exact zero.  An integer add, a shift and a ``bincount``: exact, and several
    times cheaper than ``log10`` + ``histc``.  At most :data:`MAX_OCTAVES` octaves are kept below the
    largest value; smaller non-zero values are counted in the first bin.  Values must be finite.
    """
    v = values.detach().reshape(-1)
    if v.dtype != torch.float32:
        v = v.to(torch.float32)
    return octave_histogram(abs_bits(v))


def abs_bits(v: torch.Tensor) -> torch.Tensor:
    """The bit patterns of ``|v|`` (float32, flat) in a scratch int32 buffer; ``.view(float32)`` is ``|v|``."""
    return torch.bitwise_and(v.view(torch.int32), 0x7FFFFFFF, out=WORKSPACE.get("key", v.numel(), torch.int32))


def octave_histogram(abs_bits: torch.Tensor) -> Histogram:
    """Histogram from :func:`_abs_bits`'s output, which it overwrites."""
    if abs_bits.numel() == 0:
        return Histogram([], [], 0, True)
    key = abs_bits.add_(2**23 - 1).bitwise_right_shift_(23)
    counts = torch.bincount(key, minlength=256).tolist()
    zeros = counts[0]
    if zeros == abs_bits.numel():
        return Histogram([], [], zeros, True)
    first = next(k for k in range(1, len(counts)) if counts[k])
    last = next(k for k in range(len(counts) - 1, 0, -1) if counts[k])
    if last - first >= MAX_OCTAVES:
        cut = last - MAX_OCTAVES + 1
        counts[cut] += sum(counts[first:cut])
        first = cut
    return Histogram([2.0 ** (k - 128) for k in range(first, last + 2)], counts[first:last + 1], zeros, True)


def linear_histogram(values: torch.Tensor, bins: int = ACT_BINS) -> Histogram:
    """``bins`` equal-width bins from the smallest to the largest finite value."""
    v = values.detach().reshape(-1)
    n = v.numel()
    if n == 0:
        return Histogram([], [])
    lo_t, hi_t = torch.aminmax(v)
    lo, hi = float(lo_t), float(hi_t)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        v = v[torch.isfinite(v)]
        n = v.numel()
        if n == 0:
            return Histogram([], [])
        lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12 * max(1.0, abs(lo)):
        lo, hi = lo - 0.5, hi + 0.5
    scaled = torch.sub(v, lo, out=WORKSPACE.get("scaled", n, v.dtype)).mul_(bins / (hi - lo))  # in [0, bins]
    idx = WORKSPACE.get("idx", n, torch.int32)
    idx.copy_(scaled)  # truncation = floor for these non-negative values
    counts = torch.bincount(idx, minlength=bins + 1).tolist()
    counts[bins - 1] += sum(counts[bins:])  # the maximum itself (and rounding just above it): last bin
    counts = counts[:bins]
    step = (hi - lo) / bins
    return Histogram([lo + i * step for i in range(bins)] + [hi], counts)
