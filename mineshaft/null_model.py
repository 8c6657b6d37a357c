"""How likely each mined pair is a translation, measured from the run itself (no gold, no calibration).

Every query (a sentence of either side) has ``k`` candidates, best first. Whether or not the query has a
translation on the other side, its runner-up candidates are non-translations: they are decoys, the top order
statistics of the query's margins to sentences that are not its translation. In the upper tail of many draws
those order statistics are the points of a Poisson process with intensity ``λ_i(z) = exp(−(z − μ_i)/β) / β``
(the Gumbel domain of attraction); ``μ_i``, the query's own null level, is estimated from its own candidates
(given the process's points down to the last candidate ``c_k``, its maximum-likelihood level is
``c_k + β log n_i``, ``n_i`` the query's null points), so sentences with denser neighbourhoods do not pass for
translations; the spacing ``β`` is shared. A query without a translation contributes all its candidates to its
process; a query with one contributes candidates 2..k, and its best is the translation, whose margin follows a
normal law. EM fits the mixture over all queries (``π``: the share of queries with a translation), so the null is
identified by the runner-ups at any overlap, from under 1% of sentences with a translation to every one of them.

A query's posterior of having its translation as best candidate is
``r_i = π φ(c_1) / (π φ(c_1) + (1 − π) λ_i(c_1))``; a mined pair takes the mean over the directions in which it
is its query's best candidate. The estimated precision of a set of pairs is the mean of their posteriors, and
``--threshold auto`` keeps the pairs, best margin first, down to where the estimated precision of what is kept
falls below ``--min-precision``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the default target for ``--threshold auto``: keep pairs while their estimated precision is at least this
DEFAULT_MIN_PRECISION = 0.9
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class Candidates:
    """Both directions' k-NN candidates and their margins: ``fwd_*`` one row per source sentence (its
    candidates among the targets), ``bwd_*`` one row per target sentence; missing ones id -1, margin -inf."""

    fwd_scores: np.ndarray
    fwd_ids: np.ndarray
    bwd_scores: np.ndarray
    bwd_ids: np.ndarray

    def stacked(self) -> np.ndarray:
        """The margins of every query, sources then targets, padded to one width with -inf."""
        width = max(self.fwd_scores.shape[1], self.bwd_scores.shape[1])
        pad = [np.pad(np.asarray(m, np.float32), ((0, 0), (0, width - m.shape[1])), constant_values=-np.inf)
               for m in (self.fwd_scores, self.bwd_scores)]
        return np.vstack(pad)


def _best(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each query's best candidate id (the first of equal margins), -1 where it has none."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    j = np.argmax(s, axis=1) if s.shape[1] else np.zeros(len(s), np.int64)
    best = ids[np.arange(len(ids)), j] if s.shape[1] else np.full(len(s), -1)
    return np.where(np.isfinite(s.max(axis=1, initial=-np.inf)), best, -1)


@dataclass
class NullFit:
    """The fitted mixture and each query's posterior ``r`` (sources then targets) and null level ``mu``."""

    beta: float
    pi: float
    m: float
    sd: float
    r: np.ndarray
    mu: np.ndarray
    best: np.ndarray  # each query's best candidate (sources: a target row; targets: a source row)
    n_src: int

    def pair_posteriors(self, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """Each pair's probability of being a translation: the mean posterior of the directions in which it is
        its query's best candidate (the prior ``π`` where it is neither's)."""
        src, tgt = np.asarray(src, np.int64), np.asarray(tgt, np.int64)
        fwd = self.best[src] == tgt
        bwd = self.best[self.n_src + tgt] == src
        total = np.where(fwd, self.r[src], 0.0) + np.where(bwd, self.r[self.n_src + tgt], 0.0)
        count = fwd.astype(np.int64) + bwd
        return np.where(count > 0, total / np.maximum(count, 1), self.pi)

    def pair_levels(self, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """The null level ``μ`` of the query each pair comes from (its source's where it is the source's best)."""
        src, tgt = np.asarray(src, np.int64), np.asarray(tgt, np.int64)
        fwd = self.best[src] == tgt
        return np.where(fwd, self.mu[src], self.mu[self.n_src + tgt])

    @staticmethod
    def precision(posteriors: np.ndarray) -> float:
        """Estimated precision of a set of pairs (the mean of their posteriors; nan for none)."""
        posteriors = np.asarray(posteriors)
        return float(posteriors.mean()) if len(posteriors) else math.nan

    @staticmethod
    def cut(scores: np.ndarray, posteriors: np.ndarray, min_precision: float = DEFAULT_MIN_PRECISION) -> float:
        """The lowest margin ``t`` such that the pairs with margin >= ``t`` have estimated precision >=
        ``min_precision`` (pairs taken best margin first); inf when even the best pair falls short."""
        scores, posteriors = np.asarray(scores, np.float64), np.asarray(posteriors, np.float64)
        ok = np.isfinite(scores)
        order = np.argsort(-scores[ok], kind="stable")
        s, p = scores[ok][order], posteriors[ok][order]
        if not len(s):
            return math.inf
        cum = np.cumsum(p) / np.arange(1, len(s) + 1)
        last = np.r_[s[1:] != s[:-1], True]  # a cut sits after the last of equal scores
        good = np.flatnonzero((cum >= min_precision) & last)
        return float(s[good[-1]]) if len(good) else math.inf

    def null_density(self, x: np.ndarray, levels: np.ndarray, posteriors: np.ndarray, sample: int = 20_000
                     ) -> np.ndarray:
        """The expected margins of the pairs that are not translations, per unit margin at ``x`` (counts): each
        pair weighs ``1 − r`` and spreads as the Gumbel(μ, β) law of its query's best non-translation."""
        x = np.asarray(x, np.float64)
        w = 1.0 - np.asarray(posteriors, np.float64)
        mu = np.asarray(levels, np.float64)
        scale = 1.0
        if len(mu) > sample:  # an even sample keeps the cost bounded; the weights are scaled back up
            pick = np.linspace(0, len(mu) - 1, sample).round().astype(np.int64)
            scale, mu, w = len(mu) / sample, mu[pick], w[pick]
        z = (x[:, None] - mu[None, :]) / self.beta
        return scale * (w[None, :] * np.exp(-z - np.exp(-z))).sum(axis=1) / self.beta


def fit_null(candidates: Candidates, iters: int = 300) -> NullFit | None:
    """Fit the mixture to a run's candidates; None when fewer than 20 queries have two candidates (no
    runner-ups to learn the null from)."""
    c = candidates.stacked().astype(np.float64)
    c = np.where(np.isfinite(c), c, -np.inf)
    c = -np.sort(-c, axis=1)
    count = np.isfinite(c).sum(axis=1)
    usable = count >= 2
    if usable.sum() < 20:
        return None
    cu, nu = c[usable], count[usable]
    first = cu[:, 0]
    last = cu[np.arange(len(cu)), nu - 1]
    rest_excess = np.where(np.isfinite(cu[:, 1:]), cu[:, 1:] - last[:, None], 0.0).sum(axis=1)
    n_rest = (nu - 1).astype(np.float64)
    r = np.zeros(len(cu))
    beta = float((rest_excess.sum() + (first - last).sum()) / (n_rest.sum() + len(cu)))
    beta = max(beta, 1e-6)
    gap = first - cu[:, 1]
    pi = float(np.clip((gap > 3 * beta).mean(), 0.01, 0.99))
    hi = first[gap > 3 * beta]
    m = float(hi.mean()) if len(hi) >= 5 else float(np.quantile(first, 0.95))
    sd = max(float(hi.std()) if len(hi) >= 5 else float(first.std()), 0.01)
    ll_old = -math.inf
    for _ in range(iters):
        mu = last + beta * np.log(n_rest + (1.0 - r))
        a = math.log(pi) - math.log(sd) - _LOG_SQRT_2PI - 0.5 * ((first - m) / sd) ** 2
        b = math.log1p(-pi) - math.log(beta) - (first - mu) / beta
        top = np.maximum(a, b)
        ll = float((top + np.log(np.exp(a - top) + np.exp(b - top))).sum())
        r = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        pi = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        w = float(r.sum())
        if w > 1e-9:
            m = float((r * first).sum() / w)
            sd = max(math.sqrt(float((r * (first - m) ** 2).sum() / w)), 0.005)
        beta = max(float((rest_excess.sum() + ((1.0 - r) * (first - last)).sum()) / (n_rest.sum() + (1.0 - r).sum())),
                   1e-6)
        if abs(ll - ll_old) < 1e-9 * abs(ll):
            break
        ll_old = ll
    r_all = np.full(len(c), pi)
    r_all[usable] = r
    mu_all = np.full(len(c), np.nan)
    mu_all[usable] = last + beta * np.log(n_rest + (1.0 - r))
    best = np.concatenate([_best(candidates.fwd_scores, candidates.fwd_ids),
                           _best(candidates.bwd_scores, candidates.bwd_ids)])
    return NullFit(beta, pi, m, sd, r_all, mu_all, best, len(candidates.fwd_scores))


__all__ = ["Candidates", "NullFit", "fit_null", "DEFAULT_MIN_PRECISION"]
