r"""Paired bootstrap confidence intervals.

For per-task scores ``a`` (baseline) and ``b`` (system) on the *same* tasks, the relative
improvement is :math:`\Delta\% = 100 \cdot (\bar b - \bar a) / \bar a`. Its 95% CI resamples task
indices with replacement ``n_boot`` times, recomputes :math:`\Delta\%` on each resample (both
systems on the same resampled tasks: paired) and takes the 2.5th and 97.5th percentiles.
"""

from __future__ import annotations

import numpy as np


def _resample_means(values: list[np.ndarray], n_boot: int, seed: int) -> list[np.ndarray]:
    n = len(values[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    return [v[idx].mean(axis=1) for v in values]


def mean_ci(x: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap CI of a mean."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    (means,) = _resample_means([x], n_boot, seed)
    q = (1 - level) / 2
    return float(x.mean()), float(np.quantile(means, q)), float(np.quantile(means, 1 - q))


def relative_delta(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float, float]:
    """(Δ%, low, high) of system ``b`` over baseline ``a`` with a paired bootstrap CI."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired systems need the same tasks: {a.shape} vs {b.shape}")
    if len(a) == 0 or a.mean() == 0:
        return float("nan"), float("nan"), float("nan")
    ma, mb = _resample_means([a, b], n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        deltas = 100 * (mb - ma) / ma
    deltas = deltas[np.isfinite(deltas)]
    q = (1 - level) / 2
    return float(100 * (b.mean() - a.mean()) / a.mean()), float(np.quantile(deltas, q)), float(np.quantile(deltas, 1 - q))
