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
log-normal law. EM fits the mixture over all queries (``π``: the share of queries with a translation), so the null is
identified by the runner-ups at any overlap, from under 1% of sentences with a translation to every one of them.

Where the sentences' lengths are known (text inputs), each query also carries the log ratio of its own length to
its best candidate's, in characters (xx over English, the feature of Gale & Church's length-based alignment): a
translation's follows a normal law fitted with the posteriors; a non-translation's is read off the runner-up
candidates, which are decoys (non-translations by construction), so it needs no guess of which queries have a
translation. The ratio does not depend on the margin, so it separates what the margin cannot: a sentence of the
same article or a paraphrase with a translation's margin but not its length (chosen on dev tasks; docs/thresholds.md).
The numbers in the two sentences are the third clue (text inputs too): whether the query and its best candidate
have digits, and the same numbers where both have (:func:`mineshaft.mining.corpus.number_signature`). Its law, one
distribution over those outcomes for a query with digits and one for a query without, is again fitted with the
posteriors for translations and read off the runner-up candidates for non-translations: a sentence of the same
article that shares the query's topic and length but not its figures is told from its translation.

A query's posterior of having its translation as best candidate is
``r_i = π φ(c_1) / (π φ(c_1) + (1 − π) λ_i(c_1))``; a mined pair takes the mean over the directions in which it
is its query's best candidate. The estimated precision of a set of pairs is the mean of their posteriors, and
``--threshold auto`` keeps the pairs, best margin first, down to the cut with the highest estimated F1, and never
below where the estimated precision of what is kept falls under ``--min-precision``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

#: the default target for ``--threshold auto``: keep pairs while their estimated precision is at least this
DEFAULT_MIN_PRECISION = 0.8
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: the narrowest law of log length ratios (2%): identical lengths everywhere tell nothing, not infinitely much
_MIN_SD = 0.02
#: the number clue's outcomes for a query and a candidate: neither has digits, only the candidate has, both have
#: the same numbers, only the query has, both have but not the same; and which of the query's kinds (without
#: digits: 0, with: 1) each outcome belongs to
NUMBER_OUTCOMES = ("neither has digits", "only the candidate has digits", "the same numbers",
                   "only the query has digits", "other numbers")
_QUERY_KIND = np.array([0, 0, 1, 1, 1])
#: pseudo-count of each outcome in both laws of the number clue (chosen on dev tasks; docs/thresholds.md)
_NUMBER_PRIOR = 1.0


@dataclass
class Candidates:
    """Both directions' k-NN candidates and their margins: ``fwd_*`` one row per source sentence (its
    candidates among the targets), ``bwd_*`` one row per target sentence; missing ones id -1, margin -inf."""

    fwd_scores: np.ndarray
    fwd_ids: np.ndarray
    bwd_scores: np.ndarray
    bwd_ids: np.ndarray
    #: each source and target sentence's length in characters, where known (text inputs): a second clue
    src_lengths: np.ndarray | None = None
    tgt_lengths: np.ndarray | None = None
    #: each source and target sentence's number signature (:func:`mineshaft.mining.corpus.number_signature`), where
    #: known (text inputs): a third clue
    src_numbers: np.ndarray | None = None
    tgt_numbers: np.ndarray | None = None

    def _sides(self, what: str, src: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        src, tgt = np.asarray(src), np.asarray(tgt)
        if len(src) != len(self.fwd_scores) or len(tgt) != len(self.bwd_scores):
            raise ValueError(f"{what} for {len(src)} and {len(tgt)} sentences, but {len(self.fwd_scores)} and "
                             f"{len(self.bwd_scores)} queries")
        return src, tgt

    def with_lengths(self, src: np.ndarray | None, tgt: np.ndarray | None) -> Candidates:
        """These candidates with the sentences' lengths (None for either side: no length clue)."""
        if src is None or tgt is None:
            return self
        return dataclasses.replace(self, **dict(zip(("src_lengths", "tgt_lengths"), self._sides("lengths", src, tgt))))

    def with_numbers(self, src: np.ndarray | None, tgt: np.ndarray | None) -> Candidates:
        """These candidates with the sentences' number signatures (None for either side: no number clue)."""
        if src is None or tgt is None:
            return self
        return dataclasses.replace(self, **dict(zip(("src_numbers", "tgt_numbers"), self._sides("numbers", src, tgt))))

    def without_copies(self) -> Candidates:
        """These candidates less each runner-up whose margin equals a better candidate's exactly: a copy of it (the
        same sentence twice on one side has the same vector, so the same similarity and neighbourhood). A copy of
        a query's translation is no decoy, and its zero spacing is no draw of the null."""
        parts, found = [], False
        for scores, ids in ((self.fwd_scores, self.fwd_ids), (self.bwd_scores, self.bwd_ids)):
            scores, ids = np.asarray(scores), np.asarray(ids)
            order = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), axis=1, kind="stable")
            s, i = np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)
            copy = np.zeros(s.shape, bool)
            copy[:, 1:] = np.isfinite(s[:, 1:]) & (s[:, 1:] == s[:, :-1])
            if copy.any():
                s, i, found = np.where(copy, -np.inf, s).astype(scores.dtype), np.where(copy, -1, i), True
            parts += [s, i]
        if not found:  # no copy: these candidates as they are (no sorted twin in memory)
            return self
        return dataclasses.replace(self, fwd_scores=parts[0], fwd_ids=parts[1], bwd_scores=parts[2], bwd_ids=parts[3])

    def _ranked(self):
        """Per direction (sources' queries, then targets'): the candidate ids best first and whether each is real."""
        for scores, ids in ((self.fwd_scores, self.fwd_ids), (self.bwd_scores, self.bwd_ids)):
            s = np.where(np.isfinite(scores), scores, -np.inf)
            order = np.argsort(-s, axis=1, kind="stable")
            ids_sorted = np.take_along_axis(np.asarray(ids), order, axis=1)
            yield ids_sorted, np.take_along_axis(np.isfinite(s), order, axis=1) & (ids_sorted >= 0)

    def number_outcomes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per query (sources then targets): the index in :data:`NUMBER_OUTCOMES` of it and its best candidate (-1
        where it has none); and the count of each outcome over every query and each of its runner-ups (the
        decoys). None without number signatures, or where no query or candidate has digits (the clue has nothing
        to say)."""
        if self.src_numbers is None or self.tgt_numbers is None:
            return None
        src, tgt = np.asarray(self.src_numbers), np.asarray(self.tgt_numbers)
        if not (src.any() or tgt.any()):
            return None
        best, decoys = [], np.zeros(len(NUMBER_OUTCOMES))
        for (ids, found), own, other in zip(self._ranked(), (src, tgt), (tgt, src)):
            q, c = own[:, None], other[np.maximum(ids, 0)]
            outcome = np.where(q == 0, np.where(c == 0, 0, 1), np.where(c == 0, 3, np.where(q == c, 2, 4)))
            best.append(np.where(found[:, 0], outcome[:, 0], -1) if outcome.shape[1] else np.full(len(q), -1))
            decoys += np.bincount(outcome[:, 1:][found[:, 1:]], minlength=len(NUMBER_OUTCOMES))
        best = np.concatenate(best)
        return (best, decoys) if (best > 0).any() or decoys[1:].any() else None

    def length_ratios(self) -> tuple[np.ndarray, tuple[float, float]] | None:
        """Per query (sources then targets): log(xx length / English length) of it and its best candidate (nan
        where it has none); and the (mean, sd) of that log ratio over every query and each of its runner-ups (the
        decoys). None without lengths."""
        if self.src_lengths is None or self.tgt_lengths is None:
            return None
        lx = np.log(np.maximum(np.asarray(self.src_lengths, np.float64), 1.0))
        le = np.log(np.maximum(np.asarray(self.tgt_lengths, np.float64), 1.0))
        best, n, total, squares = [], 0, 0.0, 0.0
        for (ids_sorted, found), own, other, sign in zip(self._ranked(), (lx, le), (le, lx), (1.0, -1.0)):
            ratio = sign * (own[:, None] - other[np.maximum(ids_sorted, 0)])
            best.append(np.where(found[:, 0], ratio[:, 0], np.nan) if ratio.shape[1] else np.full(len(own), np.nan))
            decoys = ratio[:, 1:][found[:, 1:]]
            n, total, squares = n + len(decoys), total + float(decoys.sum()), squares + float((decoys ** 2).sum())
        mean = total / n if n else 0.0
        sd = math.sqrt(max(squares / n - mean ** 2, 0.0)) if n else 1.0
        return np.concatenate(best), (mean, max(sd, _MIN_SD))

    def stacked(self) -> np.ndarray:
        """The margins of every query, sources then targets, padded to one width with -inf."""
        width = max(self.fwd_scores.shape[1], self.bwd_scores.shape[1])
        pad = [np.pad(np.asarray(m, np.float32), ((0, 0), (0, width - m.shape[1])), constant_values=-np.inf)
               for m in (self.fwd_scores, self.bwd_scores)]
        return np.vstack(pad)


#: fewer queries (sentences of both sides) than this fit no null model
MIN_QUERIES = 20


def mutual_cut(candidates: Candidates, src: np.ndarray, tgt: np.ndarray, scores: np.ndarray) -> float:
    """The lowest margin among the pairs (``src``, ``tgt``, ``scores``) that are each other's best match (inf where
    none is): what ``auto`` keeps where a run has too few sentences for the null model."""
    fwd = _best(np.asarray(candidates.fwd_scores), np.asarray(candidates.fwd_ids))
    bwd = _best(np.asarray(candidates.bwd_scores), np.asarray(candidates.bwd_ids))
    src, tgt, scores = np.asarray(src, np.int64), np.asarray(tgt, np.int64), np.asarray(scores, np.float64)
    mutual = (fwd[src] == tgt) & (bwd[tgt] == src) & np.isfinite(scores)
    return float(scores[mutual].min()) if mutual.any() else math.inf


def why_no_fit(candidates: Candidates, k: int) -> str:
    """Why :func:`fit_null` found too few candidates in a run, and what would give it enough."""
    queries = len(candidates.fwd_scores) + len(candidates.bwd_scores)
    need = (f"too few candidates to fit a null model, which needs {MIN_QUERIES} sentences (of both sides) with 3 "
            "candidates or more")
    if queries < MIN_QUERIES:
        return f"{need}: this run has {queries} sentences"
    if k < 3:
        return f"{need}: -k 3 or more"
    if candidates.without_copies() is not candidates:
        return (f"{need}, and copies of one sentence count once: -k {2 * k} looks past them (or search each sentence "
                "once: --dedup, the default for text)")
    return f"{need}: most sentences have fewer than 3 neighbours (an approximate index: raise --nprobe)"


def _best(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each query's best candidate id (the first of equal margins), -1 where it has none."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    j = np.argmax(s, axis=1) if s.shape[1] else np.zeros(len(s), np.int64)
    best = ids[np.arange(len(ids)), j] if s.shape[1] else np.full(len(s), -1)
    return np.where(np.isfinite(s.max(axis=1, initial=-np.inf)), best, -1)


@dataclass
class NullFit:
    """The fitted mixture (``beta``: the top rank's null spacing) and each query's posterior ``r`` and runner-up
    margin ``mu`` (sources then targets)."""

    beta: float
    pi: float
    m: float
    sd: float
    r: np.ndarray
    mu: np.ndarray
    best: np.ndarray  # each query's best candidate (sources: a target row; targets: a source row)
    n_src: int
    #: the length clue's laws of log(xx length / English length), (mean, sd) for translations and for the
    #: runner-up decoys; None where the run had no lengths
    length_laws: tuple[tuple[float, float], tuple[float, float]] | None = None
    #: the number clue's laws, each outcome's probability (:data:`NUMBER_OUTCOMES`) given the query's kind (without
    #: digits, with) for translations and for the runner-up decoys; None where the run had no number signatures or
    #: no sentence with digits
    number_laws: tuple[np.ndarray, np.ndarray] | None = None

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
        """The runner-up margin of the query each pair comes from (its source's where it is the source's best)."""
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
        """The ``auto`` cut over pairs taken best margin first: where the estimated F1 is highest (true pairs kept:
        the sum of their posteriors; true pairs in all: the sum over every candidate pair), but never below the
        lowest margin down to which the estimated precision of what is kept is still ``min_precision``. inf when
        even the best pair falls short (nothing is kept)."""
        s, kept, tp, last, f1 = _prefixes(scores, posteriors)
        good = np.flatnonzero((tp / kept >= min_precision) & last)
        if not len(good):
            return math.inf
        return float(max(s[good[-1]], s[int(np.argmax(f1))]))

    @staticmethod
    def best_f1_prefix(scores: np.ndarray, posteriors: np.ndarray) -> tuple[int, float]:
        """(pairs kept, their estimated precision) at the cut of best estimated F1, with no precision floor."""
        s, kept, tp, last, f1 = _prefixes(scores, posteriors)
        if not len(s):
            return 0, math.nan
        i = int(np.argmax(f1))
        return int(kept[i]), float(tp[i] / kept[i])

    def null_density(self, x: np.ndarray, levels: np.ndarray, posteriors: np.ndarray, sample: int = 20_000
                     ) -> np.ndarray:
        """The expected margins of the pairs that are not translations, per unit margin at ``x`` (counts): each
        pair weighs ``1 − r`` and spreads as its query's best non-translation would: its runner-up plus an
        exponential excess of scale ``β`` (the top rank's spacing)."""
        x = np.asarray(x, np.float64)
        w = 1.0 - np.asarray(posteriors, np.float64)
        mu = np.asarray(levels, np.float64)
        scale = 1.0
        if len(mu) > sample:  # an even sample keeps the cost bounded; the weights are scaled back up
            pick = np.linspace(0, len(mu) - 1, sample).round().astype(np.int64)
            scale, mu, w = len(mu) / sample, mu[pick], w[pick]
        z = (x[:, None] - mu[None, :]) / self.beta
        return scale * (w[None, :] * np.where(z >= 0, np.exp(-np.maximum(z, 0)), 0.0)).sum(axis=1) / self.beta


def _prefixes(scores: np.ndarray, posteriors: np.ndarray):
    """The candidate pairs best margin first: (margins, pairs kept, expected true pairs kept, whether a cut can
    sit after each pair (after the last of equal margins), estimated F1 there, -1 where no cut can sit)."""
    scores, posteriors = np.asarray(scores, np.float64), np.asarray(posteriors, np.float64)
    ok = np.isfinite(scores)
    order = np.argsort(-scores[ok], kind="stable")
    s, p = scores[ok][order], posteriors[ok][order]
    kept = np.arange(1, len(s) + 1)
    tp = np.cumsum(p)
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
    f1 = np.where(last, 2 * tp / (kept + p.sum()), -1.0)
    return s, kept, tp, last, f1


def _normal_fit(x: np.ndarray, w: np.ndarray, floor: float = _MIN_SD) -> tuple[float, float]:
    """Weighted mean and standard deviation (at least ``floor``; (0, 1) without weight)."""
    total = float(w.sum())
    if total <= 1e-9 or not len(x):
        return 0.0, 1.0
    mean = float((w * x).sum() / total)
    return mean, max(math.sqrt(float((w * (x - mean) ** 2).sum() / total)), floor)


def _normal_logpdf(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return -math.log(sd) - _LOG_SQRT_2PI - 0.5 * ((x - mean) / sd) ** 2


def _outcome_law(counts: np.ndarray) -> np.ndarray:
    """Each number-clue outcome's probability given its query's kind, from (weighted) counts and the prior."""
    c = np.asarray(counts, np.float64) + _NUMBER_PRIOR
    return c / np.bincount(_QUERY_KIND, weights=c)[_QUERY_KIND]


def fit_null(candidates: Candidates, iters: int = 300) -> NullFit | None:
    """Fit the mixture to a run's candidates (with the length clue where ``candidates`` have lengths); None when
    fewer than 20 queries have three candidates (too few runner-ups to learn the null from)."""
    candidates = candidates.without_copies()
    c = candidates.stacked().astype(np.float64)
    c = np.where(np.isfinite(c), c, -np.inf)
    c = -np.sort(-c, axis=1)
    count = np.isfinite(c).sum(axis=1)
    usable = count >= 3
    if usable.sum() < MIN_QUERIES:
        return None
    cu, nu = c[usable], count[usable]
    width = int(nu.max())
    lengths = candidates.length_ratios()
    if lengths is not None:  # the length clue: decoys give the null's law once; rows without a best go without
        ratio = lengths[0][usable]
        has_ratio = np.isfinite(ratio)
        ratio = np.where(has_ratio, ratio, 0.0)
        decoy_law = lengths[1]
        len_null = np.where(has_ratio, _normal_logpdf(ratio, *decoy_law), 0.0)
    numbers = candidates.number_outcomes()
    if numbers is not None:  # the number clue: the decoys' law once, the translations' fitted with the posteriors
        outcome = numbers[0][usable]
        has_outcome = outcome >= 0
        outcome = np.where(has_outcome, outcome, 0)
        decoy_outcomes = _outcome_law(numbers[1])
        num_null = np.where(has_outcome, np.log(decoy_outcomes[outcome]), 0.0)
    first = cu[:, 0]
    # the translation's margin: normal on its log (margins of translations are skewed to the right)
    level = np.log(np.maximum(first, 1e-3))
    # spacings d_j = c_j - c_{j+1}; rank j's normalized spacing j·d_j is Exp(b_j) for the null's top points
    with np.errstate(invalid="ignore"):  # -inf - -inf where a query has fewer candidates: masked just below
        d = np.where(np.isfinite(cu[:, 1:width]), cu[:, : width - 1] - cu[:, 1:width], np.nan)
    seen = np.isfinite(d)
    d = np.where(seen, d, 0.0)
    j = np.arange(1, width, dtype=np.float64)
    gap, s2 = d[:, 0], d[:, 1]
    r = (gap > 3 * np.median(s2[seen[:, 1]])).astype(np.float64)
    pi = float(np.clip(r.mean(), 0.01, 0.99))
    ll_old = -math.inf
    for _ in range(iters):
        # M step: null spacing scales by rank (under N rank j is d_j; under T, d_{j+1}), translation level, share
        num_n = ((1 - r)[:, None] * j * d).sum(0)
        den_n = ((1 - r)[:, None] * seen).sum(0)
        num_t = np.r_[(r[:, None] * j[:-1] * d[:, 1:]).sum(0), 0.0]
        den_t = np.r_[(r[:, None] * seen[:, 1:]).sum(0), 0.0]
        b = np.maximum((num_n + num_t) / np.maximum(den_n + den_t, 1e-12), 1e-6)
        if float(r.sum()) > 1e-9:
            m, sd = _normal_fit(level, r, floor=0.005)
        else:
            m, sd = float(np.quantile(level, 0.99)), float(level.std()) or 0.01
        pi = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        if lengths is not None:
            trans_law = _normal_fit(ratio, r * has_ratio)
            len_trans = np.where(has_ratio, _normal_logpdf(ratio, *trans_law), 0.0)
        if numbers is not None:
            trans_outcomes = _outcome_law(np.bincount(outcome, weights=r * has_outcome, minlength=len(NUMBER_OUTCOMES)))
            num_trans = np.where(has_outcome, np.log(trans_outcomes[outcome]), 0.0)
        # E step: log-likelihoods of both hypotheses (the query's own level integrated out: see the module doc)
        log_exp = np.log(j / b) - j * d / b  # rank j's spacing density under N, one column per rank
        ln = np.where(seen, log_exp, 0.0).sum(1)
        shifted = np.log(j[:-1] / b[:-1]) - j[:-1] * d[:, 1:] / b[:-1]  # under T, d_{j+1} has rank j
        lt = (np.where(seen[:, 1:], shifted, 0.0).sum(1) - math.log(sd) - _LOG_SQRT_2PI
              - 0.5 * ((level - m) / sd) ** 2 - level)
        if lengths is not None:
            lt, ln = lt + len_trans, ln + len_null
        if numbers is not None:
            lt, ln = lt + num_trans, ln + num_null
        a_ = math.log(pi) + lt
        b_ = math.log1p(-pi) + ln
        top = np.maximum(a_, b_)
        ll = float((top + np.log(np.exp(a_ - top) + np.exp(b_ - top))).sum())
        r = 1.0 / (1.0 + np.exp(np.clip(b_ - a_, -700, 700)))
        if abs(ll - ll_old) < 1e-9 * abs(ll):
            break
        ll_old = ll
    r_all = np.full(len(c), pi)
    r_all[usable] = r
    mu_all = np.full(len(c), np.nan)
    mu_all[usable] = cu[:, 1]  # under the null the best is its runner-up plus an Exp(b_1) excess
    best = np.concatenate([_best(candidates.fwd_scores, candidates.fwd_ids),
                           _best(candidates.bwd_scores, candidates.bwd_ids)])
    laws = (trans_law, decoy_law) if lengths is not None else None
    number_laws = (trans_outcomes, decoy_outcomes) if numbers is not None else None
    return NullFit(float(b[0]), pi, m, sd, r_all, mu_all, best, len(candidates.fwd_scores), laws, number_laws)


__all__ = ["Candidates", "NullFit", "fit_null", "why_no_fit", "mutual_cut", "MIN_QUERIES", "DEFAULT_MIN_PRECISION",
           "NUMBER_OUTCOMES"]
