"""Every search backend against exact brute force; approximate ones by recall."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft.errors import UsageError
from mineshaft.mining.search import Searcher, auto_index, knn
from conftest import unit




@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return unit(rng, 300, 16), unit(rng, 5000, 16)


def exact(q, db, k):
    """Brute force in float64: best first, equal similarities by smaller id; zero rows never match."""
    s = q.astype(np.float64) @ db.T.astype(np.float64)
    ids = np.broadcast_to(np.arange(len(db)), s.shape)
    s = np.where(db.any(axis=1)[None, :] & q.any(axis=1)[:, None], s, -np.inf)
    i = np.lexsort((ids, -s), axis=-1)[:, :k]
    d = np.take_along_axis(s, i, 1)
    return d, np.where(np.isneginf(d), -1, i)


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
    want_d, want_i = exact(q, db.astype(np.float16).astype(np.float32), 3)
    np.testing.assert_allclose(d, want_d, atol=1e-5)
    np.testing.assert_array_equal(i, want_i)


def test_ivf_recall(data):
    q, db = data
    _, want = exact(q, db, 1)
    d, got = knn(q, db, 5, index="IVF32,Flat", nprobe=32)
    want_d, want_i = exact(q, db, 5)
    np.testing.assert_array_equal(got, want_i)  # visiting every list is exact
    np.testing.assert_allclose(d, want_d, atol=1e-5)
    _, got = knn(q, db, 1, index="IVF32,Flat", nprobe=32)
    _, got = knn(q, db, 1, index="IVF32,Flat", nprobe=4)
    assert (got[:, 0] == want[:, 0]).mean() > 0.5


def int_vectors(rng, n, d, zero_rows=0):
    """Small integers over a power of two: exact dot products in any summation order, many exact ties."""
    x = rng.integers(-2, 3, (n, d)).astype(np.float32) / 8
    x[rng.choice(n, size=min(zero_rows, n), replace=False)] = 0
    return x


BACKENDS = [("flat", None), ("flat", 5), ("torch", None), ("torch", 5)]  # (index, rows a block)


def search(q, blocks, k, index, block_rows):
    s = Searcher(blocks, index=index)
    if block_rows:
        s.block_rows = block_rows  # tiny blocks: the merge of partial results decides the ties
    return s.search(q, k)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), d=st.integers(1, 6), k=st.integers(1, 45),
       zeros=st.integers(0, 3), seed=st.integers(0, 2**31))
def test_ids_match_brute_force_with_ties(n, m, d, k, zeros, seed):
    rng = np.random.default_rng(seed)
    q, db = int_vectors(rng, n, d, zeros), int_vectors(rng, m, d, zeros)
    want_d, want_i = exact(q, db, min(k, m))
    cut = max(1, m // 3)
    for index, rows in BACKENDS:
        got_d, got_i = search(q, [db[:cut], db[cut:]] if cut < m else [db], k, index, rows)
        np.testing.assert_array_equal(got_i, want_i, err_msg=f"{index} {rows}")
        np.testing.assert_array_equal(got_d, want_d.astype(np.float32), err_msg=f"{index} {rows}")


def test_duplicates_cut_at_the_kth_place_keep_the_smallest_ids():
    rng = np.random.default_rng(1)
    base = unit(rng, 20, 8)
    db = np.concatenate([base] * 6)  # row r has copies r, r+20, ..., r+100
    for index, rows in BACKENDS + [("IVF2,Flat", None)]:
        if index.startswith("IVF"):
            s = Searcher([db], index=index, nprobe=2)
            got = s.search(base[:3], 4)[1]
        else:
            got = search(base[:3], [db[:37], db[37:]], 4, index, rows)[1]
        assert got.tolist() == [[r, r + 20, r + 40, r + 60] for r in range(3)], index


def test_missing_neighbours_are_minus_one_and_minus_inf():
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((8, 16))
    db = centres[rng.integers(0, 8, 2000)] + 0.05 * rng.standard_normal((2000, 16))
    db = (db / np.linalg.norm(db, axis=1, keepdims=True)).astype(np.float32)
    d, i = knn(db[:100], db, 600, index="IVF16,Flat", nprobe=1)
    assert (i < 0).any()
    assert np.all(np.isneginf(d[i < 0])) and np.all(np.isfinite(d[i >= 0]))
    assert np.all(np.diff((i < 0).astype(int), axis=1) >= 0)  # found ones first


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
    assert auto_index(10_000, 512) == "half"  # exact (half-precision products, fp32 re-scoring)
    assert auto_index(10_000_000, 384).endswith(",SQ8") and "IVF" in auto_index(10_000_000, 384)
    assert auto_index(100_000_000, 384).startswith("OPQ") and "IVF" in auto_index(100_000_000, 384)
