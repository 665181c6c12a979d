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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
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


def abs_bits(v: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """The bit patterns of ``|v|`` (float32, flat) in ``out`` or a scratch int32 buffer.

    Their ``.view(torch.float32)`` is ``|v|``."""
    if out is None:
        out = WORKSPACE.get("key", v.numel(), torch.int32)
    torch.abs(v, out=out.view(torch.float32))  # clears the sign bit: a quicker kernel than an integer and
    return out


# bincount adds one to a counter per value, serially; consecutive values in the same bin wait on each
# other's store.  Counting into LANES sub-counters per bin, picked by low-order bits that vary from
# value to value, and summing them afterwards, breaks that chain (about 2x faster on these tensors).
LANE_BITS = 4
LANES = 1 << LANE_BITS


def octave_histogram(abs_bits: torch.Tensor) -> Histogram:
    """Histogram from :func:`abs_bits`'s output, which it overwrites."""
    return octave_histograms(abs_bits, [abs_bits.numel()])[0]


def octave_histograms(abs_bits: torch.Tensor, sizes: Sequence[int]) -> list[Histogram]:
    """One octave histogram per consecutive segment (``sizes``) of :func:`abs_bits` output (overwritten).

    Every segment is counted with one add, one shift and one ``bincount`` on its slice, and all the
    counts come back in one ``.tolist()``.
    """
    if not sizes:
        return []
    # ceil(bits / 2^23) * LANES + (the next LANE_BITS bits): the octave key with a lane beneath it;
    # dropping the lane (sum over it) gives exactly (bits + 2^23 - 1) >> 23.
    keys = abs_bits.add_(2**23 - 1).bitwise_right_shift_(23 - LANE_BITS)
    counted = [torch.bincount(k, minlength=256 * LANES) for k in keys.split(list(sizes))]
    per_bin = torch.stack(counted).view(len(sizes), 256, LANES).sum(2).numpy()
    occupied = per_bin[:, 1:] > 0
    firsts = occupied.argmax(1) + 1                  # lowest non-empty octave of each row (if any)
    lasts = 255 - occupied[:, ::-1].argmax(1)        # highest
    return [_octaves(row, n, int(first), int(last)) for row, n, first, last in zip(per_bin, sizes, firsts, lasts)]


_OCTAVE_EDGES = [2.0 ** (k - 128) for k in range(257)]


def _octaves(row: np.ndarray, n: int, first: int, last: int) -> Histogram:
    """The histogram of one row of 256 octave counts (index 0: exact zeros) of ``n`` values whose lowest
    and highest non-empty octaves are ``first`` and ``last``."""
    zeros = int(row[0]) if n else 0
    if zeros == n:
        return Histogram([], [], zeros, True)
    counts = row[first:last + 1].tolist()
    if last - first >= MAX_OCTAVES:
        cut = last - MAX_OCTAVES + 1
        counts = [sum(counts[:cut - first + 1])] + counts[cut - first + 1:]
        first = cut
    return Histogram(_OCTAVE_EDGES[first:last + 2], counts, zeros, True)


def linear_histogram(values: torch.Tensor, bins: int = ACT_BINS) -> Histogram:
    """``bins`` equal-width bins from the smallest to the largest finite value."""
    return linear_histograms([values], bins)[0]


def linear_histograms(values: Sequence[torch.Tensor], bins: int = ACT_BINS,
                      ranges: Sequence[tuple[float, float]] | None = None) -> list[Histogram]:
    """:func:`linear_histogram` of each tensor; ``ranges`` are their (min, max) when already known.

    All the counts come back in one ``.tolist()``.
    """
    flats = [v.detach().reshape(-1) for v in values]
    if ranges is None:
        ranges = [tuple(torch.stack(torch.aminmax(v)).tolist()) if v.numel() else (0.0, 0.0) for v in flats]
    slots = bins + 1
    counted, edges = [], []
    longest = max((v.numel() for v in flats), default=0)
    scratch, index = WORKSPACE.get("scaled", longest, torch.float32), WORKSPACE.get("idx", longest, torch.int32)
    for v, (lo, hi) in zip(flats, ranges):
        if v.numel() and not (math.isfinite(lo) and math.isfinite(hi)):
            v = v[torch.isfinite(v)]
            if v.numel():
                lo, hi = float(v.min()), float(v.max())
        if v.numel() == 0:
            counted.append(None)
            edges.append([])
            continue
        if hi - lo < 1e-12 * max(1.0, abs(lo)):
            lo, hi = lo - 0.5, hi + 0.5
        n = v.numel()
        # (v - lo) * bins / (hi - lo) lies in [0, bins]; scaled by LANES (a power of two: exact in
        # float32, so truncating and dropping the lane gives the same bin as without lanes).
        scaled = scratch[:n] if v.dtype == torch.float32 else torch.empty_like(v)
        torch.sub(v, lo, out=scaled).mul_(bins / (hi - lo) * LANES)
        idx = index[:n]
        idx.copy_(scaled)  # truncation = floor for these non-negative values
        c = torch.bincount(idx, minlength=slots * LANES)
        if c.numel() > slots * LANES:  # rounding past the maximum: the last bin, like the maximum
            c = torch.cat([c[:slots * LANES - 1], c[slots * LANES - 1:].sum(0, keepdim=True)])
        counted.append(c)
        step = (hi - lo) / bins
        edges.append([lo + i * step for i in range(bins)] + [hi])
    kept = [c for c in counted if c is not None]
    per_bin = iter(torch.stack(kept).view(len(kept), slots, LANES).sum(2).tolist() if kept else [])
    out = []
    for c, e in zip(counted, edges):
        if c is None:
            out.append(Histogram([], []))
            continue
        counts = next(per_bin)
        counts[bins - 1] += counts[bins]  # the maximum itself (and rounding just above it): last bin
        out.append(Histogram(e, counts[:bins]))
    return out
