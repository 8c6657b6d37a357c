"""The library's in-memory functions refuse misuse with one clear exception."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import unit
from mineshaft import MineOptions, mine_embeddings, pair_scores, retrieval_accuracy
from mineshaft.errors import UsageError
from mineshaft.vectors import check_vectors

RNG = np.random.default_rng(0)
X, Y = unit(RNG, 12, 8), unit(RNG, 10, 8)


@pytest.mark.parametrize("x,y,error,message", [
    (X[0], Y, ValueError, "x: expected a 2-D array"),
    (X, unit(RNG, 10, 6), ValueError, "y: vectors of dimension 6, the other side's have 8"),
    (X[:0], Y, ValueError, "x: no sentence vectors"),
    (np.array([["a"] * 8]), Y, TypeError, "expected numbers"),
    ("text", Y, TypeError, "got str"),
])
def test_mine_embeddings_refuses_what_is_no_pair_of_vector_matrices(x, y, error, message):
    with pytest.raises(error, match=message):
        mine_embeddings(x, y, threshold=None)


def test_rows_that_are_not_unit_vectors_are_mined_with_a_warning(capsys):
    assert len(mine_embeddings(X * 3, Y, threshold=None).src) > 0
    assert "x: 12 of 12 rows are not unit vectors (norms 3 to 3)" in capsys.readouterr().err


def test_zero_rows_and_lists_are_vectors_all_the_same():
    x = X.copy()
    x[3] = 0  # an empty sentence
    assert check_vectors(x.tolist(), "x").shape == (12, 8)
    assert len(mine_embeddings(x, Y, threshold=None).src) > 0


def test_retrieval_pair_scores_and_options_refuse_misuse():
    with pytest.raises(ValueError, match="line-aligned, but have 12 and 10 rows"):
        retrieval_accuracy(X, Y)
    with pytest.raises(ValueError, match="tgt_rows must index the 10 rows"):
        pair_scores(X, Y, np.array([0, 1]), np.array([0, 10]))
    with pytest.raises(ValueError, match="of one length"):
        pair_scores(X, Y, np.array([0, 1]), np.array([0]))
    with pytest.raises(UsageError, match="--k must be between"):
        MineOptions(k=0)
    with pytest.raises(UsageError, match="unknown --mode"):
        MineOptions(mode="bogus")
    from mineshaft.encoders.base import Encoder

    with pytest.raises(TypeError, match="not one string"):
        Encoder.encode(None, "Guten Morgen")  # refused before the encoder is used
    with pytest.raises(TypeError, match="item 1 is NoneType"):
        Encoder.encode(None, ["Guten Morgen", None])
