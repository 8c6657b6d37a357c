"""Rule-based pair filters and the threshold histogram."""

from __future__ import annotations

import numpy as np
import pytest

from mineshaft.errors import UsageError
from mineshaft.mining.filters import PairFilter, numbers
from mineshaft.mining.report import threshold_histogram


def kept(rules, rows):
    return [r for r, k in zip(rows, rules.apply(rows)) if k]


def test_each_rule_and_its_count():
    rows = [
        ("Das Haus kostet 300 Euro.", "The house costs 300 euros.", 1.5),
        ("Das Haus kostet 300 Euro.", "The house costs 400 euros.", 1.4),
        ("OK", "OK", 1.3),
        ("Ein sehr langer Satz mit vielen Wörtern darin.", "Short.", 1.3),
        ("Copyright 2024 All rights reserved", "Copyright 2024 All rights reserved", 3.5),
        ("Das haus kostet 300 Euro!", "The House costs 300 euros", 1.2),
    ]
    rules = PairFilter(number_mismatch=True, drop_identical=True, max_length_ratio=3, max_score=3.0, near_duplicates=True)
    assert kept(rules, rows) == [rows[0]]
    assert rules.removed == {"number-mismatch": 1, "identical": 1, "length-ratio": 1, "max-score": 1, "near-duplicate": 1}


def test_length_bounds():
    rules = PairFilter(min_chars=3, max_chars=10)
    rows = [("abc", "defg", 1.0), ("ab", "defg", 1.0), ("abcdefghijk", "x" * 5, 1.0)]
    assert kept(rules, rows) == rows[:1]


def test_numbers_normalize_full_width_digits():
    assert numbers("価格は３００円") == numbers("costs 300 yen")


def test_language_id_filter():
    pytest.importorskip("py3langid")
    rules = PairFilter(src_lang="de", tgt_lang="en")
    rows = [("Das ist ein schönes Haus am See.", "This is a nice house by the lake.", 1.0),
            ("This is a nice house by the lake.", "This is a nice house by the lake.", 1.0)]
    assert kept(rules, rows) == rows[:1]


@pytest.mark.parametrize("kw", [dict(min_chars=-1), dict(max_chars=0), dict(min_chars=5, max_chars=2), dict(max_length_ratio=0.5)])
def test_absurd_options(kw):
    with pytest.raises(UsageError):
        PairFilter(**kw)


def test_histogram_counts():
    scores = np.array([1.0, 1.1, 1.2, 1.3, 1.4])
    text = threshold_histogram(scores, 1.25, bins=4)
    assert "threshold 1.25 keeps 2" in text and "5 candidate pairs" in text
    assert threshold_histogram(np.array([])) == "no candidate pairs"
