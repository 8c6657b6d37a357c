"""Text reports for humans on stderr: the margin histogram behind --explain-threshold."""

from __future__ import annotations

import math

import numpy as np


def threshold_histogram(scores: np.ndarray, threshold: float | None = None, note: str | None = None, bins: int = 24,
                        width: int = 40, posteriors: np.ndarray | None = None) -> str:
    """A text histogram of pair scores, with how many pairs each nearby threshold would keep.

    ``note`` says where the threshold came from (e.g. "the model's calibrated threshold"). ``posteriors`` (each
    pair's estimated probability of being a translation, from the run's null model) add the estimated
    non-translations of each bin (``.`` in the bar, ``#`` the rest) and the estimated precision of what each
    cut keeps.
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
    post = None if posteriors is None else np.asarray(posteriors, dtype=np.float64)
    if post is None:
        lines.append(f"{'margin from':>12} {'pairs':>8} {'kept if thr=from':>17}")
    else:
        lines.append(f"{'margin from':>12} {'pairs':>8} {'est. null':>9} {'kept if thr=from':>17} {'est. precision':>14}"
                     "  (# translations, . non-translations, estimated)")
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    for i in range(bins - 1, -1, -1):
        keep = scores >= edges[i]
        kept = int(keep.sum())
        mark = " <- threshold" if threshold is not None and edges[i] <= threshold < edges[i + 1] else ""
        if post is None:
            bar = "#" * int(round(width * counts[i] / top))
            lines.append(f"{edges[i]:12.4f} {counts[i]:8d} {kept:17d} {bar}{mark}")
            continue
        null = float((1 - post[which == i]).sum())
        n_bar = int(round(width * counts[i] / top))
        dots = min(n_bar, int(round(width * null / top)))
        prec = f"{100 * post[keep].mean():13.1f}%" if kept else f"{'-':>14}"
        lines.append(f"{edges[i]:12.4f} {counts[i]:8d} {null:9.1f} {kept:17d} {prec} "
                     f"{'#' * (n_bar - dots)}{'.' * dots}{mark}")
    if threshold is not None:
        for q in (threshold - 0.02, threshold - 0.01, threshold, threshold + 0.01, threshold + 0.02):
            lines.append(f"  threshold {q:.4f}: {int((scores >= q).sum())} pairs")
    return "\n".join(lines)


def print_threshold_histogram(scores: np.ndarray, choice) -> None:
    """``--explain-threshold``: the histogram of a run's candidate margins and its ``ThresholdChoice`` (with the
    estimated non-translations where the run's null model was fitted), on stderr."""
    from ..progress import console

    fit = getattr(choice, "fit", None)
    text = threshold_histogram(scores, choice.value, choice.describe(),
                               posteriors=None if fit is None else fit.posteriors)
    if fit is not None:
        f = fit.fit
        text += (f"\nnull model: {100 * f.pi:.1f}% of the sentences have their translation as best candidate "
                 f"(about {fit.expected_translations():.0f} of the {len(scores)} candidate pairs are translations); "
                 f"non-translation spacing β {f.beta:.4f}, translation margins {f.m:.3f} ± {f.sd:.3f}")
        if f.length_laws is not None:
            (tm, ts), (dm, ds) = f.length_laws
            text += (f"\nlength clue: xx/English length ratio of translations {math.exp(tm):.2f} (log sd {ts:.2f}), "
                     f"of runner-up candidates {math.exp(dm):.2f} (log sd {ds:.2f})")
        if f.number_laws is not None:
            trans, decoys = f.number_laws
            text += (f"\nnumber clue: where the sentence has digits, its candidate has the same numbers in "
                     f"{100 * trans[2]:.0f}% of translations and {100 * decoys[2]:.0f}% of runner-up candidates, "
                     f"other numbers in {100 * trans[4]:.0f}% and {100 * decoys[4]:.0f}%")
    console.print(text, markup=False, highlight=False)
