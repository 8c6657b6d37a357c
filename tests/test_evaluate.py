"""evaluate.py: the F1-optimal threshold, the BUCC 2-fold protocol and Spearman, against references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft import evaluate as ev
from mineshaft import metrics


def brute_best_f1(scores: np.ndarray, correct: np.ndarray, n_gold: int) -> float:
    """The best F1 over every threshold 'keep score >= t' (t at each distinct score)."""
    best = 0.0
    for t in np.unique(scores):
        keep = scores >= t
        tp = int(correct[keep].sum())
        p, r = tp / keep.sum(), tp / n_gold
        best = max(best, 2 * p * r / (p + r) if p + r else 0.0)
    return best


# scores on a coarse grid so that ties are frequent
cases = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 6), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n),
    st.integers(0, 10),
))


@settings(max_examples=300, deadline=None)
@given(cases)
def test_best_threshold_matches_brute_force_with_ties(case):
    raw, flags, extra_gold = case
    scores = np.array(raw, dtype=np.float32) / 4
    correct = np.array(flags, dtype=bool)
    n_gold = int(correct.sum()) + extra_gold  # gold pairs the candidates missed count against recall
    got = ev.best_threshold(scores, correct, n_gold)
    if n_gold == 0:
        assert got.f1 == 0.0
        return
    want = brute_best_f1(scores, correct, n_gold)
    assert got.f1 == pytest.approx(want, abs=1e-12)
    # the threshold it names gives exactly that F1, P and R (keeping every tie of the cut)
    at = ev.f1_at(scores, correct, n_gold, got.threshold)
    assert (at.f1, at.precision, at.recall) == pytest.approx((got.f1, got.precision, got.recall), abs=1e-12)


def test_best_threshold_never_splits_a_tie():
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    correct = np.array([True, True, False, False, False])
    # cutting inside the tie of 2.0 (keeping only the correct one) is impossible: t=3 gives 2/3, t=2 gives 0.5
    got = ev.best_threshold(scores, correct, 2)
    assert got.threshold == 3.0 and got.f1 == pytest.approx(2 / 3)


def test_two_fold_applies_the_other_halfs_threshold():
    # half 0: true pairs score >= 5, false ones <= 4  -> best threshold 5
    # half 1: true pairs score >= 2, false ones <= 1  -> best threshold 2
    s0, c0 = np.array([6, 5, 4, 3]), np.array([True, True, False, False])
    s1, c1 = np.array([3, 2, 1, 0]), np.array([True, True, False, False])
    scores = np.r_[s0, s1].astype(float)
    correct = np.r_[c0, c1]
    half = np.r_[np.zeros(4), np.ones(4)].astype(np.int8)
    gold_half = np.array([0, 0, 1, 1], dtype=np.int8)
    folds = ev.two_fold(scores, correct, half, gold_half)
    # evaluated on half 0 at half 1's threshold (2): keeps all 4 of half 0 -> P 0.5, R 1
    assert folds[0].threshold == 2.0 and folds[0].f1 == pytest.approx(2 / 3)
    # evaluated on half 1 at half 0's threshold (5): keeps nothing of half 1
    assert folds[1].threshold == 5.0 and folds[1].f1 == 0.0
    # tuned on the evaluated half itself, both folds would be perfect: the protocol must not report that
    assert np.mean([f.f1 for f in folds]) < 0.5


class TableEncoder:
    """A fake encoder: each text's vector is looked up in a table."""

    name, dim = "table", 8

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table

    def encode(self, texts, batch_size=64, dtype=np.float32, progress=None):
        if progress:
            progress(len(texts))
        return np.stack([self.table[t] for t in texts]).astype(dtype)


def test_bucc_eval_reports_thresholds_tuned_on_the_other_half(tmp_path):
    rng = np.random.default_rng(0)
    n_src, n_tgt, dim = 60, 70, 8
    x = rng.normal(size=(n_src, dim))
    y = rng.normal(size=(n_tgt, dim))
    gold_rows = list(range(30))
    for i in gold_rows:  # translations at increasing noise: margins spread over a range
        y[i] = x[i] + rng.normal(size=dim) * (0.1 + 0.05 * i)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    src_ids = [f"xx-{i:06d}" for i in range(n_src)]
    tgt_ids = [f"en-{i:06d}" for i in range(n_tgt)]
    table = {f"s{i}": x[i] for i in range(n_src)} | {f"t{i}": y[i] for i in range(n_tgt)}
    (tmp_path / "xx-en.xx").write_text("".join(f"{a}\ts{i}\n" for i, a in enumerate(src_ids)))
    (tmp_path / "xx-en.en").write_text("".join(f"{a}\tt{i}\n" for i, a in enumerate(tgt_ids)))
    (tmp_path / "xx-en.gold").write_text("".join(f"{src_ids[i]}\t{tgt_ids[i]}\n" for i in gold_rows))
    res = ev.bucc_eval(tmp_path / "xx-en", TableEncoder(table), k=3)

    from mineshaft.mining.mine import mine_embeddings

    pairs = mine_embeddings(x.astype(np.float32), y.astype(np.float32), k=3, threshold=None)
    correct = np.array([s == t and s in gold_rows for s, t in zip(pairs.src.tolist(), pairs.tgt.tolist())])
    half = np.array([ev._half(src_ids[s]) for s in pairs.src.tolist()])
    gold_half = np.array([ev._half(src_ids[i]) for i in gold_rows])
    expect = []
    for test in (0, 1):
        tune = 1 - test
        t = ev.best_threshold(pairs.score[half == tune], correct[half == tune], int((gold_half == tune).sum()))
        expect.append(ev.f1_at(pairs.score[half == test], correct[half == test], int((gold_half == test).sum()),
                               t.threshold))
    assert res["f1"] == pytest.approx(np.mean([f.f1 for f in expect]))
    assert sorted(res["thresholds"]) == pytest.approx(sorted(f.threshold for f in expect))
    oracle = ev.best_threshold(pairs.score, correct, len(gold_rows))
    assert res["oracle"]["f1"] == pytest.approx(oracle.f1)
    assert res["f1"] <= res["oracle"]["f1"] + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.integers(3, 30).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n), st.lists(st.integers(0, 4), min_size=n, max_size=n))))
def test_spearman_with_ties_matches_scipy(case):
    stats = pytest.importorskip("scipy.stats")
    a, b = (np.array(v, dtype=float) for v in case)
    np.testing.assert_allclose(metrics.rankdata(a), stats.rankdata(a))
    want = stats.spearmanr(a, b).statistic
    got = metrics.spearman(a, b)
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(want, abs=1e-12)


def loop_bootstrap(groups, n_boot, seed, stat):
    """The obvious reference: per replicate, per group, resample with the same draws and average."""
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(g), (n_boot, len(g))) for g in groups]
    return np.array([np.mean([stat(np.asarray(g, float)[d[b]]) for g, d in zip(groups, draws)])
                     for b in range(n_boot)])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=30), min_size=1, max_size=4), st.integers(0, 99))
def test_bootstrap_means_match_a_loop(groups, seed):
    from mineshaft.metrics import bootstrap_means

    got = bootstrap_means(groups, n_boot=50, seed=seed)
    np.testing.assert_allclose(got, loop_bootstrap(groups, 50, seed, np.mean))
    pairs = [np.stack([np.arange(len(g), dtype=float), np.asarray(g, float)], 1) for g in groups]
    got = bootstrap_means(pairs, n_boot=20, seed=seed, stat=metrics.spearman_replicates)
    want = loop_bootstrap(pairs, 20, seed, lambda s: 100 * metrics.spearman(s[:, 0], s[:, 1]))
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_bootstrap_interval_of_an_accuracy_is_the_binomial_one():
    from mineshaft.metrics import bootstrap_means, interval

    hits = np.r_[np.ones(800), np.zeros(200)]  # 80% of 1000 sentences: ±1.96·sqrt(.8·.2/1000) = ±2.5 points
    lo, hi = interval(bootstrap_means([hits], n_boot=4000))
    assert lo == pytest.approx(0.775, abs=0.004) and hi == pytest.approx(0.825, abs=0.004)
    # the same sentences resampled for two systems: a system minus itself is exactly 0 in every replicate
    a, b = bootstrap_means([hits, hits[::-1]], seed=3), bootstrap_means([hits, hits[::-1]], seed=3)
    assert np.array_equal(a, b)


# ----------------------------------------------------------------------------- `mineshaft eval`: bad input
def _write_sets(root):
    """A tiny valid set of each kind under ``root``: BUCC-style, Tatoeba, FLORES-200 and STS-b files."""
    (root / "de-en.de").write_text("de-1\tHallo\nde-2\tWelt\n")
    (root / "de-en.en").write_text("en-1\tHello\nen-2\tWorld\n")
    (root / "de-en.gold").write_text("de-1\ten-1\nde-2\ten-2\n")
    (root / "tatoeba.deu-eng.deu").write_text("Hallo\nWelt\n")
    (root / "tatoeba.deu-eng.eng").write_text("Hello\nWorld\n")
    (root / "deu_Latn.devtest").write_text("Hallo\nWelt\n")
    (root / "eng_Latn.devtest").write_text("Hello\nWorld\n")
    (root / "stsb-de-test.csv").write_text("Ein Hund.,Eine Katze.,1.0\nEin Mann.,Ein Mann.,5.0\nEin Auto.,Ein Wagen.,4.0\n")
    (root / "stsb-en-test.csv").write_text("A dog.,A cat.,1.0\nA man.,A man.,5.0\nA car.,A vehicle.,4.0\n")


def _refused(*args: str) -> str:
    """Run `mineshaft eval ARGS`; it must refuse the input with one line and exit 2 before any encoder loads."""
    from conftest import run_cli

    r = run_cli("eval", *args)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "Traceback" not in err and "Error:" not in err, err  # no raw exception name
    assert "encoder:" not in err, err  # refused before the encoder loaded
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mineshaft: error: "), err
    return lines[0]


def test_eval_sts_plain_text_says_what_the_sts_file_must_be(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "de.txt").write_text("Ein Mädchen frisiert ihr Haar.\nEine Frau misst den Knöchel.\n")
    msg = _refused("--sts", "de.txt")
    assert "--sts de.txt" in msg and "stsb-de-test.csv" in msg and "sentence1,sentence2,score" in msg


def test_eval_sts_names_the_full_path_of_the_english_file_it_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sts-de.csv").write_text("Ein Hund.,Eine Katze.,1.0\n")
    msg = _refused("--sts", "sts-de.csv")
    assert f"no such file {tmp_path / 'sts-en.csv'};" in msg and "stsb-en-test.csv" in msg
    msg = _refused("--sts", "stsb-fr-test.csv")  # the given file itself is missing
    assert f"no such file {tmp_path / 'stsb-fr-test.csv'};" in msg


def test_eval_flores_names_the_full_path_of_the_english_file_it_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "de.txt").write_text("Hallo\n")
    msg = _refused("--flores", "de.txt")
    assert f"no such file {tmp_path / 'eng_Latn.devtest'};" in msg and "--flores takes a FLORES-200 file" in msg


def test_eval_missing_tatoeba_prefix_is_refused_before_the_encoder_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = _refused("--tatoeba", "nope/tatoeba.xxx-eng")
    assert f"no such file {tmp_path / 'nope' / 'tatoeba.xxx-eng.xxx'};" in msg and "PREFIX.eng" in msg


def test_eval_checks_every_input_before_reading_any(tmp_path):
    _write_sets(tmp_path)
    # the first sets are fine: the missing English file of the last one is still reported before any encoding
    (tmp_path / "stsb-en-test.csv").unlink()
    msg = _refused("--bucc", str(tmp_path / "de-en"), "--tatoeba", str(tmp_path / "tatoeba.deu-eng"),
                   "--flores", str(tmp_path / "deu_Latn.devtest"), "--sts", str(tmp_path / "stsb-de-test.csv"))
    assert f"no such file {tmp_path / 'stsb-en-test.csv'}" in msg


def _empty(path):
    path.write_text("")


def _directory(path):
    path.unlink()
    path.mkdir()


def _bad_utf8(path):
    path.write_bytes(path.read_bytes() + b"caf\xe9\tx\n")


def _write(text):
    return lambda path: path.write_text(text)


BUCC, TATOEBA = ("bucc", "de-en"), ("tatoeba", "tatoeba.deu-eng")
FLORES, STS = ("flores", "deu_Latn.devtest"), ("sts", "stsb-de-test.csv")
GOLD_LINE = "de-en.gold:1: expected 'src-id<TAB>en-id' (2 tab-separated columns), found"
BAD_INPUTS = [  # option and value (under tmp_path), the file spoiled and how, what the message must say
    pytest.param(*BUCC, "de-en.gold", _empty, "de-en.gold: empty input", id="bucc-empty-gold"),
    pytest.param(*BUCC, "de-en.en", _directory, "de-en.en is a directory, expected a file", id="bucc-en-directory"),
    pytest.param(*BUCC, "de-en.gold", _write("de-1\ten-1\tx\n"), f"{GOLD_LINE} 3 columns", id="bucc-gold-3-columns"),
    pytest.param(*BUCC, "de-en.gold", _write("de-1 en-1\n"), f"{GOLD_LINE} 1 column", id="bucc-gold-1-column"),
    pytest.param(*BUCC, "de-en.gold", _write("de-1\ten-7\n"), "de-en.gold:1: id 'en-7' is not an id of",
                 id="bucc-gold-unknown-id"),
    pytest.param(*BUCC, "de-en.de", _write("de-1 Hallo\n"), "de-en.de:1: expected 'ID<TAB>sentence' (the BUCC layout)",
                 id="bucc-de-no-tab"),
    pytest.param(*BUCC, "de-en.de", _bad_utf8, "de-en.de:3: invalid UTF-8", id="bucc-de-bad-utf8"),
    pytest.param(*TATOEBA, "tatoeba.deu-eng.eng", _empty, "tatoeba.deu-eng.eng: empty input", id="tatoeba-empty-eng"),
    pytest.param(*TATOEBA, "tatoeba.deu-eng.deu", _directory, "tatoeba.deu-eng.deu is a directory",
                 id="tatoeba-deu-directory"),
    pytest.param(*TATOEBA, "tatoeba.deu-eng.deu", _bad_utf8, "tatoeba.deu-eng.deu:3: invalid UTF-8",
                 id="tatoeba-deu-bad-utf8"),
    pytest.param(*TATOEBA, "tatoeba.deu-eng.eng", _write("Hello\n"), "must be line-aligned, but have 2 and 1 lines",
                 id="tatoeba-not-aligned"),
    pytest.param(*FLORES, "deu_Latn.devtest", _empty, "deu_Latn.devtest: empty input", id="flores-empty"),
    pytest.param(*FLORES, "eng_Latn.devtest", _directory, "eng_Latn.devtest is a directory, expected a file",
                 id="flores-english-directory"),
    pytest.param(*FLORES, "eng_Latn.devtest", _bad_utf8, "eng_Latn.devtest:3: invalid UTF-8",
                 id="flores-english-bad-utf8"),
    pytest.param(*STS, "stsb-de-test.csv", _empty, "stsb-de-test.csv: empty input", id="sts-empty"),
    pytest.param(*STS, "stsb-en-test.csv", _directory, "stsb-en-test.csv is a directory, expected a file",
                 id="sts-english-directory"),
    pytest.param(*STS, "stsb-de-test.csv", _bad_utf8, "stsb-de-test.csv:4: invalid UTF-8", id="sts-bad-utf8"),
    pytest.param(*STS, "stsb-de-test.csv", _write("sentence1,sentence2,score\n"),
                 "score 'score' is not a number (rows are sentence1,sentence2,score, with no header)", id="sts-header"),
    pytest.param(*STS, "stsb-de-test.csv", _write("Hallo Welt\n"),
                 "stsb-de-test.csv:1: expected 3 CSV columns (sentence1,sentence2,score), found 1",
                 id="sts-plain-text"),
    pytest.param(*STS, "stsb-en-test.csv", _write("A dog.,A cat.,1.0\n"),
                 "are not row-aligned translations of each other (3 and 1 rows)", id="sts-not-aligned"),
    pytest.param(*STS, "stsb-de-test.csv", _write("Ein Hund.,Eine Katze.,7.5\n"),
                 "stsb-de-test.csv:1: score '7.5' is outside STS-b's 0 to 5", id="sts-score-out-of-range"),
    pytest.param(*STS, "stsb-de-test.csv", _write("Ein Hund.,Eine Katze.,nan\n"),
                 "stsb-de-test.csv:1: score 'nan' is outside STS-b's 0 to 5", id="sts-score-nan"),
    pytest.param(*TATOEBA, "tatoeba.deu-eng.deu", _write("Hallo\n\n"), "tatoeba.deu-eng.deu:2: blank line",
                 id="tatoeba-blank-line"),
]


@pytest.mark.parametrize("option, value, spoiled, spoil, expect", BAD_INPUTS)
def test_eval_refuses_bad_input_with_one_line(tmp_path, option, value, spoiled, spoil, expect):
    _write_sets(tmp_path)
    spoil(tmp_path / spoiled)
    msg = _refused(f"--{option}", str(tmp_path / value))
    assert expect in msg
    assert "--errors" not in msg  # eval has no --errors option to suggest


@pytest.mark.parametrize("option, value", [("bucc", "de-en.de"), ("tatoeba", "tatoeba.deu-eng.deu")])
def test_eval_prefix_given_as_a_file_suggests_the_prefix(tmp_path, option, value):
    _write_sets(tmp_path)
    msg = _refused(f"--{option}", str(tmp_path / value))
    assert f"is a file, not a prefix (did you mean --{option} {tmp_path / value.rsplit('.', 1)[0]}?)" in msg
    msg = _refused(f"--{option}", str(tmp_path))
    assert "is a directory, not a prefix" in msg and f"--{option} takes" in msg


def test_eval_json_output_may_not_replace_an_input(tmp_path):
    _write_sets(tmp_path)
    flores = str(tmp_path / "deu_Latn.devtest")
    msg = _refused("--flores", flores, "--json", str(tmp_path / "eng_Latn.devtest"), "--force")
    assert "is the input" in msg


def test_sts_english_file_name():
    from pathlib import Path

    from mineshaft.errors import InputError

    assert ev.sts_english("eval/stsb/stsb-de-test.csv") == Path("eval/stsb/stsb-en-test.csv")
    assert ev.sts_english("x/sts-de.csv") == Path("x/sts-en.csv")
    assert ev.sts_english("x/tests-es-dev.csv") == Path("x/tests-en-dev.csv")  # only the language part changes
    with pytest.raises(InputError, match="stsb-XX-test.csv"):
        ev.sts_english("x/de.txt")


def test_json_results_are_strict_json_and_go_to_a_file(tmp_path):
    """A figure that is not finite (an auto threshold that keeps nothing is inf) is null, so that any JSON parser
    reads the file; `--json -` and an empty name are refused (stdout carries the table)."""
    import json

    got = ev._finite({"auto": {"threshold": float("inf"), "f1": 0.0}, "ci": [np.float64("nan"), 1.5], "n": 3})
    assert got == {"auto": {"threshold": None, "f1": 0.0}, "ci": [None, 1.5], "n": 3}
    json.dumps(got, allow_nan=False)
    _write_sets(tmp_path)
    for bad in ("-", ""):
        msg = _refused("--tatoeba", str(tmp_path / "tatoeba.deu-eng"), "--json", bad)
        assert "give a file to write the results to" in msg, msg


def test_bucc_gold_in_one_half_only_is_refused(tmp_path):
    """The two-fold protocol tunes on one half's gold and scores the other: with all gold in one half it printed
    F1 0 and an infinite threshold."""
    _write_sets(tmp_path)
    (tmp_path / "de-en.gold").write_text("de-1\ten-1\n")  # one pair: one half
    with pytest.raises(ev.InputError, match="all in one half of the source ids"):
        ev.read_bucc(tmp_path / "de-en", "de")


def test_bucc_ids_must_be_unique(tmp_path):
    _write_sets(tmp_path)
    (tmp_path / "de-en.de").write_text("de-1\tHallo\nde-1\tWelt\n")
    with pytest.raises(ev.InputError, match="id 'de-1' names more than one sentence"):
        ev.read_bucc(tmp_path / "de-en", "de")
