"""How the margins of non-translations are distributed in one mining run, measured from the run itself.

Every query (a sentence of either side) has ``k`` candidates, best first. Whether or not the query has a
translation on the other side, its runner-up candidates are non-translations: they are decoys, the top order
statistics of the query's similarities to sentences that are not its translation. Modelled as the upper tail of
many draws, those order statistics are the points of a Poisson process with intensity
``λ(z) = exp(−(z − μ)/β) / β`` (the Gumbel domain of attraction: the best non-translation has a Gumbel(μ, β)
law). A query without a translation contributes all ``k`` candidates to that process; a query with one
contributes candidates 2..k, and its best is a translation, modelled as a normal law. The two-hypothesis mixture
is fitted by EM over all queries (``π`` the share of queries with a translation), so the null is identified by the
runner-ups at any overlap, from a few percent of sentences with a translation to every one of them, instead of
being read off the lower part of the best margins (which do not exist when every sentence has its translation).

For a pair with margin ``m`` the posterior probability of being a translation is
``r(m) = π φ(m) / (π φ(m) + (1 − π) λ(m))``; the estimated precision of a set of pairs is the mean of ``r`` over
them (one minus the mean local false discovery rate), and ``--threshold auto`` keeps the pairs down to where the
estimated precision of what is kept falls below ``--min-precision``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the default target for ``--threshold auto``: keep pairs while their estimated precision is at least this
DEFAULT_MIN_PRECISION = 0.9
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class NullFit:
    """The fitted mixture: null Poisson-process (``mu``, ``beta``) and translation normal (``m``, ``sd``)."""

    mu: float
    beta: float
    pi: float
    m: float
    sd: float
    queries: int  # how many queries (sentences of both sides with a candidate) the fit saw

    def log_intensity(self, z: np.ndarray) -> np.ndarray:
        return -math.log(self.beta) - (np.asarray(z, np.float64) - self.mu) / self.beta

    def log_normal(self, z: np.ndarray) -> np.ndarray:
        return -math.log(self.sd) - _LOG_SQRT_2PI - 0.5 * ((np.asarray(z, np.float64) - self.m) / self.sd) ** 2

    def posterior(self, scores: np.ndarray) -> np.ndarray:
        """``r(m)``: the probability that a pair of margin ``m`` is a translation (0 for -inf/nan margins)."""
        z = np.asarray(scores, np.float64)
        ok = np.isfinite(z)
        if self.pi <= 0:
            return np.zeros(z.shape)
        zz = np.where(ok, z, self.m)
        a = math.log(self.pi) + self.log_normal(zz)
        b = math.log1p(-self.pi) + self.log_intensity(zz) if self.pi < 1 else np.full(zz.shape, -np.inf)
        r = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        # above the translation mode the normal tail thins faster than the null's: never less sure going up
        r = np.where(zz > self.m, np.maximum(r, self._r_at_mode()), r)
        return np.where(ok, r, 0.0)

    def _r_at_mode(self) -> float:
        a = math.log(self.pi) + float(self.log_normal(np.array(self.m)))
        b = math.log1p(-self.pi) + float(self.log_intensity(np.array(self.m))) if self.pi < 1 else -math.inf
        return 1.0 / (1.0 + math.exp(max(min(b - a, 700), -700)))

    def precision(self, scores: np.ndarray) -> float:
        """Estimated precision of a set of pairs with these margins (nan for an empty set)."""
        scores = np.asarray(scores)
        return float(self.posterior(scores).mean()) if len(scores) else math.nan

    def null_density(self, x: np.ndarray) -> np.ndarray:
        """Expected best-candidate margins of queries without a translation, per unit margin at ``x`` (counts:
        ``(1 − π) · queries · Gumbel density``), to draw over a histogram of best margins."""
        z = (np.asarray(x, np.float64) - self.mu) / self.beta
        return (1 - self.pi) * self.queries * np.exp(-z - np.exp(-z)) / self.beta

    def cut(self, scores: np.ndarray, min_precision: float = DEFAULT_MIN_PRECISION) -> float:
        """The lowest margin ``t`` such that the pairs with margin >= ``t`` have estimated precision >=
        ``min_precision`` (pairs taken best first); inf when even the best pair falls short (nothing is kept)."""
        s = np.sort(np.asarray(scores, np.float64)[np.isfinite(scores)])[::-1]
        if not len(s):
            return math.inf
        cum = np.cumsum(self.posterior(s)) / np.arange(1, len(s) + 1)
        last = np.r_[s[1:] != s[:-1], True]  # a cut sits after the last of equal scores
        ok = np.flatnonzero((cum >= min_precision) & last)
        return float(s[ok[-1]]) if len(ok) else math.inf


def _candidates(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (descending) finite candidate margins per query with at least two, and their counts."""
    c = np.asarray(matrix, np.float64)
    c = np.where(np.isfinite(c), c, -np.inf)
    c = -np.sort(-c, axis=1)
    count = np.isfinite(c).sum(axis=1)
    keep = count >= 2
    return c[keep], count[keep]


def _profile_beta(first: np.ndarray, rest_sum: float, rest_n: float, last: np.ndarray, w_first: np.ndarray
                  ) -> tuple[float, float]:
    """(mu, beta) maximizing the null process's likelihood: points ``first`` weighted ``w_first`` plus the
    runner-ups (their sum and count), each query's last candidate bounding its process from below."""
    n_pts = float(w_first.sum()) + rest_n
    s_pts = float((w_first * first).sum()) + rest_sum

    def loglik(beta: float) -> tuple[float, float]:
        t = -last / beta
        top = float(t.max())
        log_e = top + math.log(float(np.exp(t - top).sum()))
        mu = beta * (math.log(n_pts) - log_e)
        return -n_pts * math.log(beta) - s_pts / beta + n_pts * mu / beta - n_pts, mu

    lo, hi = math.log(1e-4), math.log(2.0)  # golden-section search on log beta
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loglik(math.exp(a))[0], loglik(math.exp(b))[0]
    for _ in range(60):
        if fa > fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loglik(math.exp(a))[0]
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loglik(math.exp(b))[0]
    beta = math.exp((lo + hi) / 2)
    return loglik(beta)[1], beta


def fit_null(candidates: np.ndarray, iters: int = 100, max_queries: int = 400_000, seed: int = 0) -> NullFit | None:
    """Fit the mixture to a run's candidate margins: one row per query (both directions stacked), its ``k``
    candidates' margins in any order (-inf for a missing one). None when fewer than 20 queries have two
    candidates (no runner-ups to learn the null from). At most ``max_queries`` (a seeded sample) are used."""
    c, count = _candidates(candidates)
    if len(c) < 20:
        return None
    if len(c) > max_queries:
        pick = np.sort(np.random.default_rng(seed).choice(len(c), max_queries, replace=False))
        c, count = c[pick], count[pick]
    first = c[:, 0]
    last = c[np.arange(len(c)), count - 1]
    rest = np.where(np.isfinite(c[:, 1:]), c[:, 1:], 0.0)
    rest_sum, rest_n = float(rest.sum()), float((count - 1).sum())
    # start: every best a null, then the translations as what the null process cannot explain
    mu, beta = _profile_beta(first, rest_sum, rest_n, last, np.ones(len(c)))
    hi = first[first > mu + 3 * beta]
    m = float(np.median(hi)) if len(hi) >= 5 else float(np.quantile(first, 0.95))
    sd = max(float(hi.std()) if len(hi) >= 5 else beta, 0.01)
    pi = min(max(len(hi) / len(first), 0.01), 0.99)
    fit = NullFit(mu, beta, pi, m, sd, len(c))
    ll_old = -math.inf
    for _ in range(iters):
        a = math.log(fit.pi) + fit.log_normal(first)
        b = math.log1p(-fit.pi) + fit.log_intensity(first)
        top = np.maximum(a, b)
        ll = float((top + np.log(np.exp(a - top) + np.exp(b - top))).sum())
        r = np.exp(a - top) / (np.exp(a - top) + np.exp(b - top))
        pi = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        w = float(r.sum())
        if w > 1e-9:
            m = float((r * first).sum() / w)
            sd = max(math.sqrt(float((r * (first - m) ** 2).sum() / w)), 0.005)
        mu, beta = _profile_beta(first, rest_sum, rest_n, last, 1.0 - r)
        fit = NullFit(mu, beta, pi, m, sd, len(c))
        if ll - ll_old < 1e-7 * abs(ll):
            break
        ll_old = ll
    if fit.m <= fit.mu:  # the "translation mode" sits inside the null: no translations to speak of
        fit.pi = 1e-6
    return fit


__all__ = ["NullFit", "fit_null", "DEFAULT_MIN_PRECISION"]
