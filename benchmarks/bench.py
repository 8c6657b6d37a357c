#!/usr/bin/env python
"""mineshaft benchmarks: throughput and peak memory, side by side with the obvious alternative.

Every case runs in a fresh subprocess so its peak RSS is its own. Run from the repo root:

    python benchmarks/bench.py encode            # mineshaft vs sentence-transformers (same model, inputs)
    python benchmarks/bench.py mine --sizes 10000 100000 1000000
    python benchmarks/bench.py recall            # IVF-PQ recall against exact, on real BUCC-style embeddings
    python benchmarks/bench.py all

Not a unit test: it prints tables (and --json writes the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mineshaft.io import read_lines

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MINESHAFT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(*args: str) -> dict:
    """Run one case in a new process; it prints one JSON line last."""
    r = subprocess.run([sys.executable, __file__, "_case", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"case {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------- inputs
def real_sentences(n: int) -> list[str]:
    """Real English news sentences (BUCC-style English side), or the shipped sample repeated."""
    path = SHARED / "eval" / "bucc-style" / "de-en.en"
    if path.exists():
        lines = [line.split("\t", 1)[1] for line in read_lines(path)]
    else:
        lines = read_lines(ROOT / "mineshaft" / "data" / "sample.en")
    return [lines[i % len(lines)] for i in range(n)]


def synthetic(n: int, d: int, seed: int, planted_from: np.ndarray | None = None, noise: float = 0.25) -> np.ndarray:
    """Clustered unit vectors (like sentence embeddings, unlike uniform noise); optionally noisy copies of others."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float16)
    centers = np.random.default_rng(12345).standard_normal((2000, d)).astype(np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        if planted_from is not None:
            x = planted_from[s : s + m].astype(np.float32) + noise / np.sqrt(d) * rng.standard_normal((m, d)).astype(np.float32)
        else:
            x = centers[rng.integers(0, len(centers), m)] + 1.2 * rng.standard_normal((m, d)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s : s + m] = x
    return out


# ----------------------------------------------------------------------------------------- cases
def case_encode(kind: str, n: int, out: str) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    texts = real_sentences(n)
    if kind == "sentence-transformers":
        from sentence_transformers import SentenceTransformer

        from mineshaft.encoders import minilm_path

        model = SentenceTransformer(str(minilm_path()), device="cpu")
        model.encode(texts[:64], batch_size=64)  # warm-up
        t = time.perf_counter()
        emb = model.encode(texts, batch_size=64, normalize_embeddings=True)
    else:
        from mineshaft.encoders import load_encoder

        model, _, precision = kind.partition("@")
        enc = load_encoder(model, device="cpu", precision=precision or "auto")
        enc.encode(texts[:64], batch_size=64)
        t = time.perf_counter()
        emb = enc.encode(texts, batch_size=64)
    dt = time.perf_counter() - t
    np.save(out, np.asarray(emb, dtype=np.float32))
    return {"case": f"encode {kind}", "n": n, "seconds": dt, "per_s": n / dt, "peak_rss_mb": peak_rss_mb()}


def make_vectors(n: int, d: int, workdir: Path) -> tuple[Path, Path]:
    """fp16 source/target matrices on disk: half of the source are noisy copies of target rows."""
    y = synthetic(n, d, seed=1)
    x = synthetic(n, d, seed=2)
    half = n // 2
    x[:half] = synthetic(half, d, seed=3, planted_from=y[:half])
    px, py = workdir / f"x{n}.npy", workdir / f"y{n}.npy"
    np.save(px, x)
    np.save(py, y)
    return px, py


def case_mine_baseline(px: str, py: str, k: int, index: str) -> dict:
    """LASER's mine_bitexts.py in spirit: whole matrices in RAM, FAISS kNN, a Python loop over every candidate."""
    import faiss

    t0 = time.perf_counter()
    x = np.load(px).astype(np.float32)
    y = np.load(py).astype(np.float32)
    t_load = time.perf_counter() - t0

    def knn(q, db):
        if index == "flat":
            idx = faiss.IndexFlatIP(db.shape[1])
        else:
            idx = faiss.index_factory(db.shape[1], index, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            idx.train(db[np.sort(rng.choice(len(db), min(len(db), 262144), replace=False))])
            faiss.ParameterSpace().set_index_parameter(idx, "nprobe", 16)
        idx.add(db)
        return idx.search(q, k)

    t0 = time.perf_counter()
    x2y_sim, x2y_ind = knn(x, y)
    y2x_sim, y2x_ind = knn(y, x)
    t_knn = time.perf_counter() - t0
    t0 = time.perf_counter()
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)

    def score_candidates(a, b, cand_ind, fwd_mean, bwd_mean):
        scores = np.zeros(cand_ind.shape)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                k2 = cand_ind[i, j]
                scores[i, j] = a[i].dot(b[k2]) / ((fwd_mean[i] + bwd_mean[k2]) / 2)
        return scores

    fwd_scores = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd_scores = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(x.shape[0]), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(y.shape[0]), bwd_scores.argmax(axis=1)]
    indices = np.stack([np.concatenate([np.arange(x.shape[0]), bwd_best]), np.concatenate([fwd_best, np.arange(y.shape[0])])], axis=1)
    scores = np.concatenate([fwd_scores.max(axis=1), bwd_scores.max(axis=1)])
    seen_src, seen_trg, pairs = set(), set(), 0
    for i in np.argsort(-scores):
        s, t = indices[i]
        if s not in seen_src and t not in seen_trg:
            seen_src.add(s), seen_trg.add(t)
            pairs += 1
    t_margin = time.perf_counter() - t0
    return {"case": "baseline", "index": index, "n": len(x), "seconds": t_load + t_knn + t_margin, "knn_s": t_knn,
            "margin_s": t_margin, "pairs": pairs, "peak_rss_mb": peak_rss_mb()}


def case_mine_mineshaft(px: str, py: str, k: int, index: str, memory: str) -> dict:
    import faiss

    from mineshaft.io import parse_size
    from mineshaft.mine import MineOptions, Source, pairs_from_neighbours, search_source
    from mineshaft.search import Searcher

    # time spent inside FAISS's search (the BLAS/kernel share of the work)
    kernel = {"s": 0.0}
    orig = Searcher.search

    def timed(self, q, kk):
        t = time.perf_counter()
        try:
            return orig(self, q, kk)
        finally:
            kernel["s"] += time.perf_counter() - t

    Searcher.search = timed
    opts = MineOptions(k=k, index=index, memory=parse_size(memory), shard_size=100_000)
    t0 = time.perf_counter()
    x = Source.from_array(np.load(px, mmap_mode="r"), opts.shard_size, digest="x")
    y = Source.from_array(np.load(py, mmap_mode="r"), opts.shard_size, digest="y")
    sy = Searcher(y.blocks, opts.index, opts.nprobe, opts.memory)
    sx = Searcher(x.blocks, opts.index, opts.nprobe, opts.memory)
    t_build0 = time.perf_counter()
    sy.build(), sx.build()
    t_build = time.perf_counter() - t_build0
    fwd = search_source(x, sy, k, None, None, "fwd", {})
    bwd = search_source(y, sx, k, None, None, "bwd", {})
    t_knn = time.perf_counter() - t0
    t1 = time.perf_counter()
    pairs = pairs_from_neighbours(fwd, bwd, opts)
    t_margin = time.perf_counter() - t1
    n = x.n
    planted = n // 2
    correct = int(((pairs.src < planted) & (pairs.src == pairs.tgt)).sum())
    return {"case": "mineshaft", "index": index, "n": n, "seconds": time.perf_counter() - t0, "knn_s": t_knn,
            "build_s": t_build, "kernel_s": kernel["s"], "margin_s": t_margin, "pairs": len(pairs),
            "planted_found": correct / planted, "peak_rss_mb": peak_rss_mb(), "faiss_threads": faiss.omp_get_max_threads()}


def case_gemm_peak() -> dict:
    """Measured float32 matrix-product rate of this machine (the ceiling for exact kNN)."""
    a = np.random.default_rng(0).standard_normal((4096, 384)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((384, 8192)).astype(np.float32)
    a @ b
    t = time.perf_counter()
    reps = 5
    for _ in range(reps):
        a @ b
    dt = (time.perf_counter() - t) / reps
    return {"case": "sgemm", "gflops": 2 * 4096 * 8192 * 384 / dt / 1e9}


def case_recall(lang: str, nprobe: int, index: str) -> dict:
    """Recall@k of an approximate index against exact search, on real BUCC-style embeddings (USE)."""
    from mineshaft.encoders import load_encoder
    from mineshaft.search import knn

    enc = load_encoder("use", device="cpu")
    base = SHARED / "eval" / "bucc-style" / f"{lang}-en"
    xs = [line.split("\t", 1)[1] for line in read_lines(f"{base}.{lang}")]
    ys = [line.split("\t", 1)[1] for line in read_lines(f"{base}.en")]
    x, y = enc.encode(xs), enc.encode(ys)
    _, exact = knn(x, y, 4)
    _, approx = knn(x, y, 4, index=index, nprobe=nprobe)
    r1 = float((approx[:, 0] == exact[:, 0]).mean())
    r4 = float(np.mean([len(set(a) & set(e)) / 4 for a, e in zip(approx.tolist(), exact.tolist())]))
    return {"case": "recall", "index": index, "nprobe": nprobe, "n_db": len(y), "recall@1": r1, "recall@4": r4}


# -------------------------------------------------------------------------------------- reports
def bench_encode(n: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        outs = {}
        for kind in ("sentence-transformers", "minilm@fp32", "minilm@bf16"):
            outs[kind] = f"{tmp}/{kind}.npy"
            rows.append(run_case("encode", kind, str(n), outs[kind]))
        ref = np.load(outs["sentence-transformers"])
        for r, kind in zip(rows, outs):
            cos = np.einsum("ij,ij->i", np.load(outs[kind]), ref)
            r["cos_min"], r["cos_mean"] = float(cos.min()), float(cos.mean())
        base = rows[0]["per_s"]
        print(f"\nencode: {n} real English sentences, all-MiniLM-L6-v2, CPU ({os.cpu_count()} cores)")
        print(f"{'':34} {'sent/s':>9} {'vs ST':>6} {'peak RSS MB':>12} {'cos min/mean vs ST':>20}")
        for r in rows:
            print(f"{r['case']:34} {r['per_s']:9.1f} {r['per_s'] / base:5.2f}x {r['peak_rss_mb']:12.0f} "
                  f"{r['cos_min']:9.5f}/{r['cos_mean']:.5f}")
        # the multilingual USE: our torch port against the package's own numpy forward pass
        use_rows = [run_case("encode", kind, str(n), f"{tmp}/{kind}.npy") for kind in ("use-numpy", "use")]
        cos = np.einsum("ij,ij->i", np.load(f"{tmp}/use.npy"), np.load(f"{tmp}/use-numpy.npy"))
        print(f"\nencode: the same {n} sentences, multilingual USE v3")
        for r in use_rows:
            print(f"{r['case']:34} {r['per_s']:9.1f} {r['per_s'] / use_rows[0]['per_s']:5.2f}x {r['peak_rss_mb']:12.0f}")
        print(f"{'torch port vs numpy reference':34} cos min {cos.min():.5f} mean {cos.mean():.5f}")
        return rows + use_rows


def bench_mine(sizes: list[int], d: int = 384, k: int = 4) -> list[dict]:
    peak = run_case("gemm")["gflops"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            px, py = make_vectors(n, d, Path(tmp))
            index = "flat" if n <= 200_000 else "IVF4096,PQ32"
            ours = run_case("mine", str(px), str(py), str(k), index, "2G")
            base = run_case("baseline", str(px), str(py), str(k), index)
            for r in (base, ours):
                r["flop_fraction"] = (2 * 2 * n * n * d / r["knn_s"] / 1e9 / peak) if index == "flat" else None
            rows += [base, ours]
            os.unlink(px), os.unlink(py)
    print(f"\nmine: synthetic clustered {d}-d vectors, N x N, k={k}, max mode; machine sgemm peak {peak:.0f} GFLOP/s")
    print(f"{'N':>9} {'index':>13} {'who':>10} {'total s':>9} {'kNN s':>8} {'margin s':>9} {'margin x':>9} "
          f"{'kernel %':>9} {'FLOP %':>7} {'peak RSS MB':>12} {'planted found':>14}")
    for b, o in zip(rows[::2], rows[1::2]):
        for r in (b, o):
            speed = b["margin_s"] / r["margin_s"]
            kern = 100 * r["kernel_s"] / r["knn_s"] if "kernel_s" in r else float("nan")
            flop = f"{100 * r['flop_fraction']:6.1f}" if r["flop_fraction"] else "     -"
            found = f"{100 * r['planted_found']:.1f}%" if "planted_found" in r else "-"
            print(f"{r['n']:9d} {r['index']:>13} {r['case']:>10} {r['seconds']:9.1f} {r['knn_s']:8.1f} {r['margin_s']:9.2f} "
                  f"{speed:8.1f}x {kern:8.1f}% {flop} {r['peak_rss_mb']:12.0f} {found:>14}")
    return rows


def bench_recall() -> list[dict]:
    rows = [run_case("recall", "de", str(p), "IVF256,PQ32") for p in (4, 16, 64)]
    print("\nrecall of IVF-PQ against exact search, real BUCC-style de→en USE embeddings")
    for r in rows:
        print(f"{r['index']:>12} nprobe {r['nprobe']:3d}: recall@1 {r['recall@1']:.3f}  recall@4 {r['recall@4']:.3f}  (db {r['n_db']})")
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_case":
        name, args = sys.argv[2], sys.argv[3:]
        if name == "encode":
            res = case_encode(args[0], int(args[1]), args[2])
        elif name == "mine":
            res = case_mine_mineshaft(args[0], args[1], int(args[2]), args[3], args[4])
        elif name == "baseline":
            res = case_mine_baseline(args[0], args[1], int(args[2]), args[3])
        elif name == "gemm":
            res = case_gemm_peak()
        elif name == "recall":
            res = case_recall(args[0], int(args[1]), args[2])
        print(json.dumps(res))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["encode", "mine", "recall", "all"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--n-encode", type=int, default=2000)
    ap.add_argument("--json", help="write all numbers here")
    a = ap.parse_args()
    results = {}
    if a.what in ("encode", "all"):
        results["encode"] = bench_encode(a.n_encode)
    if a.what in ("mine", "all"):
        results["mine"] = bench_mine(a.sizes)
    if a.what in ("recall", "all"):
        results["recall"] = bench_recall()
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
