"""Margin scores (Artetxe & Schwenk 2019) and the retrieval modes that turn them into pairs.

For a candidate pair (x, y) with cosine ``c`` and the mean cosine of x's and of
y's k nearest neighbours in the other language, ``mx`` and ``my``:

- ``ratio``:    c / ((mx + my) / 2)
- ``distance``: c - (mx + my) / 2
- ``absolute``: c

Only neighbours actually found count: a missing one (id -1, similarity -inf, as
an approximate index returns when it visits too few vectors) is left out of the
mean and is never a candidate. A sentence with no neighbour at all has no mean
(nan); the margin then uses the other side's mean alone, and a candidate with no
mean on either side gets margin -inf. The ratio margin is defined only for a
positive denominator: otherwise it is -inf too (dividing by a mean <= 0 would flip
the order). Candidates with margin -inf are never paired.

Everything here is vectorized over all candidates at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..progress import warn

MARGINS = ("ratio", "distance", "absolute")
MODES = ("forward", "backward", "intersect", "max")
#: k, the neighbours a margin averages, is 1..K_MAX (mine, score and eval)
K_MAX = 1000


def check_k(k: int) -> None:
    """Refuse a neighbour count outside 1..K_MAX."""
    if not 1 <= k <= K_MAX:
        raise UsageError(f"--k must be between 1 and {K_MAX}, got {k}")


def check_k_fits(k: int, sentences: int, what: str) -> None:
    """Warn where ``k`` is more than the ``sentences`` a margin's neighbours are drawn from (``what`` names them,
    as "sentences of src"): the search takes all of them, as ``-k sentences`` would."""
    if k > sentences:
        warn(f"--k {k} is more than the {sentences} {what}: all {sentences} are taken as neighbours where the "
             "margins need them")


def neighbour_means(sims: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """Mean similarity of each row's found neighbours (id >= 0 and finite); nan for a row with none."""
    sims = np.asarray(sims, dtype=np.float32)
    found = np.isfinite(sims) if idx is None else (np.asarray(idx) >= 0) & np.isfinite(sims)
    count = found.sum(axis=1)
    total = np.where(found, sims, 0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def margin(cos: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray, kind: str = "ratio") -> np.ndarray:
    """Margin of cosine ``cos`` given the two sides' mean k-NN similarities (broadcasting).

    A nan mean (no neighbours found) is left out of the denominator; with both nan,
    or a ratio denominator <= 0, the margin is -inf (never paired).
    """
    if kind not in MARGINS:
        raise UsageError(f"unknown margin {kind!r} (use one of {', '.join(MARGINS)})")
    cos = np.asarray(cos, dtype=np.float32)
    if kind == "absolute":
        return cos
    mx, my = np.asarray(mean_x, dtype=np.float32), np.asarray(mean_y, dtype=np.float32)
    denom = np.where(np.isnan(mx), my, np.where(np.isnan(my), mx, (mx + my) / 2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if kind == "ratio":
            out = np.where(denom > 0, cos / np.where(denom > 0, denom, 1), -np.inf)
        else:
            out = np.where(np.isnan(denom), -np.inf, cos - denom)
    return np.where(np.isnan(out), -np.inf, out).astype(np.float32)


def candidate_margins(
    sims: np.ndarray, idx: np.ndarray, mean_query: np.ndarray, mean_db: np.ndarray, kind: str = "ratio"
) -> np.ndarray:
    """Margin of every k-NN candidate: ``sims[i, j]`` is query i against database row ``idx[i, j]``.

    Missing candidates (id < 0) get -inf.
    """
    idx = np.asarray(idx)
    found = idx >= 0
    out = margin(sims, mean_query[:, None], mean_db[np.where(found, idx, 0)], kind)
    return np.where(found & np.isfinite(np.asarray(sims, dtype=np.float32)), out, np.float32(-np.inf))


@dataclass
class Pairs:
    """Mined pairs as parallel arrays, best score first."""

    src: np.ndarray  # int64 row of the source side
    tgt: np.ndarray  # int64 row of the target side
    score: np.ndarray  # float32 margin

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def sorted(cls, src: np.ndarray, tgt: np.ndarray, score: np.ndarray) -> Pairs:
        """Sort by score descending, ties broken by (src, tgt) so output is deterministic."""
        order = np.lexsort((tgt, src, -score))
        return cls(src[order].astype(np.int64), tgt[order].astype(np.int64), score[order].astype(np.float32))

    def above(self, threshold: float | None) -> Pairs:
        if threshold is None:
            return self
        keep = self.score >= threshold
        return Pairs(self.src[keep], self.tgt[keep], self.score[keep])


def best_candidates(scores: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, its best-scoring candidate: (database row, score).

    Equal scores go to the smaller database row. A row with no finite score (no
    candidate) gets (-1, -inf).
    """
    scores = np.where(np.isnan(scores), -np.inf, scores).astype(np.float32)
    idx = np.asarray(idx, dtype=np.int64)
    best = scores.max(axis=1) if scores.shape[1] else np.full(len(scores), -np.inf, np.float32)
    tied = (scores == best[:, None]) & (idx >= 0)
    row = np.where(tied, idx, np.iinfo(np.int64).max).min(axis=1, initial=np.iinfo(np.int64).max)
    ok = np.isfinite(best)
    return np.where(ok, row, -1), np.where(ok, best, np.float32(-np.inf)).astype(np.float32)


def select_pairs(
    fwd_scores: np.ndarray,
    fwd_idx: np.ndarray,
    bwd_scores: np.ndarray,
    bwd_idx: np.ndarray,
    mode: str = "max",
    threshold: float | None = None,
) -> Pairs:
    """Turn forward (x→y) and backward (y→x) candidate margins into pairs.

    - ``forward``: each source sentence with its best target.
    - ``backward``: each target sentence with its best source.
    - ``intersect``: pairs that are best in both directions.
    - ``max``: forward and backward bests pooled, then taken greedily by score
      so that every sentence appears in at most one pair (one-to-one).

    ``threshold`` (minimum margin) applies in every mode.
    """
    if mode not in MODES:
        raise UsageError(f"unknown retrieval mode {mode!r} (use one of {', '.join(MODES)})")
    nx, ny = len(fwd_scores), len(bwd_scores)
    fwd_tgt, fwd_best = best_candidates(fwd_scores, fwd_idx) if nx else (np.empty(0, np.int64), np.empty(0, np.float32))
    bwd_src, bwd_best = best_candidates(bwd_scores, bwd_idx) if ny else (np.empty(0, np.int64), np.empty(0, np.float32))
    xs, ys = np.arange(nx), np.arange(ny)
    fok, bok = fwd_tgt >= 0, bwd_src >= 0  # a sentence without any candidate is never paired
    fwd = Pairs.sorted(xs[fok], fwd_tgt[fok], fwd_best[fok])
    bwd = Pairs.sorted(bwd_src[bok], ys[bok], bwd_best[bok])
    if mode == "forward":
        return fwd.above(threshold)
    if mode == "backward":
        return bwd.above(threshold)
    if mode == "intersect":
        # x's best is y and y's best is x  <=>  bwd_src[fwd_tgt[x]] == x
        keep = fok & (bwd_src[np.maximum(fwd_tgt, 0)] == xs) if nx and ny else np.zeros(nx, bool)
        return Pairs.sorted(xs[keep], fwd_tgt[keep], fwd_best[keep]).above(threshold)
    pooled = Pairs.sorted(
        np.concatenate([fwd.src, bwd.src]), np.concatenate([fwd.tgt, bwd.tgt]), np.concatenate([fwd.score, bwd.score])
    ).above(threshold)
    return greedy_one_to_one(pooled, nx, ny)


def greedy_one_to_one(pairs: Pairs, nx: int, ny: int) -> Pairs:
    """Keep pairs in score order unless their source or target is already used.

    Same result as the sequential greedy loop, computed in vectorized rounds: a
    pair that ranks first among the remaining pairs of both its source and its
    target is certainly kept by the loop, so each round keeps all such pairs
    at once and drops the pairs they block. Real data needs a handful of rounds.
    """
    n = len(pairs)
    rank = np.arange(n)  # pairs are sorted best first: rank is the loop's order
    src, tgt = pairs.src, pairs.tgt
    keep = np.zeros(n, dtype=bool)
    alive = rank
    used_x = np.zeros(nx, dtype=bool)
    used_y = np.zeros(ny, dtype=bool)
    while len(alive):
        s, t = src[alive], tgt[alive]
        first_x = np.full(nx, n, dtype=np.int64)
        first_y = np.full(ny, n, dtype=np.int64)
        np.minimum.at(first_x, s, alive)
        np.minimum.at(first_y, t, alive)
        win = (first_x[s] == alive) & (first_y[t] == alive)
        keep[alive[win]] = True
        used_x[s[win]] = True
        used_y[t[win]] = True
        alive = alive[~used_x[s] & ~used_y[t]]
    return Pairs(pairs.src[keep], pairs.tgt[keep], pairs.score[keep])
