"""Datasets made without files: synthetic 2-D sets and scikit-learn's bundled 8x8 digits.

- ``moons``, ``circles``, ``xor``, ``spiral``, ``gaussian``: made on the fly, deterministic for a seed,
  left in their natural coordinates (so decision boundaries are drawn on the axes the learner sees).
  ``noise`` is the standard deviation of Gaussian jitter: for moons, circles and xor as scikit-learn
  uses it; spiral jitter is ``noise / 4`` (the arms are 1/3 apart); the two Gaussian blobs (centres
  (-1, -1) and (1, 1)) have standard deviation ``0.4 + noise``.
- ``reg_plane``, ``reg_gaussians``: TF Playground's regression sets (src/dataset.ts ``regressPlane`` and
  ``regressGaussian``): points uniform in [-6, 6]², the target computed at the point moved by uniform
  noise of ``noise * [-6, 6]`` per coordinate.  Plane: (x1 + x2) / 10, in [-1.2, 1.2].  Multi-Gaussian:
  six bumps at (±4 or 0, ±2.5) with alternating signs, each 1 at its centre falling linearly to 0
  at distance 2; a point takes the bump largest in absolute value.
- ``digits``: scikit-learn's bundled 8x8 digits (no download), pixels scaled to [0, 1] then
  standardised with the training split's mean and standard deviation (one scalar pair, as for MNIST).
"""

from __future__ import annotations

import math

import numpy as np

from actviz.data.spec import DIGIT_CLASSES, REGRESSION, SYNTHETIC, Dataset, DatasetSpec, from_arrays
from actviz.errors import InputError

PLAYGROUND_RADIUS = 6.0
GAUSSIAN_BUMPS = ((-4.0, 2.5, 1.0), (0.0, 2.5, -1.0), (4.0, 2.5, 1.0), (-4.0, -2.5, -1.0), (0.0, -2.5, 1.0),
                  (4.0, -2.5, -1.0))


def reg_plane_target(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """TF Playground's plane: x1 + x2 mapped from [-10, 10] to [-1, 1] (linearly, not clamped)."""
    return (x1 + x2) / 10.0


def reg_gaussians_target(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """TF Playground's multi-Gaussian: the bump (1 at its centre, 0 from distance 2) largest in |value|."""
    label = np.zeros_like(x1)
    for cx, cy, sign in GAUSSIAN_BUMPS:
        bump = sign * np.clip(1.0 - np.hypot(x1 - cx, x2 - cy) / 2.0, 0.0, 1.0)
        label = np.where(np.abs(bump) > np.abs(label), bump, label)
    return label


def make_regression(name: str, n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw (x [n, 2], y [n]) float64 for a regression set; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    r = PLAYGROUND_RADIUS
    x = rng.uniform(-r, r, size=(n_samples, 2))
    shifted = x + rng.uniform(-r, r, size=(n_samples, 2)) * noise
    target = reg_plane_target if name == "reg_plane" else reg_gaussians_target
    return x, target(shifted[:, 0], shifted[:, 1])


def make_synthetic(name: str, n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw (x [n, 2] float64, y [n] int64) for a synthetic dataset; deterministic for a seed.
    (Regression sets give a float64 target.)"""
    if name in REGRESSION:
        return make_regression(name, n_samples, noise, seed)
    from sklearn import datasets as skd  # scikit-learn takes a second to import: only when data are made

    n0, n1 = n_samples // 2, n_samples - n_samples // 2
    rng = np.random.default_rng(seed)
    if name == "moons":
        x, y = skd.make_moons(n_samples=(n0, n1), noise=noise, random_state=seed)
    elif name == "circles":
        x, y = skd.make_circles(n_samples=(n0, n1), noise=noise, factor=0.5, random_state=seed)
    elif name == "gaussian":
        x, y = skd.make_blobs(n_samples=[n0, n1], centers=[[-1.0, -1.0], [1.0, 1.0]], cluster_std=0.4 + noise,
                              random_state=seed)
    elif name == "xor":
        clean = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
        y = (clean[:, 0] * clean[:, 1] < 0).astype(np.int64)  # quadrants 2 and 4 are class 1
        x = clean + rng.normal(0.0, noise, size=(n_samples, 2))
    elif name == "spiral":
        y = np.repeat([0, 1], [n0, n1])
        s = rng.uniform(0.0, 1.0, size=n_samples)
        theta = 3.0 * math.pi * s + math.pi * y  # 1.5 turns per arm, the arms half a turn apart
        x = np.column_stack([s * np.cos(theta), s * np.sin(theta)]) + rng.normal(0.0, noise / 4, (n_samples, 2))
    else:
        raise InputError(f"{name!r} is not a synthetic dataset; choose one of {', '.join(SYNTHETIC)}")
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


_SYNTH_TEXT = {
    "moons": "Two interleaving half-moons",
    "circles": "A small circle inside a larger one",
    "xor": "XOR: opposite quadrants share a class",
    "spiral": "Two interleaved spiral arms",
    "gaussian": "Two Gaussian blobs",
    "reg_plane": "Regression on a plane, target (x1 + x2) / 10 (TF Playground)",
    "reg_gaussians": "Regression on six Gaussian bumps of alternating sign (TF Playground)",
}


def build_synthetic(spec: DatasetSpec) -> Dataset:
    x, y = make_synthetic(spec.name, spec.n_samples, spec.noise, spec.seed)
    extra = f" (cluster std {0.4 + spec.noise:g})" if spec.name == "gaussian" else ""
    text = f"{_SYNTH_TEXT[spec.name]}, {spec.n_samples:,} points, noise {spec.noise:g}{extra}"
    if spec.name in REGRESSION:
        return from_arrays(spec, x, y, class_names=(), description=text, standardise=None, feature_names=("x1", "x2"))
    return from_arrays(spec, x, y, class_names=("0", "1"), description=text, standardise=None,
                        feature_names=("x1", "x2"))


def build_digits(spec: DatasetSpec) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0  # pixels are 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    text = f"scikit-learn's 8x8 handwritten digits, {len(y):,} images, 64 pixels standardised"
    return from_arrays(spec, x, y, class_names=DIGIT_CLASSES, description=text, standardise="global")
