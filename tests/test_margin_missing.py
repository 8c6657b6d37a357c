"""Honest margins: missing neighbours, empty (zero) rows and ties never change a result silently."""

from __future__ import annotations

import numpy as np
import pytest

from mineshaft.mining.margin import margin, select_pairs
from mineshaft.mining.mine import mine_embeddings
from mineshaft.mining.score import pair_scores
from mineshaft.mining.search import knn

MODES = ("forward", "backward", "intersect", "max")


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def clustered():
    """40 tight clusters: an IVF index probing one list finds fewer than k=64 neighbours for many queries."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 16))
    y = unit(centres[rng.integers(0, 40, 2000)] + 0.1 * rng.standard_normal((2000, 16)))
    x = unit(y[:1500] + 0.05 * rng.standard_normal((1500, 16)))
    return x, y


def test_missing_neighbours_are_marked_and_last(clustered):
    x, y = clustered
    d, i = knn(x, y, 64, index="IVF32,Flat", nprobe=1)
    missing = i < 0
    assert missing.any()  # the case this file is about
    assert np.all(np.isneginf(d[missing])) and np.all(np.isfinite(d[~missing]))
    # found neighbours first, best first
    assert np.all(np.diff(missing.astype(int), axis=1) >= 0)
    assert np.all(np.diff(np.where(missing, -9.0, d), axis=1)[~missing[:, 1:]] <= 0)


def test_missing_neighbours_do_not_poison_the_margin(clustered, capsys):
    x, y = clustered
    k, opts = 64, dict(index="IVF32,Flat", nprobe=1)
    pairs = mine_embeddings(x, y, k=k, mode="forward", **opts)
    err = capsys.readouterr().err
    assert "found fewer than 64 neighbours" in err and err.count("warning:") == 1
    assert len(pairs) and np.all(np.isfinite(pairs.score)) and pairs.tgt.min() >= 0
    # each pair's score is the ratio margin over the neighbours actually found (recomputed here)
    sxy, ixy = knn(x, y, k, **opts)
    syx, iyx = knn(y, x, k, **opts)
    mx = np.array([s[j >= 0].mean() for s, j in zip(sxy, ixy)])
    my = np.array([s[j >= 0].mean() if (j >= 0).any() else np.nan for s, j in zip(syx, iyx)])
    for s, t, score in zip(pairs.src[:200], pairs.tgt[:200], pairs.score[:200]):
        assert t in ixy[s]
        denom = (mx[s] + my[t]) / 2 if np.isfinite(my[t]) else mx[s]
        assert score == pytest.approx(float(x[s] @ y[t]) / denom, rel=1e-4)
    assert pairs.score.max() > 1.0  # not flattened to -0.0 by a -3.4e38 "neighbour"


def test_query_without_neighbours_is_never_paired():
    from mineshaft.mining.margin import candidate_margins, neighbour_means

    sims = np.array([[0.9, 0.5], [-np.inf, -np.inf], [0.8, -np.inf]], np.float32)
    ids = np.array([[0, 1], [-1, -1], [1, -1]])
    means = neighbour_means(sims, ids)
    assert means[0] == pytest.approx(0.7) and np.isnan(means[1]) and means[2] == pytest.approx(0.8)
    bsims = np.array([[0.9, 0.8], [0.5, 0.4]], np.float32)
    bids = np.array([[0, 2], [0, 2]])
    mean_y = neighbour_means(bsims, bids)
    fs = candidate_margins(sims, ids, means, mean_y, "ratio")
    assert np.isneginf(fs[1]).all() and np.isneginf(fs[2, 1])
    bs = candidate_margins(bsims, bids, mean_y, means, "ratio")
    for mode in MODES:
        p = select_pairs(fs, ids, bs, bids, mode=mode)
        assert 1 not in p.src.tolist() or mode == "backward", mode
        assert np.all(np.isfinite(p.score)) and p.tgt.min(initial=0) >= 0, mode


@pytest.mark.parametrize("kind", ["ratio", "distance", "absolute"])
@pytest.mark.parametrize("mode", MODES)
def test_zero_rows_are_never_paired(kind, mode):
    rng = np.random.default_rng(3)
    y = unit(rng.standard_normal((30, 8)) + 1.5)
    x = unit(y[:20] + 0.1 * rng.standard_normal((20, 8)))
    x[[0, 7]] = 0  # empty lines, as `encode` writes them
    y[[0, 3, 29]] = 0
    pairs = mine_embeddings(x, y, k=4, margin=kind, mode=mode)
    assert np.all(np.isfinite(pairs.score))
    assert not set(pairs.src.tolist()) & {0, 7} and not set(pairs.tgt.tolist()) & {0, 3, 29}
    assert len(pairs) >= 10


def test_zero_rows_are_never_neighbours():
    rng = np.random.default_rng(4)
    db = unit(rng.standard_normal((50, 8)))
    q = -db[:10]  # similarities to real rows can be negative: a zero row (0) would rank high
    q[3] = 0
    db[[5, 6]] = 0
    for index in ("flat", "torch"):
        d, i = knn(q, db, 49, index=index)
        assert not np.isin(i, [5, 6]).any(), index
        assert (i[3] == -1).all() and np.isneginf(d[3]).all(), index
        assert (i[np.arange(10) != 3, :48] >= 0).all() and (i[:, 48] == -1).all(), index


def test_ratio_margin_never_divides_by_a_mean_at_or_below_zero():
    got = margin(np.float32([0.5, 0.5, -0.2, 0.3, 0.3]), np.float32([0.4, -0.4, -0.4, np.nan, np.nan]),
                 np.float32([0.2, 0.2, 0.2, 0.2, np.nan]), "ratio")
    assert got[0] == pytest.approx(0.5 / 0.3)
    assert np.isneginf(got[1]) and np.isneginf(got[2])  # no sign flip: -0.2 / -0.1 would score 2.0
    assert got[3] == pytest.approx(0.3 / 0.2)  # a side with no neighbours: the other side's mean alone
    assert np.isneginf(got[4])
    assert not np.isnan(margin(np.float32([0.0]), np.float32([0.0]), np.float32([0.0]), "ratio")).any()


def test_score_with_empty_rows_is_never_nan(capsys):
    rng = np.random.default_rng(5)
    x, y = unit(rng.standard_normal((10, 8)) + 1), unit(rng.standard_normal((10, 8)) + 1)
    x[2] = 0
    y[2] = 0
    rows = np.arange(10)
    for kind in ("ratio", "distance"):
        s = pair_scores(x, y, rows, rows, margin_kind=kind)
        assert not np.isnan(s).any()
        assert np.isneginf(s[2]) and np.all(np.isfinite(np.delete(s, 2))), kind
    assert "no defined" in capsys.readouterr().err
    s = pair_scores(x, y, rows, np.roll(rows, 1))  # one side empty: 0 / the other side's mean
    assert np.all(np.isfinite(s)) and s[2] == 0 and s[3] == 0


# -- ties --------------------------------------------------------------------------------------------
def tie_data(dim=512, n=1600, copies=3, seed=6):
    """Small-integer vectors scaled by a power of two: every dot product is exact in float32 whatever
    the summation order, so duplicated rows tie exactly in every backend."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 3, (n, dim)).astype(np.float32) / 64
    perm = rng.permutation(n * copies)
    y = np.concatenate([base] * copies)[perm]
    x = base[:300].copy()
    return x, y


@pytest.mark.parametrize("mode", MODES)
def test_ties_go_to_the_smaller_id_in_every_backend(mode):
    x, y = tie_data()
    runs = {
        "flat": dict(index="flat"),
        "blocked flat": dict(index="flat", memory=16 << 20),  # 4096 rows a block: 2 blocks
        "torch": dict(index="torch"),
        "blocked torch": dict(index="torch", memory=16 << 20),
    }
    got = {name: mine_embeddings(x, y, k=4, mode=mode, **o) for name, o in runs.items()}
    ref = got["flat"]
    for name, p in got.items():
        assert p.src.tolist() == ref.src.tolist() and p.tgt.tolist() == ref.tgt.tolist(), name
        np.testing.assert_array_equal(p.score, ref.score)
    if mode == "backward":  # every target row has its own pair: nothing to choose between copies
        return
    # whichever target won, it is the first of its copies
    first = {}
    for j, row in enumerate(map(bytes, y.view(np.uint8).reshape(len(y), -1))):
        first.setdefault(row, j)
    assert ref.tgt.tolist() == [first[bytes(y[t].view(np.uint8))] for t in ref.tgt]
    assert len(ref) > 100
