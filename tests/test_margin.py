"""Margin and retrieval-mode math against a brute-force, loop-by-loop reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mineshaft.mining.margin import Pairs, margin, select_pairs
from mineshaft.mining.mine import mine_embeddings
from mineshaft.mining.search import knn

from conftest import run_cli


def unit(rng, n, d, shift=0.0):
    """Random unit vectors; ``shift`` adds a common direction so cosines lean positive, as real
    sentence embeddings do (it keeps ratio-margin denominators away from zero)."""
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[:, 0] += shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def near_tie(x, y, k, kind, eps=1e-4):
    """Whether float32 rounding can change the answer: near-tied candidates, or an ill-conditioned ratio."""
    sim = x.astype(np.float64) @ y.T.astype(np.float64)
    kx, ky = min(k, len(y)), min(k, len(x))
    mean_x = np.sort(sim, 1)[:, ::-1][:, :kx].mean(1)
    mean_y = np.sort(sim, 0)[::-1][:ky].mean(0)
    d = (mean_x[:, None] + mean_y[None, :]) / 2
    if kind == "ratio" and np.abs(d).min() < 1e-2:
        return True  # a near-zero denominator: float32 rounding is amplified without bound
    marg = sim if kind == "absolute" else (sim / d if kind == "ratio" else sim - d)
    for mat, kk, s in ((marg, kx, sim), (marg.T, ky, sim.T)):
        for row, srow in zip(mat, s):
            cand = np.sort(row[np.argsort(-srow)[:kk]])[::-1]
            if len(cand) > 1 and cand[0] - cand[1] < eps:
                return True
            if len(srow) > kk and np.sort(srow)[::-1][kk - 1] - np.sort(srow)[::-1][kk] < eps:
                return True  # the k-th and (k+1)-th neighbours swap places under rounding
    return False


def reference_mine(x, y, k, kind, mode, threshold):
    """LASER-style mining written plainly: full similarity matrix and Python loops."""
    sim = x.astype(np.float64) @ y.T.astype(np.float64)
    kx, ky = min(k, len(y)), min(k, len(x))
    mean_x = np.array([np.sort(row)[::-1][:kx].mean() for row in sim])
    mean_y = np.array([np.sort(col)[::-1][:ky].mean() for col in sim.T])

    def m(i, j):
        c = sim[i, j]
        if kind == "absolute":
            return c
        d = (mean_x[i] + mean_y[j]) / 2
        if kind == "ratio" and d <= 0:
            return -np.inf  # undefined: dividing by a mean <= 0 would flip the order
        return c / d if kind == "ratio" else c - d

    fwd = []
    for i in range(len(x)):
        cands = np.argsort(-sim[i])[:kx]
        j = max(cands, key=lambda j: m(i, j))
        fwd.append((m(i, j), i, j))
    bwd = []
    for j in range(len(y)):
        cands = np.argsort(-sim[:, j])[:ky]
        i = max(cands, key=lambda i: m(i, j))
        bwd.append((m(i, j), i, j))
    if mode == "forward":
        out = fwd
    elif mode == "backward":
        out = bwd
    elif mode == "intersect":
        b = {(i, j) for _, i, j in bwd}
        out = [p for p in fwd if (p[1], p[2]) in b]
    else:
        out, ux, uy = [], set(), set()
        for s, i, j in sorted(fwd + bwd, key=lambda p: (-p[0], p[1], p[2])):
            if i not in ux and j not in uy:
                ux.add(i), uy.add(j), out.append((s, i, j))
    out = [p for p in out if p[0] > -np.inf]  # no defined margin: never paired
    if threshold is not None:
        out = [p for p in out if p[0] >= threshold]
    return sorted(out, key=lambda p: (-p[0], p[1], p[2]))


@settings(max_examples=200, deadline=None)
@given(
    nx=st.integers(1, 40), ny=st.integers(1, 40), d=st.integers(2, 16), k=st.integers(1, 8),
    kind=st.sampled_from(["ratio", "distance", "absolute"]),
    mode=st.sampled_from(["forward", "backward", "intersect", "max"]),
    thr=st.one_of(st.none(), st.floats(-0.5, 1.5)), seed=st.integers(0, 2**31),
)
def test_mining_matches_reference(nx, ny, d, k, kind, mode, thr, seed):
    rng = np.random.default_rng(seed)
    x, y = unit(rng, nx, d, shift=2.0), unit(rng, ny, d, shift=2.0)
    assume(not near_tie(x, y, k, kind))  # float32 vs float64 may break a near-tie either way
    got = mine_embeddings(x, y, k=k, margin=kind, mode=mode, threshold=thr)
    want = reference_mine(x, y, k, kind, mode, thr)
    # random continuous data: no ties, so the pair sets must agree exactly
    # (pairs within float32 rounding of the threshold may legitimately differ)
    if thr is not None:
        keep = [abs(s - thr) > 1e-4 for s, _, _ in want]
        want = [p for p, ok in zip(want, keep) if ok]
        got_set = {(i, j) for i, j, s in zip(got.src, got.tgt, got.score) if abs(s - thr) > 1e-4}
    else:
        got_set = set(zip(got.src.tolist(), got.tgt.tolist()))
    assert got_set == {(i, j) for _, i, j in want}
    if thr is None:
        np.testing.assert_allclose(got.score, [s for s, _, _ in want], rtol=1e-4, atol=1e-5)
    assert np.all(np.diff(got.score) <= 0), "pairs must come best first"


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), m=st.integers(1, 60), k=st.integers(1, 10), seed=st.integers(0, 2**31))
def test_knn_matches_brute_force(n, m, k, seed):
    rng = np.random.default_rng(seed)
    q, db = unit(rng, n, 8), unit(rng, m, 8)
    sims, idx = knn(q, db, k, block_size=7)
    full = q @ db.T
    want_idx = np.argsort(-full, axis=1)[:, : min(k, m)]
    np.testing.assert_allclose(sims, np.take_along_axis(full, want_idx, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(idx, want_idx)


def test_margin_formulas_by_hand():
    cos, mx, my = np.float32(0.8), np.float32(0.5), np.float32(0.3)
    assert margin(cos, mx, my, "ratio") == pytest.approx(0.8 / 0.4)
    assert margin(cos, mx, my, "distance") == pytest.approx(0.8 - 0.4)
    assert margin(cos, mx, my, "absolute") == pytest.approx(0.8)


def test_threshold_applies_in_every_mode():
    rng = np.random.default_rng(0)
    x, y = unit(rng, 30, 8), unit(rng, 30, 8)
    for mode in ("forward", "backward", "intersect", "max"):
        allp = mine_embeddings(x, y, mode=mode)
        cut = float(np.median(allp.score))
        kept = mine_embeddings(x, y, mode=mode, threshold=cut)
        assert len(kept) < len(allp) and np.all(kept.score >= cut), mode


def test_max_mode_is_one_to_one_and_finds_planted_pairs():
    rng = np.random.default_rng(1)
    y = unit(rng, 200, 32)
    x = y[:120] + 0.05 * rng.standard_normal((120, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    pairs = mine_embeddings(x, y, mode="max")
    assert len(set(pairs.src.tolist())) == len(pairs) == len(set(pairs.tgt.tolist()))
    top = pairs.src[:120], pairs.tgt[:120]
    assert np.array_equal(np.sort(top[0]), np.arange(120)) and np.array_equal(top[0], top[1])


def test_select_pairs_rejects_unknown_mode():
    from mineshaft.errors import UsageError

    with pytest.raises(UsageError):
        select_pairs(np.ones((1, 1)), np.zeros((1, 1), int), np.ones((1, 1)), np.zeros((1, 1), int), mode="best")


def test_pairs_sorted_is_deterministic_on_ties():
    p = Pairs.sorted(np.array([3, 1, 2]), np.array([0, 0, 0]), np.array([1.0, 1.0, 2.0], np.float32))
    assert p.src.tolist() == [2, 1, 3]


def sequential_greedy(pairs, nx, ny):
    ux, uy, keep = set(), set(), []
    for i, (x, y) in enumerate(zip(pairs.src.tolist(), pairs.tgt.tolist())):
        if x not in ux and y not in uy:
            ux.add(x), uy.add(y), keep.append(i)
    return keep


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), nx=st.integers(1, 30), ny=st.integers(1, 30), seed=st.integers(0, 2**31),
       ties=st.booleans())
def test_vectorized_greedy_equals_sequential_loop(n, nx, ny, seed, ties):
    from mineshaft.mining.margin import greedy_one_to_one

    rng = np.random.default_rng(seed)
    score = (rng.integers(0, 5, n) if ties else rng.random(n)).astype(np.float32)
    p = Pairs.sorted(rng.integers(0, nx, n), rng.integers(0, ny, n), score)
    got = greedy_one_to_one(p, nx, ny)
    keep = sequential_greedy(p, nx, ny)
    assert got.src.tolist() == p.src[keep].tolist() and got.tgt.tolist() == p.tgt[keep].tolist()


def test_pairs_sorted_breaks_ties_by_source_then_target():
    p = Pairs.sorted(np.array([2, 0, 1, 0, 5]), np.array([0, 2, 1, 1, 3]), np.array([1, 1, 1, 1, 2], np.float32))
    assert list(zip(p.src.tolist(), p.tgt.tolist())) == [(5, 3), (0, 1), (0, 2), (1, 1), (2, 0)]


@pytest.mark.parametrize("mode", ["forward", "backward", "intersect", "max"])
def test_mine_writes_equal_scores_by_source_row_then_target_row(tmp_path, mode):
    """Sources e0..e3 and targets e3..e0 (orthonormal): every pair scores exactly the same, and source order is
    the reverse of target order, so `mineshaft mine` must list them by source row (then target row)."""
    x = np.eye(4, 8, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x[::-1].copy())
    r = run_cli("mine", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--mode", mode, "--threshold", "none",
                "--ids", "-q")
    assert r.returncode == 0, r.stderr.decode()
    rows = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert len({s for s, _, _ in rows}) == 1  # one score for all: ties throughout
    assert [(int(a), int(b)) for _, a, b in rows] == [(1, 4), (2, 3), (3, 2), (4, 1)]
