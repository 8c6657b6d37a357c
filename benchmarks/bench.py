#!/usr/bin/env python
"""mineshaft benchmarks: throughput and peak memory, side by side with the obvious alternative.

Every case runs in a fresh subprocess so its peak RSS is its own. Run from the repo root:

    python benchmarks/bench.py encode            # mineshaft vs sentence-transformers (same model, inputs)
    python benchmarks/bench.py mine --sizes 10000 100000 1000000
    python benchmarks/bench.py mine --sizes 1000000 --index auto --data real   # recall of the mined pairs too
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
from mineshaft.mining.search import DEFAULT_NPROBE

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


def real_vectors(emb: str) -> tuple[np.ndarray, np.ndarray]:
    """Real USE vectors of BUCC-style sentences: (non-English sides, English sides), float32.

    ``emb`` is a glob of .npy files named ``*.<pair>.<lang>.npy`` (English sides end in ``.en.npy``);
    without any, the de-en sentences are encoded with USE here (minutes on 2 cores).
    """
    import glob

    files = sorted(glob.glob(emb)) if emb else []
    if not files:
        from mineshaft.encoders import load_encoder

        enc = load_encoder("use", device="cpu")
        base = SHARED / "eval" / "bucc-style" / "de-en"
        side = lambda ext: [line.split("\t", 1)[1] for line in read_lines(f"{base}.{ext}")]  # noqa: E731
        return distinct(enc.encode(side("de"))), distinct(enc.encode(side("en")))
    xs = [np.load(f) for f in files if not f.endswith(".en.npy")]
    ys = [np.load(f) for f in files if f.endswith(".en.npy")]
    return distinct(np.concatenate(xs)), distinct(np.concatenate(ys))


def distinct(rows: np.ndarray) -> np.ndarray:
    """Rows without exact repeats (first occurrence kept, in order), float32.

    The English sides of the pair files repeat one pool of sentences (61% of rows had a copy):
    left in, a padded database would hold the same sentence several times over.
    """
    _, first = np.unique(rows.astype(np.float16), axis=0, return_index=True)
    return np.asarray(rows[np.sort(first)], np.float32)


#: cosine of a padding row to the real row it perturbs: the median similarity of a real sentence's nearest
#: distinct neighbour among these USE vectors (0.57 English, 0.60 other languages), so a padding row is
#: "another sentence close to this one", not a near-duplicate (0.85 made every real sentence a cluster of
#: ~60 near-copies)
PAD_COS = 0.6


def padded(real: np.ndarray, n: int, seed: int, cos: float = PAD_COS) -> np.ndarray:
    """``real`` rows first, then noise-perturbed copies of random real rows (cosine ~``cos`` to their original)."""
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    out = np.empty((n, d), dtype=np.float16)
    m0 = min(n, len(real))
    out[:m0] = real[:m0]
    scale = np.sqrt(1 / cos**2 - 1) / np.sqrt(d)
    for s in range(m0, n, 100_000):
        m = min(100_000, n - s)
        x = real[rng.integers(0, len(real), m)] + scale * rng.standard_normal((m, d)).astype(np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def make_real(n: int, workdir: Path, emb: str, cos: float = PAD_COS) -> tuple[Path, Path, int]:
    """Source: real non-English sentence vectors padded to ``n``; target: real English ones padded to ``n``."""
    x, y = real_vectors(emb)
    px, py = workdir / f"rx{n}.npy", workdir / f"ry{n}.npy"
    np.save(px, padded(x, n, seed=1, cos=cos))
    np.save(py, padded(y, n, seed=2, cos=cos))
    return px, py, min(n, len(x))


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


def case_mine_mineshaft(px: str, py: str, k: int, index: str, memory: str, n_real: int = 0, sample: int = 0,
                        nprobe: int = DEFAULT_NPROBE) -> dict:
    import faiss

    from mineshaft.io import parse_size
    from mineshaft.mining.mine import MineOptions, pairs_from_neighbours, search_source
    from mineshaft.mining.sources import Source
    from mineshaft.mining.search import Searcher

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
    opts = MineOptions(k=k, index=index, memory=parse_size(memory), shard_size=100_000, nprobe=nprobe)
    t0 = time.perf_counter()
    x = Source.from_array(np.load(px, mmap_mode="r"), opts.shard_size, digest="x")
    y = Source.from_array(np.load(py, mmap_mode="r"), opts.shard_size, digest="y")
    t_build, found = 0.0, []
    for queries, database, label in ((x, y, "fwd"), (y, x, "bwd")):  # one index at a time, as `mine` does
        searcher = Searcher(database.blocks, opts.index, opts.nprobe, opts.memory)
        t_build0 = time.perf_counter()
        searcher.build()
        t_build += time.perf_counter() - t_build0
        found.append(search_source(queries, searcher, k, None, None, label, {}))
        kind = searcher.kind
        del searcher
    fwd, bwd = found
    t_knn = time.perf_counter() - t0
    t1 = time.perf_counter()
    pairs, candidates = pairs_from_neighbours(fwd, bwd, opts, with_candidates=True)
    t_margin = time.perf_counter() - t1
    seconds = time.perf_counter() - t0
    n = x.n
    res = {"case": "mineshaft", "index": index, "kind": kind, "nprobe": opts.nprobe, "n": n, "seconds": seconds,
           "knn_s": t_knn, "build_s": t_build, "kernel_s": kernel["s"], "margin_s": t_margin, "pairs": len(pairs),
           "peak_rss_mb": peak_rss_mb(), "faiss_threads": faiss.omp_get_max_threads()}
    if n_real:  # real vectors: recall of the mined pairs against exact search, on sampled real rows
        Searcher.search = orig
        res.update(pair_recall(x, y, fwd, bwd, pairs, k, n_real, sample, candidates))
    else:
        planted = n // 2
        res["planted_found"] = int(((pairs.src < planted) & (pairs.src == pairs.tgt)).sum()) / planted
    return res


def pair_recall(x, y, fwd, bwd, pairs, k: int, n_real: int, sample: int, candidates=None) -> dict:
    """Recall of the mined pairs on ``sample`` random real source rows, against exact search for those rows.

    Exact reference (``half``: bf16 products re-scored in fp32, the same neighbours as ``flat``): each
    sampled row's k-NN, and the k-NN of its candidates (their margin denominators). A row's exact pair
    is its best-margin candidate; recall is the share of those found among the mined pairs (all
    sampled rows, and those whose exact margin clears the ``--threshold auto`` cut of the run).
    """
    from mineshaft.mining.margin import neighbour_means
    from mineshaft.mining.search import Searcher
    from mineshaft.mining.null_model import fit_null
    from mineshaft.mining.threshold import ThresholdFit, auto_threshold

    t = time.perf_counter()
    rows = np.sort(np.random.default_rng(7).choice(n_real, size=min(sample, n_real), replace=False))
    xs = _take(x.blocks, rows)
    d, i = Searcher(y.blocks, "half").search(xs, k)
    cands = np.unique(i[i >= 0])
    dy, iy = Searcher(x.blocks, "half").search(_take(y.blocks, cands), k)
    mean_y = dict(zip(cands.tolist(), neighbour_means(dy, iy).tolist()))
    mean_x = neighbour_means(d, i)
    my = np.array([[mean_y.get(j, np.nan) for j in row] for row in i.tolist()])
    margin = d / ((mean_x[:, None] + my) / 2)
    best = i[np.arange(len(rows)), np.nanargmax(margin, axis=1)]
    best_margin = np.nanmax(margin, axis=1)
    # the pair each sampled row proposes in the run: its best-margin candidate by the run's own k-NN
    ax = neighbour_means(*fwd)[rows]
    ay = neighbour_means(*bwd)
    ai = fwd[1][rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        am = np.where(ai >= 0, fwd[0][rows] / ((ax[:, None] + ay[np.maximum(ai, 0)]) / 2), -np.inf)
    got = ai[np.arange(len(rows)), np.argmax(am, axis=1)]
    hit = got == best
    cut = auto_threshold(pairs.score, ThresholdFit.of(fit_null(candidates), pairs) if candidates is not None else None)
    sure = best_margin >= cut
    knn_hit = np.mean([len(set(a) & set(e)) / k for a, e in zip(fwd[1][rows].tolist(), i.tolist())])
    # the exact pairs a threshold keeps (tuned ratio-margin thresholds on news text sit near 1.3; a dense
    # padded database lowers every margin, so lower cuts are shown too)
    at = {f"{c:.1f}": [int(m.sum()), float(hit[m].mean()) if m.any() else None]
          for c in MARGIN_CUTS for m in [best_margin >= c]}
    return {"recall_rows": len(rows), "pair_recall": float(hit.mean()), "auto_cut": float(cut),
            "pairs_above_cut": int(sure.sum()), "pair_recall_above_cut": float(hit[sure].mean()) if sure.any() else None,
            "recall_at": at, "knn_recall": float(knn_hit), "reference_s": time.perf_counter() - t}


#: exact-margin cuts at which the recall of the mined pairs is reported
MARGIN_CUTS = (1.0, 1.1, 1.2, 1.3)


def _take(blocks, rows: np.ndarray) -> np.ndarray:
    """Rows (sorted global ids) of a list of blocks, as float32."""
    out, offset = [], 0
    for b in blocks:
        sel = rows[(rows >= offset) & (rows < offset + b.shape[0])] - offset
        if len(sel):
            out.append(np.asarray(b[sel], np.float32))
        offset += b.shape[0]
    return np.concatenate(out)


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
    from mineshaft.mining.search import knn

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


def bench_mine(sizes: list[int], d: int = 384, k: int = 4, index: str | None = None, data: str = "synthetic",
               emb: str = "", sample: int = 2000, baseline: bool = True, nprobe: int = DEFAULT_NPROBE) -> list[dict]:
    peak = run_case("gemm")["gflops"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            n_real = 0
            if data == "real":
                px, py, n_real = make_real(n, Path(tmp), emb)
                d = int(np.load(px, mmap_mode="r").shape[1])
            else:
                px, py = make_vectors(n, d, Path(tmp))
            laser = "flat" if n <= 200_000 else "IVF4096,PQ32"  # what LASER's mine_bitexts would use
            mine_index = index or laser
            load0 = os.getloadavg()[0]
            ours = run_case("mine", str(px), str(py), str(k), mine_index, "2G", str(n_real), str(sample), str(nprobe))
            ours["load"] = (load0 + os.getloadavg()[0]) / 2
            base = (run_case("baseline", str(px), str(py), str(k), laser) if baseline else
                    {"case": "baseline", "index": laser, "n": n, "seconds": float("nan"), "knn_s": float("nan"),
                     "margin_s": float("nan"), "pairs": 0, "peak_rss_mb": float("nan")})
            base["load"] = os.getloadavg()[0]
            for r in (base, ours):
                r["flop_fraction"] = (2 * 2 * n * n * d / r["knn_s"] / 1e9 / peak) if r["index"] == "flat" else None
            rows += [base, ours]
            os.unlink(px), os.unlink(py)
    what = ("real USE vectors (BUCC-style, padded with noise-perturbed copies)" if data == "real"
            else "synthetic clustered vectors")
    print(f"\nmine: {what}, {d}-d, N x N, k={k}, max mode; machine sgemm peak {peak:.0f} GFLOP/s, "
          f"{os.cpu_count()} cores")
    print(f"{'N':>9} {'index':>13} {'who':>10} {'total s':>9} {'kNN s':>8} {'margin s':>9} {'margin x':>9} "
          f"{'kernel %':>9} {'FLOP %':>7} {'peak RSS MB':>12} {'planted found':>14} {'load':>5}")
    for b, o in zip(rows[::2], rows[1::2]):
        for r in (b, o):
            speed = b["margin_s"] / r["margin_s"]
            kern = 100 * r["kernel_s"] / r["knn_s"] if "kernel_s" in r else float("nan")
            flop = f"{100 * r['flop_fraction']:6.1f}" if r["flop_fraction"] else "     -"
            found = f"{100 * r['planted_found']:.1f}%" if "planted_found" in r else "-"
            name = f"{r['index']}:{r['kind']}" if r.get("kind", r["index"]) != r["index"] else r["index"]
            print(f"{r['n']:9d} {name:>13} {r['case']:>10} {r['seconds']:9.1f} {r['knn_s']:8.1f} {r['margin_s']:9.2f} "
                  f"{speed:8.1f}x {kern:8.1f}% {flop} {r['peak_rss_mb']:12.0f} {found:>14} {r['load']:5.1f}")
        if "pair_recall" in o:
            above = o["pair_recall_above_cut"]
            print(f"{'':9} recall of the mined pairs on {o['recall_rows']} sampled real source rows (exact reference "
                  f"for those rows only, {o['reference_s']:.0f} s): {o['pair_recall']:.3f} of all; "
                  f"{above if above is None else round(above, 3)} of the {o['pairs_above_cut']} above the auto cut "
                  f"{o['auto_cut']:.3f}; k-NN recall@{k} {o['knn_recall']:.3f} (nprobe {o['nprobe']})")
            print(f"{'':9} recall of the exact pairs whose exact margin is at least "
                  + ", ".join(f"{c}: {'-' if r is None else f'{r:.3f}'} of {m}" for c, (m, r) in o["recall_at"].items()))
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
            res = case_mine_mineshaft(args[0], args[1], int(args[2]), args[3], args[4], int(args[5]), int(args[6]),
                                      int(args[7]))
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
    ap.add_argument("--index", help="mineshaft's --index for `mine` (default: what the baseline uses: flat up to "
                    "200k, else IVF4096,PQ32); e.g. auto")
    ap.add_argument("--data", choices=["synthetic", "real"], default="synthetic",
                    help="real: USE vectors of BUCC-style sentences padded with noise-perturbed copies; "
                    "reports the recall of the mined pairs against exact search on sampled rows")
    ap.add_argument("--emb", default=os.environ.get("MINESHAFT_REAL_EMB", "/tmp/thr/emb/use.*.npy"),
                    help="glob of USE .npy files for --data real (*.en.npy: English side); none: encode de-en")
    ap.add_argument("--nprobe", type=int, default=DEFAULT_NPROBE, help="mineshaft's --nprobe (approximate indexes)")
    ap.add_argument("--recall-sample", type=int, default=2000, help="source rows given an exact reference")
    ap.add_argument("--no-baseline", action="store_true", help="skip the LASER-style baseline")
    ap.add_argument("--json", help="write all numbers here")
    a = ap.parse_args()
    results = {}
    if a.what in ("encode", "all"):
        results["encode"] = bench_encode(a.n_encode)
    if a.what in ("mine", "all"):
        results["mine"] = bench_mine(a.sizes, index=a.index, data=a.data, emb=a.emb, sample=a.recall_sample,
                                     baseline=not a.no_baseline, nprobe=a.nprobe)
    if a.what in ("recall", "all"):
        results["recall"] = bench_recall()
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
