"""Text reports for humans on stderr: the margin histogram behind --explain-threshold."""

from __future__ import annotations

import numpy as np


def threshold_histogram(scores: np.ndarray, threshold: float | None = None, note: str | None = None, bins: int = 24,
                        width: int = 40) -> str:
    """A text histogram of pair scores, with how many pairs each nearby threshold would keep.

    ``note`` says where the threshold came from (e.g. "the model's calibrated threshold").
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return "no candidate pairs"
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        hi = lo + 1e-3
    counts, edges = np.histogram(scores, bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    lines = [f"{len(scores)} candidate pairs, margin {lo:.4f} .. {hi:.4f}"
             + (f"; threshold {threshold:g} keeps {int((scores >= threshold).sum())}" if threshold is not None else "")
             + (f" ({note})" if note else "")]
    lines.append(f"{'margin from':>12} {'pairs':>8} {'kept if thr=from':>17}")
    for i in range(bins - 1, -1, -1):
        kept = int((scores >= edges[i]).sum())
        mark = " <- threshold" if threshold is not None and edges[i] <= threshold < edges[i + 1] else ""
        bar = "#" * int(round(width * counts[i] / top))
        lines.append(f"{edges[i]:12.4f} {counts[i]:8d} {kept:17d} {bar}{mark}")
    if threshold is not None:
        for q in (threshold - 0.02, threshold - 0.01, threshold, threshold + 0.01, threshold + 0.02):
            lines.append(f"  threshold {q:.4f}: {int((scores >= q).sum())} pairs")
    return "\n".join(lines)


def print_threshold_histogram(scores: np.ndarray, choice) -> None:
    """``--explain-threshold``: the histogram of a run's candidate margins and its ``ThresholdChoice``, on stderr."""
    from .progress import console

    console.print(threshold_histogram(scores, choice.value, choice.describe()), markup=False, highlight=False)
