"""The threshold of `mine`: --threshold auto, the model's calibrated value, the library default, the summary line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mineshaft.errors import UsageError
from mineshaft.evaluate import best_threshold, f1_at
from mineshaft.mining.threshold import (MINING_FILE, auto_threshold, calibrated_threshold, choose_threshold,
                                        model_dir_of, parse_threshold)

from conftest import ROOT, run_cli

SAMPLE = ROOT / "mineshaft" / "data"


def synthetic_run(rng, n: int, share: float, k: int = 4, beta: float = 0.05):
    """A mining run's candidates drawn from the null model's own assumptions: ``n`` sentences a side, the first
    ``share·n`` of each with its translation (row i <-> row i) at margin N(1.45, 0.1); every query's other
    candidates are the top points of a Poisson process at its own level (N(1.0, 0.04)), spacing ``beta``."""
    from mineshaft.mining.margin import select_pairs
    from mineshaft.mining.null_model import Candidates

    g = int(round(share * n))

    def side():
        level = rng.normal(1.0, 0.04, n)
        gamma = np.cumsum(rng.exponential(size=(n, k)), axis=1)
        scores = level[:, None] - beta * np.log(gamma)
        ids = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
        trans = rng.normal(1.45, 0.1, g)
        top = trans > scores[:g, 0]  # a translation below its best non-translation is not found
        scores[:g] = np.where(top[:, None], np.c_[trans, scores[:g, :-1]], scores[:g])
        ids[:g] = np.where(top[:, None], np.c_[np.arange(g), ids[:g, :-1]], ids[:g])
        return scores.astype(np.float32), ids

    fs, fi = side()
    bs, bi = side()
    pairs = select_pairs(fs, fi, bs, bi, mode="max")
    correct = (pairs.src == pairs.tgt) & (pairs.src < g)
    return pairs, Candidates(fs, fi, bs, bi), correct, g


@pytest.mark.parametrize("share", [1.0, 0.5, 0.2, 0.05])
def test_auto_is_near_the_oracle_and_knows_its_precision(share):
    from mineshaft.mining.null_model import fit_null
    from mineshaft.mining.threshold import ThresholdFit

    rng = np.random.default_rng(int(share * 100))
    pairs, candidates, correct, g = synthetic_run(rng, 4000 if share < 0.1 else 2000, share)
    fit = ThresholdFit.of(fit_null(candidates), pairs)
    oracle = best_threshold(pairs.score, correct, g)
    t = auto_threshold(pairs.score, fit, 0.8)
    kept = pairs.score >= t
    assert f1_at(pairs.score, correct, g, t).f1 >= oracle.f1 - 0.04, (t, oracle)
    estimate, measured = fit.precision_above(pairs.score, t), correct[kept].mean()
    assert measured - 0.08 < estimate < measured + 0.05  # never much rosier than the truth
    assert correct[kept].mean() >= 0.8  # the floor holds, within the estimate's error
    assert abs(fit.fit.pi - share) < 0.05 + 0.1 * share


def _lengths(rng, n: int, g: int, spread: float = 0.12):
    """Sentence lengths: translations (rows < g, row i <-> row i) keep their lengths' ratio (log sd ``spread``),
    every other sentence has a length of its own."""
    src = np.exp(rng.normal(4.0, 0.6, n))
    tgt = np.exp(rng.normal(4.0, 0.6, n))
    tgt[:g] = src[:g] * np.exp(rng.normal(0.1, spread, g))
    return np.maximum(src.round(), 1), np.maximum(tgt.round(), 1)


def _related(rng, candidates, pairs_n: int, g: int, share: float):
    """Non-translations with a translation's margin (sentences of the same article): ``share`` of the queries
    without a translation get a best candidate at margin N(1.3, 0.08), in the lower half of the translations'."""
    for scores, ids in ((candidates.fwd_scores, candidates.fwd_ids), (candidates.bwd_scores, candidates.bwd_ids)):
        rows = rng.choice(np.arange(g, pairs_n), int(share * (pairs_n - g)), replace=False)
        scores[rows, 1:] = scores[rows, :-1]
        ids[rows, 1:] = ids[rows, :-1]
        scores[rows, 0] = rng.normal(1.3, 0.08, len(rows))
        ids[rows, 0] = (rows + 1 + rng.integers(0, pairs_n - 1, len(rows))) % pairs_n  # never its own row


def _related_run(rng, n: int, share: float):
    """A synthetic run (:func:`synthetic_run`) with 4% of the other queries' best candidates at a translation's
    margin (:func:`_related`): its candidates, every candidate pair, which are right, the number of translations."""
    from mineshaft.mining.margin import select_pairs

    _, candidates, _, g = synthetic_run(rng, n, share)
    _related(rng, candidates, n, g, 0.04)
    pairs = select_pairs(candidates.fwd_scores, candidates.fwd_ids, candidates.bwd_scores, candidates.bwd_ids,
                         mode="max")
    return candidates, pairs, (pairs.src == pairs.tgt) & (pairs.src < g), g


def _auto_by_clue(runs: dict, pairs, correct, g: int) -> dict:
    """For each named set of candidates (the same run with other clues): `auto`'s F1, its estimated precision and
    the measured one."""
    from mineshaft.mining.null_model import fit_null
    from mineshaft.mining.threshold import ThresholdFit

    results = {}
    for clue, cands in runs.items():
        fit = ThresholdFit.of(fit_null(cands), pairs)
        t = auto_threshold(pairs.score, fit, 0.8)
        results[clue] = (f1_at(pairs.score, correct, g, t).f1, fit.precision_above(pairs.score, t),
                         correct[pairs.score >= t].mean())
    return results


@pytest.mark.parametrize("share", [0.5, 0.2, 0.05])
def test_the_length_clue_sees_through_non_translations_with_a_translations_margin(share):
    """Sentences of the same article as the query reach a translation's margin: by margins alone they pass for
    translations (the estimate is rosy); their lengths do not keep a translation's ratio, and the runner-ups
    (decoys) say what a non-translation's ratio looks like."""
    n = 3000
    rng = np.random.default_rng(int(share * 1000) + 7)
    candidates, pairs, correct, g = _related_run(rng, n, share)
    oracle = best_threshold(pairs.score, correct, g)
    results = _auto_by_clue({"margins": candidates, "lengths": candidates.with_lengths(*_lengths(rng, n, g))},
                            pairs, correct, g)
    f1, estimate, measured = results["lengths"]
    old_f1, old_estimate, old_measured = results["margins"]
    assert abs(estimate - measured) < 0.1, results
    assert old_estimate - old_measured > 2 * abs(estimate - measured), results  # the clue makes the estimate honest
    assert f1 >= old_f1 - 0.005, results  # never worse than margins alone
    assert oracle.f1 - f1 < 0.5 * (oracle.f1 - old_f1) + 0.01, (results, oracle)  # most of the way to the oracle


def test_length_clue_needs_both_sides_and_matching_counts():
    from mineshaft.mining.null_model import fit_null

    _, candidates, _, g = synthetic_run(np.random.default_rng(3), 500, 0.5)
    assert candidates.with_lengths(None, np.ones(500)) is candidates
    with pytest.raises(ValueError):
        candidates.with_lengths(np.ones(499), np.ones(500))
    same = candidates.with_lengths(np.full(500, 40), np.full(500, 40))  # no information: the fit is unchanged
    a, b = fit_null(candidates), fit_null(same)
    assert b.length_laws is not None and a.length_laws is None
    assert np.allclose(a.r, b.r, atol=1e-6) and abs(a.pi - b.pi) < 1e-6


def test_length_ratios_by_hand():
    """Unsorted candidates, missing ones (id -1, -inf, nan) and a tie, both directions: xx over English, the best
    candidate (the first of equal margins) apart, the runner-ups as decoys."""
    import math

    from mineshaft.mining.null_model import Candidates

    inf, nan = np.inf, np.nan
    c = Candidates(np.array([[1.0, 1.5, 1.2], [1.1, 1.1, -inf], [nan, -inf, 1.3], [-inf, -inf, -inf]], np.float32),
                   np.array([[0, 1, 2], [2, 0, -1], [1, 0, 2], [0, 1, 2]]),
                   np.array([[1.4, 0.9, 1.0], [1.2, 1.3, 0.8], [1.0, 1.0, 1.0]], np.float32),
                   np.array([[3, 0, -1], [2, 1, 0], [0, 1, 2]]))
    c = c.with_lengths(np.array([10, 20, 40, 80]), np.array([10, 5, 20]))
    best, (mean, sd) = c.length_ratios()
    lg = math.log
    want_best = [lg(10 / 5),  # source 0: best is target 1 (1.5)
                 lg(20 / 20),  # source 1: tie 1.1 between targets 2 and 0: the first column, target 2
                 lg(40 / 20),  # source 2: only target 2 is a candidate
                 nan,  # source 3: none
                 lg(80 / 10),  # target 0: best is source 3 (1.4)
                 lg(20 / 5),  # target 1: best is source 1 (1.3)
                 lg(10 / 20)]  # target 2: all tied, the first: source 0
    np.testing.assert_allclose(best, want_best)
    decoys = [lg(10 / 20), lg(10 / 10),  # source 0: targets 2 (1.2), 0 (1.0)
              lg(20 / 10),  # source 1: target 0 (the other of the tie); -inf and id -1 are no decoys
              lg(10 / 10),  # target 0: source 0 (1.0); id -1 is none
              lg(40 / 5), lg(10 / 5),  # target 1: sources 2 (1.2), 0 (0.8)
              lg(20 / 20), lg(40 / 20)]  # target 2: sources 1, 2
    assert mean == pytest.approx(np.mean(decoys)) and sd == pytest.approx(np.std(decoys))
    assert Candidates(c.fwd_scores, c.fwd_ids, c.bwd_scores, c.bwd_ids).length_ratios() is None


def _numbers(rng, n: int, g: int, with_digits: float = 0.4, kept: float = 0.9):
    """Number signatures: ``with_digits`` of the sentences have numbers (a signature of their own, few shared);
    a translation (rows < g) has its sentence's numbers in ``kept`` of cases, other numbers or none otherwise."""
    src = np.where(rng.random(n) < with_digits, rng.integers(1, 50, n), 0).astype(np.uint32)
    tgt = np.where(rng.random(n) < with_digits, rng.integers(1, 50, n), 0).astype(np.uint32)
    same = rng.random(g) < kept
    tgt[:g] = np.where(same, src[:g], np.where(src[:g] > 0, rng.integers(50, 60, g), 0))
    return src, tgt


@pytest.mark.parametrize("share", [0.5, 0.2, 0.05])
def test_the_number_clue_sees_through_non_translations_with_a_translations_margin(share):
    """As the length clue: sentences of the same article reach a translation's margin, but where the sentences
    hold numbers, a translation has its sentence's numbers and they do not; the runner-ups (decoys) say how often
    any two sentences share them. With both clues the estimate is more honest and the cut better than with a weak
    length clue alone."""
    from mineshaft.mining.null_model import fit_null

    n = 3000
    rng = np.random.default_rng(int(share * 1000) + 17)
    candidates, pairs, correct, g = _related_run(rng, n, share)
    lengths = candidates.with_lengths(*_lengths(rng, n, g, spread=0.3))  # a weak length clue
    both = lengths.with_numbers(*_numbers(rng, n, g))
    results = _auto_by_clue({"lengths": lengths, "both": both}, pairs, correct, g)
    f1, estimate, measured = results["both"]
    old_f1, old_estimate, old_measured = results["lengths"]
    assert abs(estimate - measured) < abs(old_estimate - old_measured), results  # a more honest estimate
    assert f1 > old_f1, results  # and a better cut
    trans, decoys = fit_null(both).number_laws
    assert trans[2] > 0.6 and decoys[2] < 0.05  # the same numbers: most translations (0.9 here), few decoys
    assert np.allclose([trans[0] + trans[1], trans[2] + trans[3] + trans[4]], 1)  # a law per kind of query


def test_number_clue_needs_both_sides_and_digits():
    from mineshaft.mining.null_model import fit_null

    _, candidates, _, _ = synthetic_run(np.random.default_rng(3), 500, 0.5)
    assert candidates.with_numbers(None, np.zeros(500)) is candidates
    with pytest.raises(ValueError):
        candidates.with_numbers(np.zeros(499), np.zeros(500))
    none = candidates.with_numbers(np.zeros(500, np.uint32), np.zeros(500, np.uint32))
    a, b = fit_null(candidates), fit_null(none)
    assert a.number_laws is None and b.number_laws is None  # no sentence has digits: no clue, the same fit
    assert np.array_equal(a.r, b.r) and a.pi == b.pi
    one = np.zeros(500, np.uint32)
    one[7] = 3
    assert fit_null(candidates.with_numbers(one, np.zeros(500, np.uint32))).number_laws is not None


def test_number_outcomes_by_hand():
    """The outcome of each query and its best candidate (unsorted candidates, missing ones), and the decoys'
    counts, both directions."""
    from mineshaft.mining.null_model import NUMBER_OUTCOMES, Candidates

    inf = np.inf
    c = Candidates(np.array([[1.0, 1.5, 1.2], [1.1, 1.3, -inf], [-inf, -inf, -inf]], np.float32),
                   np.array([[0, 1, 2], [2, 0, -1], [0, 1, 2]]),
                   np.array([[0.9, 1.4, 1.0], [1.2, 1.3, 0.8], [1.0, 1.1, 1.2]], np.float32),
                   np.array([[1, 0, 2], [2, 1, 0], [0, 1, 2]]))
    c = c.with_numbers(np.array([7, 0, 5], np.uint32), np.array([7, 0, 9], np.uint32))
    best, decoys = c.number_outcomes()
    assert NUMBER_OUTCOMES[2] == "the same numbers"
    assert best.tolist() == [3,  # source 0 (7): best target 1 (none): only the query has digits
                             1,  # source 1 (none): best target 0 (7): only the candidate has
                             -1,  # source 2: no candidate
                             2,  # target 0 (7): best source 0 (7): the same numbers
                             0,  # target 1 (none): best source 1 (none): neither
                             4]  # target 2 (9): best source 2 (5): other numbers
    # runner-ups: source 0: targets 2 (other), 0 (the same); source 1: target 2 (only the candidate); target 0:
    # sources 2 (other), 1 (only the query); target 1: sources 2, 0 (only the candidate, twice); target 2: sources
    # 1 (only the query), 0 (other)
    assert decoys.tolist() == [0, 3, 1, 2, 3]
    assert Candidates(c.fwd_scores, c.fwd_ids, c.bwd_scores, c.bwd_ids).number_outcomes() is None


def test_number_signature():
    from mineshaft.mining.corpus import number_signature

    assert number_signature("No digits here.") == 0
    assert number_signature("1,500 people in 2019") == number_signature("2019: 1.500 Menschen") != 0
    assert number_signature("In 2019") == number_signature("２０１９年") == number_signature("٢٠١٩ में")
    assert number_signature("7 and 007") == number_signature("7")  # read as numbers, each once
    assert number_signature("in 2019") != number_signature("in 2018")
    assert number_signature("9" * 5000) != 0  # no limit on a run's length
    assert number_signature("1500") != number_signature("1,500")  # separators split a number
    assert number_signature("in 2019¹") == number_signature("in 2019")  # a footnote mark is no digit
    assert number_signature("10 km²") == number_signature("10 km") and number_signature("km²") == 0


def test_length_clue_with_rows_of_too_few_candidates():
    """Rows with fewer than three candidates are left out of the fit; the length of every other row still meets
    its own query (a shifted mask would pair lengths with the wrong rows and lose the clue)."""
    from mineshaft.mining.margin import select_pairs
    from mineshaft.mining.null_model import fit_null

    n, share = 2000, 0.2
    rng = np.random.default_rng(11)
    _, candidates, _, g = synthetic_run(rng, n, share)
    _related(rng, candidates, n, g, 0.04)
    short = rng.choice(n, 300, replace=False)  # queries with only two candidates, among them translations
    candidates.fwd_scores[short, 2:] = -np.inf
    candidates.fwd_ids[short, 2:] = -1
    pairs = select_pairs(candidates.fwd_scores, candidates.fwd_ids, candidates.bwd_scores, candidates.bwd_ids,
                         mode="max")
    correct = (pairs.src == pairs.tgt) & (pairs.src < g)
    fit = fit_null(candidates.with_lengths(*_lengths(rng, n, g)))
    (tm, ts), _ = fit.length_laws
    assert abs(tm + 0.1) < 0.03 and ts < 0.2  # the translations' own law: log ratio N(-0.1, 0.12)
    post, margins_only = fit.pair_posteriors(pairs.src, pairs.tgt), fit_null(candidates).pair_posteriors(pairs.src,
                                                                                                        pairs.tgt)
    wrong = (pairs.score > 1.25) & ~correct  # non-translations with a translation's margin
    assert post[wrong].mean() < 0.6 * margins_only[wrong].mean()
    assert post[correct].mean() > margins_only[correct].mean() - 0.02


def _with_copies(rng, candidates, share: float):
    """The candidates of a run whose target side repeats sentences: for ``share`` of the source queries, a copy
    of the best candidate (another target row, the same margin) comes second and the last candidate goes."""
    copied = rng.random(len(candidates.fwd_scores)) < share
    s, i = candidates.fwd_scores.copy(), candidates.fwd_ids.copy()
    twin = rng.integers(len(candidates.bwd_scores), len(candidates.bwd_scores) * 2, len(s))
    s[copied] = np.c_[s[copied, :1], s[copied, :-1]]
    i[copied] = np.c_[i[copied, :1], twin[copied], i[copied, 1:-1]]
    return dataclasses.replace(candidates, fwd_scores=s, fwd_ids=i)


def test_copies_of_the_best_candidate_are_no_decoys():
    """A repeated target sentence is its copy's runner-up at the same margin: a copy of a translation is no
    decoy, and a zero spacing is no draw of the null. With copies behind half the queries' best candidates, the fit
    is the fit without them (it wrote an empty file for a target side given twice)."""
    from mineshaft.mining.margin import select_pairs
    from mineshaft.mining.null_model import fit_null
    from mineshaft.mining.threshold import ThresholdFit

    rng = np.random.default_rng(5)
    pairs, candidates, correct, g = synthetic_run(rng, 2000, 0.5)
    copies = _with_copies(rng, candidates, 0.5)
    assert (copies.without_copies().fwd_ids == -1).sum() == (copies.fwd_ids[:, 1] >= 2000).sum()
    clean, copied = fit_null(candidates), fit_null(copies)
    assert abs(copied.pi - clean.pi) < 0.03 and abs(copied.beta - clean.beta) < 0.1 * clean.beta
    pairs = select_pairs(copies.fwd_scores, copies.fwd_ids, copies.bwd_scores, copies.bwd_ids, mode="max")
    correct = (pairs.src == pairs.tgt) & (pairs.src < g)
    t = auto_threshold(pairs.score, ThresholdFit.of(copied, pairs), 0.8)
    assert f1_at(pairs.score, correct, g, t).f1 >= best_threshold(pairs.score, correct, g).f1 - 0.04


def test_why_no_null_model_could_be_fitted():
    """The note named copies and a higher -k for a run of 16 sentences (8 a side), which no -k could fit."""
    from mineshaft.mining.null_model import Candidates, why_no_fit

    rng = np.random.default_rng(2)
    few = Candidates(*(rng.random((8, 4)).astype(np.float32), rng.integers(0, 8, (8, 4))) * 2)
    assert why_no_fit(few, 4).endswith("with 3 candidates or more: this run has 16 sentences")
    scores = np.repeat(rng.random((30, 2)).astype(np.float32), 2, axis=1)  # every candidate twice: copies
    copies = Candidates(scores, rng.integers(0, 30, (30, 4)), scores, rng.integers(0, 30, (30, 4)))
    assert "copies of one sentence count once: -k 8 looks past them" in why_no_fit(copies, 4)
    assert why_no_fit(copies, 2).endswith(": -k 3 or more")
    sparse = Candidates(*(np.where(np.arange(4) < 2, rng.random((30, 4)), -np.inf).astype(np.float32),
                          np.where(np.arange(4) < 2, 1, -1) * np.ones((30, 4), np.int64)) * 2)
    assert "fewer than 3 neighbours (an approximate index: raise --nprobe)" in why_no_fit(sparse, 4)


def test_without_copies_by_hand():
    from mineshaft.mining.null_model import Candidates

    inf = np.inf
    c = Candidates(np.array([[2.0, 2.0, 1.0, 1.0], [1.5, 1.25, 1.25, -inf]], np.float32),
                   np.array([[3, 4, 5, 6], [0, 1, 2, -1]]),
                   np.array([[1.0, 1.5, 1.5, 0.75]], np.float32), np.array([[0, 1, 0, 1]]))
    d = c.without_copies()  # best first; a candidate as good as the one before it is a copy of it
    assert d.fwd_scores.tolist() == [[2.0, -inf, 1.0, -inf], [1.5, 1.25, -inf, -inf]]
    assert d.fwd_ids.tolist() == [[3, -1, 5, -1], [0, 1, -1, -1]]
    assert d.bwd_scores.tolist() == [[1.5, -inf, 1.0, 0.75]] and d.bwd_ids.tolist() == [[1, -1, 0, 1]]
    assert c.fwd_scores[0, 1] == 2.0 and c.fwd_ids[0, 1] == 4  # the candidates given are left as they are


def test_auto_keeps_almost_nothing_without_translations():
    from mineshaft.mining.null_model import fit_null
    from mineshaft.mining.threshold import ThresholdFit

    pairs, candidates, _, _ = synthetic_run(np.random.default_rng(1), 3000, 0.0)
    fit = ThresholdFit.of(fit_null(candidates), pairs)
    assert int((pairs.score >= auto_threshold(pairs.score, fit)).sum()) <= 10  # not half, not the upper tail
    assert fit.expected_translations() < 100


def test_auto_edge_cases():
    from mineshaft.mining.null_model import Candidates, fit_null

    assert auto_threshold(np.array([]), None) == np.inf  # no fit: nothing is kept, never everything
    tiny = Candidates(np.array([[1.3, 1.0]], np.float32), np.array([[0, 1]]), np.zeros((0, 2), np.float32),
                      np.zeros((0, 2), np.int64))
    assert fit_null(tiny) is None  # too few queries to learn a null from
    pairs, candidates, _, _ = synthetic_run(np.random.default_rng(2), 200, 0.5)
    candidates.fwd_scores[:5] = -np.inf  # queries without candidates
    candidates.fwd_scores[5:10, 1:] = np.nan
    fit = fit_null(candidates)
    assert fit is not None and np.isfinite(fit.r).all() and 0 < fit.pi < 1


def test_parse_threshold():
    assert parse_threshold("default") == "default" and parse_threshold("AUTO") == "auto"
    assert parse_threshold("none") is None and parse_threshold(None) is None
    assert parse_threshold("0") == 0.0 and parse_threshold(1.25) == 1.25
    for bad in ("inf", "-inf", "nan", "many", float("nan"), True):
        with pytest.raises(UsageError):
            parse_threshold(bad)


def test_calibrated_threshold_from_the_model_dir(tmp_path, capsys):
    from mineshaft.encoders.digest import model_digest

    assert calibrated_threshold(tmp_path, 4, "ratio", "max") is None  # no card
    card = {"thresholds": [{"k": 4, "margin": "ratio", "mode": "max", "threshold": 1.31}]}
    (tmp_path / MINING_FILE).write_text(json.dumps(card))
    assert calibrated_threshold(tmp_path, 4, "ratio", "max") is None  # made on which weights? not used
    assert "no model_digest" in capsys.readouterr().err
    (tmp_path / MINING_FILE).write_text(json.dumps({**card, "model_digest": "0123456789abcdef"}))
    assert calibrated_threshold(tmp_path, 4, "ratio", "max") is None  # made on other weights
    assert "calibrated on other weights (model 01234567" in capsys.readouterr().err
    (tmp_path / MINING_FILE).write_text(json.dumps({**card, "model_digest": model_digest(tmp_path)}))
    assert calibrated_threshold(tmp_path, 4, "ratio", "max") == 1.31
    assert calibrated_threshold(tmp_path, 8, "ratio", "max") is None  # another k: not calibrated
    assert calibrated_threshold(tmp_path, 4, "distance", "max") is None
    scores = np.r_[np.full(50, 1.0), np.full(5, 1.5)]
    assert choose_threshold("default", scores, tmp_path, 4, "ratio", "max").source == "model"
    chosen = choose_threshold("default", scores, tmp_path, 4, "ratio", "intersect")
    assert chosen.source == "auto"
    assert choose_threshold(None, scores, tmp_path, 4, "ratio", "max").value is None
    assert choose_threshold("1.2", scores, tmp_path, 4, "ratio", "max").value == 1.2


def test_the_shipped_calibrated_model_carries_its_threshold_and_the_routed_default_goes_auto():
    from mineshaft.encoders.digest import model_digest

    model = model_dir_of("mineshaft-use-soft")
    card = json.loads((model / MINING_FILE).read_text())
    t = calibrated_threshold(model, 4, "ratio", "max")
    assert t is not None and 1.0 < t < 2.0
    assert card["model_digest"] == model_digest("mineshaft-use-soft")  # calibrated on the weights it ships with
    assert calibrated_threshold(model_dir_of("default"), 4, "ratio", "max") is None  # no mining.json: auto
    assert "dev" in card["chosen_on"] and "eval" not in card["chosen_on"].replace("no eval/ file", "")


def test_library_default_applies_the_models_threshold(tmp_path):
    from mineshaft.mining.mine import MineOptions, mine

    result = mine(SAMPLE / "sample.de", SAMPLE / "sample.en", tmp_path / "w", encoder_name="mineshaft-use-soft")
    choice = result.info["threshold"]
    (trans_mean, _), _ = result.info["threshold_fit"].fit.length_laws  # text on both sides: the length clue
    assert trans_mean > 0  # German is longer than its English: xx over English, not the other way round
    assert choice.source == "model" and choice.value == calibrated_threshold(model_dir_of("mineshaft-use-soft"), 4,
                                                                             "ratio", "max")
    assert len(result.pairs) < len(result.info["candidate_scores"]) and (result.pairs.score >= choice.value).all()
    everything = mine(SAMPLE / "sample.de", SAMPLE / "sample.en", tmp_path / "w", options=MineOptions(threshold=None),
                      encoder_name="mineshaft-use-soft")
    assert len(everything.pairs) == len(result.info["candidate_scores"])


@pytest.mark.slow
def test_cli_summary_line_names_the_threshold(tmp_path):
    de, en = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")
    r = run_cli("mine", de, en, "--out", str(tmp_path / "a.tsv"), "-e", "mineshaft-use-soft")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    n = len((tmp_path / "a.tsv").read_text().splitlines())
    t = calibrated_threshold(model_dir_of("mineshaft-use-soft"), 4, "ratio", "max")
    assert f"kept {n} of " in err and f"margin >= {t:.4g}, the model's calibrated threshold" in err
    assert "--threshold none keeps all" in err
    r = run_cli("mine", de, en, "--out", str(tmp_path / "b.tsv"), "--threshold", "none", "-e", "mineshaft-use-soft")
    assert r.returncode == 0 and "no threshold" in r.stderr.decode()
    assert len((tmp_path / "b.tsv").read_text().splitlines()) > n
    r = run_cli("mine", de, en, "--out", str(tmp_path / "c.tsv"), "--threshold", "auto", "--explain-threshold")
    assert r.returncode == 0, r.stderr
    assert "chosen by --threshold auto" in r.stderr.decode() and "<- threshold" in r.stderr.decode()
    assert "length clue: xx/English length ratio of translations" in r.stderr.decode()
    assert "number clue: where the sentence has digits, its candidate has the same numbers in" in r.stderr.decode()
    r = run_cli("mine", de, en, "--threshold", "lots", "-q")
    assert r.returncode == 2 and "--threshold" in r.stderr.decode()


def _f1(out, gold: set) -> float:
    return _f1_of([line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()], gold)


def _f1_of(rows: list[list[str]], gold: set, columns: tuple[int, int] = (1, 2)) -> float:
    tp = sum((r[columns[0]], r[columns[1]]) in gold for r in rows)
    return 2 * tp / (len(rows) + len(gold)) if rows or gold else 1.0


@pytest.mark.slow
def test_auto_on_fully_parallel_text_keeps_the_translations(shared_data, tmp_path):
    """300 line-aligned German-English FLORES sentences (every sentence has its translation): no runner-up mode
    to read a null from the best margins, the case the old auto wrote an empty file for. Through the CLI."""
    flores = shared_data / "eval" / "flores200"
    de = (flores / "deu_Latn.devtest").read_text(encoding="utf-8").splitlines()[:300]
    en = (flores / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()[:300]
    (tmp_path / "de.txt").write_text("\n".join(de) + "\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(en) + "\n", encoding="utf-8")
    r = run_cli("mine", str(tmp_path / "de.txt"), str(tmp_path / "en.txt"), "-e", "use", "--threshold", "auto",
                "-o", str(tmp_path / "pairs.tsv"), "--threads", "2")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert _f1(tmp_path / "pairs.tsv", set(zip(de, en))) >= 0.95
    assert "estimated precision" in err and "chosen by --threshold auto" in err


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["default", "use", "mineshaft-use-50"])
def test_no_option_mine_on_german_flores_against_every_other_english_line(encoder, shared_data, tmp_path):
    """The 1,012 German FLORES sentences against the 506 English ones of every other line, `mine` without options:
    F1 >= 90 with every shipped encoder, and the summary's estimated precision within 5 points of the measured."""
    import re

    flores = shared_data / "eval" / "flores200"
    de = (flores / "deu_Latn.devtest").read_text(encoding="utf-8").splitlines()
    en = (flores / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()[::2]
    (tmp_path / "de.txt").write_text("\n".join(de) + "\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(en) + "\n", encoding="utf-8")
    out = tmp_path / "pairs.tsv"
    r = run_cli("mine", str(tmp_path / "de.txt"), str(tmp_path / "en.txt"), "-e", encoder, "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    gold = {(de[2 * j], e) for j, e in enumerate(en)}
    assert _f1(out, gold) >= 0.9
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    measured = 100 * sum((r_[1], r_[2]) in gold for r_ in rows) / len(rows)
    estimated = float(re.search(r"estimated precision ([\d.]+)%", r.stderr.decode()).group(1))
    assert abs(estimated - measured) <= 5


@pytest.mark.slow
def test_repeated_sentences_do_not_empty_the_output(shared_data, tmp_path):
    """Text from the web repeats sentences. 200 German FLORES sentences against their English given twice: `mine`
    searches each distinct sentence once and pairs it under its first line; --keep-duplicates searches every
    line, and a copy of a translation is no decoy to auto (both wrote an empty file: a repeated sentence is its
    copy's runner-up at the same margin)."""
    flores = shared_data / "eval" / "flores200"
    de = (flores / "deu_Latn.devtest").read_text(encoding="utf-8").splitlines()[:200]
    en = (flores / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()[:200]
    (tmp_path / "de.txt").write_text("\n".join(de) + "\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(en + en) + "\n", encoding="utf-8")
    gold = set(zip(de, en))
    for extra in ([], ["--keep-duplicates"]):
        out = tmp_path / f"pairs{len(extra)}.tsv"
        r = run_cli("mine", str(tmp_path / "de.txt"), str(tmp_path / "en.txt"), "--ids", "-o", str(out), *extra)
        err = r.stderr.decode()
        assert r.returncode == 0, err
        rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
        assert _f1_of(rows, gold, (3, 4)) >= 0.95, (extra, err)
        if not extra:
            assert "200 duplicates" in err and all(int(row[2]) <= 200 for row in rows)  # first lines' ids


def test_auto_that_keeps_nothing_says_which_floor_would_keep_the_likeliest_pairs():
    """No cut reaches the floor: the note names the best-F1 pairs' estimated precision, and that floor keeps them."""
    import re
    from types import SimpleNamespace

    from mineshaft.mining.null_model import NullFit
    from mineshaft.mining.threshold import ThresholdFit, below_floor

    scores, posteriors = np.array([3.0, 2.0, 1.0, 0.0]), np.array([0.7, 0.6, 0.5, 0.1])
    null = SimpleNamespace(cut=NullFit.cut, best_f1_prefix=NullFit.best_f1_prefix, precision=NullFit.precision)
    fit = ThresholdFit(null, posteriors, np.zeros(4))
    assert auto_threshold(scores, fit, 0.8) == np.inf
    note = below_floor(scores, fit, 0.8)
    m = re.fullmatch(r"no cut reaches an estimated precision of 80%: the best (\d+) pairs are estimated at (\d+)%, "
                     r"which --min-precision (0\.\d\d) keeps \(look at a sample first: .*\)", note)
    assert m and m.group(1) == "3" and m.group(2) == "60", note
    assert (scores >= auto_threshold(scores, fit, float(m.group(3)))).sum() == 3
    choice = choose_threshold("auto", scores, None, 4, "ratio", "max", fit, 0.8)
    assert choice.note == note and "no margin high enough" in choice.describe()
    hopeless = ThresholdFit(null, np.array([0.004, 0.003, 0.002, 0.001]), np.zeros(4))  # random vectors' kind
    assert below_floor(scores, hopeless, 0.8) == "no pair reaches an estimated precision of 80%"  # not "0.00 keeps"


def test_an_empty_output_is_never_silent(tmp_path):
    """Through the CLI with -q: a threshold above every margin writes an empty file and says why on stderr."""
    sample = ROOT / "mineshaft" / "data"
    out = tmp_path / "pairs.tsv"
    res = run_cli("mine", str(sample / "sample.de"), str(sample / "sample.en"), "--threshold", "99", "-q",
                  "--threads", "1", "--out", str(out))
    err = res.stderr.decode()
    assert res.returncode == 0 and out.read_text() == "", err
    assert "warning: no pair written: the best margin is" in err and "under the threshold 99" in err


def test_mutual_cut_by_hand():
    from mineshaft.mining.null_model import Candidates, mutual_cut

    inf = np.inf
    # src 0 <-> tgt 1 and src 1 <-> tgt 0 are each other's best; (src 1, tgt 1) is src 1's runner-up, not mutual
    c = Candidates(np.array([[1.0, 2.0], [1.5, 0.5]], np.float32), np.array([[0, 1], [0, 1]]),
                   np.array([[1.2, 0.9], [2.0, 1.5]], np.float32), np.array([[1, 0], [0, 1]]))
    src, tgt, scores = np.array([0, 1, 1]), np.array([1, 0, 1]), np.array([2.0, 1.2, 0.5])
    assert mutual_cut(c, src, tgt, scores) == 1.2
    assert mutual_cut(c, src[2:], tgt[2:], scores[2:]) == inf
