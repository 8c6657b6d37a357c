"""Every search backend against exact brute force; approximate ones by recall."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mineshaft.errors import UsageError
from mineshaft.search import Searcher, auto_index, knn


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return unit(rng, 300, 16), unit(rng, 5000, 16)


def exact(q, db, k):
    s = q @ db.T
    i = np.argsort(-s, axis=1)[:, :k]
    return np.take_along_axis(s, i, 1), i


@pytest.mark.parametrize("index,memory", [("flat", 2 << 30), ("flat", 200_000), ("torch", 2 << 30), ("torch", 200_000)])
def test_exact_backends_match_brute_force(data, index, memory):
    q, db = data
    blocks = [db[:1234], db[1234:4000], db[4000:]]  # uneven shards, as from a store
    d, i = knn(q, blocks, 5, index=index, memory=memory, block_size=77)
    want_d, want_i = exact(q, db, 5)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(d, want_d, atol=1e-5)


def test_fp16_shards_are_searched_as_float32(data):
    q, db = data
    d, i = knn(q, [db.astype(np.float16)], 3)
    want_d, _ = exact(q, db.astype(np.float16).astype(np.float32), 3)
    np.testing.assert_allclose(d, want_d, atol=1e-5)


def test_ivf_recall(data):
    q, db = data
    _, want = exact(q, db, 1)
    _, got = knn(q, db, 1, index="IVF32,Flat", nprobe=32)
    assert (got[:, 0] == want[:, 0]).mean() == 1.0  # visiting every list is exact
    _, got = knn(q, db, 1, index="IVF32,Flat", nprobe=4)
    assert (got[:, 0] == want[:, 0]).mean() > 0.5


def test_k_larger_than_database_and_bad_options(data):
    q, db = data
    d, i = knn(q, db[:3], 10)
    assert i.shape == (300, 3)
    with pytest.raises(UsageError, match="factory"):
        knn(q, db, 1, index="NotAnIndex")
    with pytest.raises(UsageError, match="needs at least"):
        knn(q, db[:100], 1, index="IVF1024,Flat")
    with pytest.raises(UsageError, match="dimension"):
        knn(q[:, :8], db, 1)


def test_searcher_pickles_without_its_database_when_indexed(data):
    q, db = data
    s = Searcher([db]).build()
    clone = pickle.loads(pickle.dumps(s))
    assert clone.blocks == []
    np.testing.assert_array_equal(clone.search(q, 2)[1], s.search(q, 2)[1])


def test_auto_index():
    assert auto_index(10_000, 512) == "flat"
    assert auto_index(10_000_000, 384).endswith(",SQ8") and "IVF" in auto_index(10_000_000, 384)
    assert auto_index(100_000_000, 384).startswith("OPQ") and "IVF" in auto_index(100_000_000, 384)
