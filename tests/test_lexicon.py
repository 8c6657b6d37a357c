"""Lexicon rows: IBM Model 1 counts against a straightforward reference, planted translations recovered,
rows as the translation-weighted mean of English rows, and how far each row moves."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from mineshaft.training.lexicon import alignment_counts, moved_rows, translation_rows


def reference_ibm1(other, english, iterations):
    """IBM Model 1 as written in textbooks: dictionaries and loops; NULL is None."""
    t = defaultdict(lambda: 1.0)  # t(f | e), uniform start
    for _ in range(iterations):
        count = defaultdict(float)
        for fs, es in zip(other, english):
            cands = list(es) + [None]
            for f in fs:
                z = sum(t[(f, e)] for e in cands)
                for e in cands:
                    count[(f, e)] += t[(f, e)] / z
        per_e = defaultdict(float)
        for (f, e), c in count.items():
            per_e[e] += c
        t = defaultdict(float, {(f, e): c / per_e[e] for (f, e), c in count.items()})
    return {k: v for k, v in count.items() if k[1] is not None}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alignment_counts_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    other = [list(rng.integers(0, 12, rng.integers(0, 6))) for _ in range(40)]
    english = [list(rng.integers(0, 12, rng.integers(1, 6))) for _ in range(40)]
    lex = alignment_counts(other, english, 12, iterations=4)
    want = reference_ibm1(other, english, 4)
    got = {(int(f), int(e)): c for f, e, c in zip(lex.f, lex.e, lex.count)}
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9)
    assert lex.occurrences.tolist() == np.bincount(np.concatenate([np.array(o, int) for o in other]),
                                                   minlength=12).tolist()


def test_planted_translations_are_recovered():
    """Sentences of random 'English' words (ids 0..49) and their word-by-word translations (id + 50, shuffled):
    every foreign word's likeliest English word is its translation."""
    rng = np.random.default_rng(0)
    english, other = [], []
    for _ in range(2000):
        e = rng.choice(50, rng.integers(2, 8), replace=False)
        english.append(list(e))
        other.append(list(rng.permutation(e + 50)))
    lex = alignment_counts(other, english, 100)
    best = {}
    for f, e, c in zip(lex.f, lex.e, lex.count):
        if c > best.get(f, (-1, 0))[1]:
            best[f] = (e, c)
    assert {int(f): int(e) for f, (e, _) in best.items()} == {f: f - 50 for f in range(50, 100)}


def test_translation_rows_are_weighted_means_of_english_rows():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(6, 4))
    lex = alignment_counts([[4], [4], [5]], [[0], [1], [2]], 6, iterations=1)
    ids, rows = translation_rows(lex, table)
    assert ids.tolist() == [4, 5]
    np.testing.assert_allclose(rows[1], table[2])  # one translation: its row
    mean = (table[0] + table[1]) / 2  # two, equally likely: their mean, at their mean norm
    norm = (np.linalg.norm(table[0]) + np.linalg.norm(table[1])) / 2
    np.testing.assert_allclose(rows[0], mean / np.linalg.norm(mean) * norm)


def test_rows_move_by_how_much_the_new_languages_use_them():
    table = np.zeros((6, 2))
    rows = np.ones((3, 2))
    ids = np.array([1, 2, 5])  # two old rows, one new (first new id 4)
    occurrences = np.array([0, 3, 1, 0, 0, 9])
    other_uses = np.array([0, 1, 0, 0, 0, 0])
    out = moved_rows(table, ids, rows, occurrences, other_uses, first_new_id=4, share_power=1)
    np.testing.assert_allclose(out[:, 0], [3 / 4 * 3 / 4, 1 / 2 * 1, 9 / 10])
    out = moved_rows(table, ids, rows, occurrences, other_uses, first_new_id=4)  # the default squares the share
    np.testing.assert_allclose(out[:, 0], [3 / 4 * (3 / 4) ** 2, 1 / 2 * 1, 9 / 10])
