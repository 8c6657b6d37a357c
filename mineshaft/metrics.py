"""Retrieval metrics on embeddings, Spearman correlation and bootstrap intervals: numpy only, so training and
evaluation share them without the mining stack."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .vectors import check_pair


def retrieval_hits(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sentence, whether top-1 retrieval is right for line-aligned unit vectors: x→y and y→x (bool arrays)."""
    sims = x @ y.T
    gold = np.arange(len(x))
    return sims.argmax(1) == gold, sims.argmax(0) == gold


def retrieval_accuracy(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Top-1 accuracy of line-aligned unit vectors: x→y (each x finds its y) and y→x."""
    x, y = check_pair(x, y)
    if len(x) != len(y):
        raise ValueError(f"x and y must be line-aligned, but have {len(x)} and {len(y)} rows")
    a, b = retrieval_hits(x, y)
    return float(a.mean()), float(b.mean())


def bootstrap_means(groups: Sequence[np.ndarray], n_boot: int = 1000, seed: int = 0,
                    stat: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the mean over groups of a per-group statistic, resampling each
    group's items (sentences) with replacement, the same draws for every call with the same seed and sizes,
    so two systems evaluated on the same sentences get *paired* replicates. ``groups[g]`` is ``(n_g,)`` or
    ``(n_g, k)``; ``stat(sample, idx)`` maps a group and ``(n_boot, n_g)`` indices to ``(n_boot,)``
    (default: the mean of the resampled items)."""
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    for g in groups:
        g = np.asarray(g, np.float64)
        idx = rng.integers(0, len(g), (n_boot, len(g)))
        total += g[idx].mean(1) if stat is None else stat(g, idx)
    return total / len(groups)


def interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates; replicates where the statistic is undefined (nan: a
    resample whose scores are all equal has no Spearman correlation) are left out."""
    replicates = np.asarray(replicates, np.float64)
    replicates = replicates[~np.isnan(replicates)]
    if not len(replicates):
        return math.nan, math.nan
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as scipy.stats.rankdata's default)."""
    a = np.asarray(a, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    starts = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, len(a)])
    avg = first + (counts + 1) / 2.0
    ranks = np.empty(len(a))
    ranks[order] = avg[group]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho with tied ranks averaged (as scipy.stats.spearmanr); nan when a side is constant."""
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def spearman_replicates(g: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Bootstrap statistic for :func:`bootstrap_means`: Spearman ×100 of columns 0 and 1 of
    ``g`` (cosine, gold score) on each row of resampled indices ``idx``."""
    return np.array([100 * spearman(g[i, 0], g[i, 1]) for i in idx])


__all__ = ["retrieval_hits", "retrieval_accuracy", "bootstrap_means", "interval", "rankdata", "spearman",
           "spearman_replicates"]
