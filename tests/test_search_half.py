"""Half-precision exact search (bf16 on CPU here, fp16 on a GPU) equals fp32 exact search; torch IVF; auto."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mineshaft.mining.search import Searcher, auto_index, check_factory, knn
from conftest import unit




@pytest.fixture(scope="module")
def planted():
    """Queries with planted near-copies, exact duplicates (ties), near-ties closer than bf16 resolves, zero rows."""
    rng = np.random.default_rng(3)
    db = unit(rng, 4000, 64)
    db[100:110] = db[50]  # ten exact ties
    db[200] = 0.0  # an empty sentence
    q = unit(rng, 256, 64)
    q[:100] = db[:100] + 0.05 * unit(rng, 100, 64)  # planted neighbours
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[5] = 0.0
    # near-ties: rows whose similarities differ by less than bf16 resolves (~1e-3), far more than fp32 does
    for j, r in enumerate(range(300, 340)):
        db[r] = db[j] + 3e-3 * unit(rng, 1, 64)[0]
        db[r] /= np.linalg.norm(db[r])
    return q, db


@pytest.mark.parametrize("k", [1, 4, 12])
def test_half_equals_flat_on_planted(planted, k):
    q, db = planted
    blocks = [db[:1000], db[1000:2500], db[2500:]]
    want_d, want_i = knn(q, blocks, k, index="flat")
    got_d, got_i = knn(q, blocks, k, index="half", block_size=100)
    np.testing.assert_array_equal(got_i, want_i)  # identical ids, ties by id included
    np.testing.assert_allclose(got_d, want_d, atol=2e-6)


@pytest.mark.parametrize("index", ["half", "torch", "ivf8"])
def test_read_only_inputs_search_without_torchs_warning(planted, index, tmp_path):
    """Memory-mapped .npy inputs are read-only: torch's warning about such arrays reached the user under -q. torch
    warns once a process, so each case runs in a fresh one, with warnings as errors."""
    import subprocess
    import sys

    q, db = planted
    np.save(tmp_path / "db.npy", db)
    np.save(tmp_path / "q.npy", q)
    code = ("import numpy as np; from mineshaft.mining.search import knn; "
            f"db = np.load({str(tmp_path / 'db.npy')!r}, mmap_mode='r'); q = np.load({str(tmp_path / 'q.npy')!r}, "
            f"mmap_mode='r'); print(knn(q, [db[:2000], db[2000:]], 4, index={index!r}, nprobe=8)[1][:3].tolist())")
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert eval(r.stdout) == knn(q, db, 4, index="flat")[1][:3].tolist()


def test_half_memory_budget_blocks(planted):
    q, db = planted
    want = knn(q, db, 5, index="flat")[1]
    assert (knn(q, db, 5, index="half", memory=16 << 20)[1] == want).all()


def test_half_uncertain_rows_fall_back_to_fp32(planted, monkeypatch):
    """Where half precision cannot tell the k-th neighbour from the rest, the row is searched in fp32."""
    import mineshaft.mining.search as search

    q, db = planted
    calls = []
    orig = search.Searcher._flat_search

    def spy(self, qq, k):
        calls.append(len(qq))
        return orig(self, qq, k)

    monkeypatch.setattr(search.Searcher, "_flat_search", spy)
    s = Searcher([db], "half")
    d, i = s.search(q, 4)
    assert calls and 0 < sum(calls) < len(q)  # some rows, not all
    np.testing.assert_array_equal(i, knn(q, db, 4)[1])


def test_half_on_fp16_shards(planted):
    q, db = planted
    h = db.astype(np.float16)
    np.testing.assert_array_equal(knn(q, [h[:777], h[777:]], 6, index="half")[1], knn(q, [h], 6)[1])


REAL = Path("/tmp/thr/emb/use.fr-en.fr.npy")


@pytest.mark.skipif(not REAL.exists(), reason="no cached real sentence vectors")
def test_half_equals_flat_on_real_vectors():
    x = np.load(REAL)[:1500]
    y = np.load(REAL.with_name("use.fr-en.en.npy"))
    np.testing.assert_array_equal(knn(x, y, 4, index="half")[1], knn(x, y, 4)[1])


def test_torch_ivf_visiting_every_list_is_exact(planted):
    q, db = planted
    want = knn(q, db, 5)[1]
    np.testing.assert_array_equal(knn(q, [db[:1500], db[1500:]], 5, index="ivf16", nprobe=16)[1], want)
    _, got = knn(q, db, 5, index="ivf64", nprobe=8)
    assert (got[:100, 0] == want[:100, 0]).mean() >= 0.95  # planted neighbours are found
    assert (got[5] == -1).all()  # a zero query finds nothing
    assert not (got == 200).any()  # a zero row is never found


def test_auto_index_by_cost():
    assert auto_index(10_000, 512, gpu=False) == "half"
    assert auto_index(1_000_000, 384, gpu=False) == "ivf2048"  # 2·N²·d too much for 2 CPU cores
    assert auto_index(1_000_000, 384, gpu=False, memory=512 << 20).endswith(",SQ8")  # lists beyond --memory
    assert auto_index(1_000_000, 512, gpu=True) == "half"  # ~1e15 products: seconds on tensor cores
    assert auto_index(5_000_000, 512, gpu=True).startswith("ivf")
    assert auto_index(100_000_000, 384, gpu=False).startswith("OPQ")
    assert auto_index(1_000, 512, queries=1_000_000, gpu=False) == "half"  # few database rows


def test_torch_ivf_whose_visited_lists_hold_fewer_than_k_rows_ends(monkeypatch):
    """One list visited of 256 over 1,500 rows holds ~6 of them: fewer than k=16. The search looked again at
    twice the depth for as long as any list's cut (-inf where a list was not cut) reached the k-th best (-inf),
    that is forever, until memory ran out; now the rows found come back and the missing ones are -1."""
    from mineshaft.mining.search_half import TorchIVF

    rng = np.random.default_rng(3)
    db, q = unit(rng, 1500, 32), unit(rng, 200, 32)
    calls, look = [], TorchIVF._candidates

    def counted(self, *args):  # a runaway search fails here instead of taking the machine's memory
        calls.append(args[-1])
        assert len(calls) < 12, f"the search looked again {len(calls)} times (depth {args[-1]})"
        return look(self, *args)

    monkeypatch.setattr(TorchIVF, "_candidates", counted)
    d, i = knn(q, [db], 16, index="ivf256", nprobe=1)
    found = i >= 0
    assert found[:, 0].all() and not found.all()
    assert np.isinf(d[~found]).all() and np.isfinite(d[found]).all()


def test_own_kinds_pass_the_factory_check():
    for kind in ("half", "ivf256", "auto", "torch", "flat"):
        check_factory(kind)
    with pytest.raises(Exception):
        check_factory("ivfx")


@pytest.mark.parametrize("factory", ["HNSW0", "HNSW1", "HNSW1,Flat", "IVF0,Flat", "IDMap,Flat", "IDMap2,Flat"])
def test_factory_strings_that_fail_late_or_crash_are_refused_at_once(factory):
    """faiss builds these, then aborts the process (HNSW0, HNSW1: assertion, segmentation fault) or fails after
    the encoding (IVF0: no list to probe; IDMap: add without ids)."""
    from mineshaft.errors import UsageError

    with pytest.raises(UsageError, match=f"--index '{factory}': "):
        check_factory(factory)
    for fine in ("HNSW32", "HNSW2", "IVF1,Flat", "IVF10,Flat", "HNSW16,Flat", "Flat"):
        check_factory(fine)


def test_device_resident_rescoring_matches_host(planted):
    """The GPU path's re-scoring (fp32 copy on the device, float64 products) equals the host one; run on CPU."""
    import torch

    from mineshaft.mining.search_half import Resident

    q, db = planted
    s = Searcher([db[:999], db[999:]], "half")
    res = Resident(s.blocks, torch.device("cpu"), torch.bfloat16, keep_fp32=True)
    cand = np.random.default_rng(0).integers(-1, len(db), size=(len(q), 9))
    d1, i1 = res.rescore(q, cand)
    d2, i2 = s._rescore(q, cand)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


def test_ray_engine_asks_one_gpu_per_worker(monkeypatch):
    import sys
    import types

    from mineshaft.engines.ray import RayEngine

    fake = types.SimpleNamespace(is_initialized=lambda: True, cluster_resources=lambda: {"CPU": 16.0, "GPU": 4.0})
    monkeypatch.setitem(sys.modules, "ray", fake)
    eng = RayEngine()
    assert (eng.gpus_per_worker, eng.workers) == (1.0, 4)
    fake.cluster_resources = lambda: {"CPU": 16.0}
    assert (RayEngine().gpus_per_worker, RayEngine().workers) == (0.0, 16)


def test_torch_ivf_on_fp16_shards_is_exact_when_every_list_is_visited(planted, monkeypatch):
    """fp16 shards: the IVF holds an exact copy and re-scores from it (fp32, float64 near ties); small
    shape buckets and query chunks so that padding columns, padded query rows and several chunks per
    list all occur; ten exact ties in one list exceed the 8 kept per list and force a re-scan."""
    from mineshaft.mining.search_half import TorchIVF

    q, db = planted
    h = db.astype(np.float16)
    monkeypatch.setattr(TorchIVF, "ROWS", 8)
    monkeypatch.setattr(TorchIVF, "COLS", 24)
    monkeypatch.setattr(TorchIVF, "CHUNK", 16)
    want_d, want_i = knn(q, [h], 5)
    got_d, got_i = knn(q, [h[:1500], h[1500:]], 5, index="ivf16", nprobe=16)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_d, want_d, rtol=0, atol=1e-6)
    assert (got_i[:, :5] == want_i[:, :5]).all() and (got_i[60] != -1).all()


def test_torch_ivf_keeps_ties_beyond_its_per_list_depth():
    """Twenty identical rows in one list, k=12: the smallest ids win, as in exact search."""
    rng = np.random.default_rng(5)
    db = unit(rng, 3000, 32).astype(np.float16)
    db[1000:1020] = db[7]
    q = db[[7, 8]].astype(np.float32)
    want = knn(q, [db], 12)[1]
    got = knn(q, [db], 12, index="ivf8", nprobe=8)[1]
    np.testing.assert_array_equal(got, want)
    assert set(got[0]) <= {7, *range(1000, 1020)}
