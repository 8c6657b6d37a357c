"""Search by half-precision products on torch (bf16 on CPU, fp16 on a GPU): the database held once on the device
(:class:`Resident`), the k best over its blocks (:func:`topk_over_blocks`, also exact fp32 search), and the IVF of
``--index ivfN`` (:class:`TorchIVF`), all driven by :class:`~mineshaft.mining.search.Searcher`. torch is imported
where it runs: a search that never gets here (faiss flat) does not load it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..npy import release_pages
from .search_blocks import canonical, f32, nonzero, prefetch

# memory-mapped inputs and stores are read-only, and this module never writes into what it is given: torch's warning
# about such arrays (which -q cannot hide) says nothing to a user here
warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning,
                        module=__name__)


def half_device():
    """(device, dtype) of half-precision search: fp16 on a CUDA GPU (tensor cores), else bf16 on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device()), torch.float16
    return torch.device("cpu"), torch.bfloat16


class Resident:
    """A database converted once: half-precision rows on the device (+ fp32 on a GPU) and row norms."""

    def __init__(self, blocks: Sequence[np.ndarray], dev, dtype, keep_fp32: bool):
        import torch

        n, dim = sum(b.shape[0] for b in blocks), blocks[0].shape[1]
        self.half = torch.empty((n, dim), dtype=dtype, device=dev)
        self.full = torch.empty((n, dim), dtype=torch.float32, device=dev) if keep_fp32 else None
        self.norms = torch.empty(n, device=dev)
        for offset, part in prefetch(blocks, 65536):
            t = torch.from_numpy(part).to(dev)
            self.half[offset : offset + len(t)] = t.to(dtype)
            self.norms[offset : offset + len(t)] = t.norm(dim=1)
            if self.full is not None:
                self.full[offset : offset + len(t)] = t

    def blocks(self, rows: int):
        for a in range(0, len(self.half), rows):
            yield a, self.half[a : a + rows], self.norms[a : a + rows]

    def rescore(self, q: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """fp32 similarities of the candidates, computed on the device in float64 (-inf for id -1)."""
        import torch

        qt = torch.from_numpy(q).to(self.full.device, torch.float64)
        ci = torch.from_numpy(cand).to(self.full.device)
        out = []
        for a in range(0, len(q), 65536):
            rows = self.full[ci[a : a + 65536].clamp(min=0)].double()
            out.append(torch.einsum("qd,qkd->qk", qt[a : a + 65536], rows).float())
        d = torch.cat(out).cpu().numpy()
        d[cand < 0] = -np.inf
        return d, cand.copy()


def topk_over_blocks(q: np.ndarray, parts, kp: int, dev, dtype):
    """Top-``kp`` database ids of each query by products in ``dtype`` (bf16/fp16: candidates for the half-precision
    search; float32: the exact ``torch`` index), best first (-inf, -1 pad): each block's top-k merged into the best
    so far, the one blocked merge of the torch backends.

    ``parts``: (offset, float32 numpy block) or (offset, half tensor, norms) on the device.
    Returns (similarities as float32, ids, max database row norm). Zero rows never match.
    """
    import torch

    qt = torch.from_numpy(q).to(dev).to(dtype)
    best_d = torch.full((q.shape[0], kp), -float("inf"), device=dev)
    best_i = torch.full((q.shape[0], kp), -1, dtype=torch.int64, device=dev)
    norm = 0.0
    for item in parts:
        if len(item) == 3:
            offset, db, norms = item
        else:
            offset, part = item
            db = torch.from_numpy(part)
            if dev.type == "cuda":
                db = db.pin_memory().to(dev, non_blocking=True)
            norms = db.norm(dim=1)
        norm = max(norm, float(norms.max()))
        sims = qt @ db.to(dtype).T  # stays in ``dtype``: the half-precision search's bound covers its rounding
        zero = norms == 0
        if bool(zero.any()):
            sims[:, zero] = -float("inf")
        d, i = sims.topk(min(kp, db.shape[0]), dim=1)
        d = d.float()
        i = torch.where(d == -float("inf"), -1, i + offset)
        best_d, pos = torch.cat([best_d, d], 1).topk(kp, dim=1)
        best_i = torch.cat([best_i, i], 1).gather(1, pos)
    return best_d.cpu().numpy(), best_i.cpu().numpy(), norm


def spherical_kmeans(sample: np.ndarray, nlist: int, niter: int, seed: int, gpu: bool = False) -> np.ndarray:
    """``nlist`` unit centroids of the (float32) rows of ``sample`` by faiss's spherical k-means (``niter`` Lloyd
    iterations from a seeded draw of rows; an empty list is re-seeded by splitting a big one), on the GPU where faiss
    has one. On USE vectors of 29k translation pairs (2026-12-06) it puts the translation in a query's probed lists as
    often as the torch k-means it replaced (nprobe 1 of 64 lists: 36.9% vs 36.3%, 4 of 64: 59.8% vs 59.2%, 4 of 256:
    47.5% both) in no more time on CPU."""
    import faiss

    if not len(sample):
        return np.zeros((1, sample.shape[1]), np.float32)  # an all-zero database: one list, never searched
    x = np.ascontiguousarray(sample / np.linalg.norm(sample, axis=1, keepdims=True), dtype=np.float32)
    gpu = gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    km = faiss.Kmeans(x.shape[1], nlist, niter=niter, spherical=True, seed=seed, gpu=gpu, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=len(x))  # the sample is already drawn
    km.train(x)
    return km.centroids


class TorchIVF:
    """k-means lists (spherical, faiss's k-means on a bounded sample) searched with half-precision products.

    Each query visits its ``nprobe`` nearest lists; every list is searched as matrix products with
    the queries that visit it (BLAS/tensor-core speed, not one vector at a time), each list's best
    few kept per query, and the top-k' of a query's candidates re-scored in fp32. The rows are held
    in list order in the shards' own half precision (fp16: an exact copy, which re-scoring reads) or
    bf16 for fp32 shards (re-scored from the shards). On CPU the products run in bf16 (AMX), with
    shapes rounded up to a few buckets so that oneDNN's compiled kernels are reused (a new shape
    costs ~5 ms to compile: one per list and query block made the products 10x slower).
    Approximate: recall is set by ``nprobe``.
    """

    ROWS, COLS = 128, 64  # query rows / list rows of a product are rounded up to multiples of these
    CHUNK = 1024  # query rows per product

    def __init__(self, searcher, nlist: int, train_size: int | None, seed: int, niter: int = 10):
        """Lists from :func:`spherical_kmeans` on a seeded sample of ``searcher``'s database (``train_size`` rows,
        else 40 a list), then every row held in its list's order."""
        import torch

        self.s = searcher
        self.dev, self.dtype = half_device()  # dtype: of the products
        self.exact = all(np.asarray(b[:0]).dtype == np.float16 for b in searcher.blocks)  # held rows = shards'
        self.store = torch.float16 if self.exact or self.dev.type == "cuda" else self.dtype
        n, rng = searcher.n, np.random.default_rng(seed)
        nlist = max(1, min(nlist, n))
        want = min(n, train_size or 40 * nlist)  # faiss asks for at least 39 a centroid
        sample = f32(searcher._gather_sorted(np.sort(rng.choice(n, size=want, replace=False))))
        for b in searcher.blocks:
            release_pages(b)
        sample = sample[nonzero(sample)]
        nlist = max(1, min(nlist, len(sample)))
        cent = spherical_kmeans(sample, nlist, niter, seed, gpu=self.dev.type == "cuda")
        self.cent = torch.from_numpy(cent).to(self.dev).to(self.dtype)
        ids, lists = [], []
        for offset, part in prefetch(searcher.blocks, 65536):
            keep = np.flatnonzero(nonzero(part))
            if len(keep):
                x = torch.from_numpy(part[keep]).to(self.dev).to(self.dtype)
                lists.append((x @ self.cent.T).argmax(dim=1).cpu())
                ids.append(torch.from_numpy(keep + offset))
        lists_t = torch.cat(lists) if lists else torch.zeros(0, dtype=torch.int64)
        ids_t = torch.cat(ids) if ids else torch.zeros(0, dtype=torch.int64)
        order = torch.argsort(lists_t, stable=True)
        self.ids = ids_t[order].to(self.dev)  # global ids, list by list
        self.bounds = np.concatenate([[0], np.cumsum(np.bincount(lists_t.numpy(), minlength=nlist))])
        # COLS spare rows at the end: a product may read past its list (those columns are masked)
        self.data = torch.zeros((len(order) + self.COLS, searcher.dim), dtype=self.store, device=self.dev)
        self.pos = torch.full((n,), -1, dtype=torch.int64, device=self.dev)  # global id -> row of self.data
        self.pos[self.ids] = torch.arange(len(order), device=self.dev)
        for offset, part in prefetch(searcher.blocks, 65536):  # rows in list order
            keep = np.flatnonzero(nonzero(part))
            x = torch.from_numpy(part[keep]).to(self.dev).to(self.store)
            self.data[self.pos[torch.from_numpy(keep + offset).to(self.dev)]] = x
        self.nlist = len(self.cent)
        self.max_norm = max((float(self.data[a : a + 65536].float().norm(dim=1).max())
                             for a in range(0, len(order), 65536)), default=0.0)

    def search(self, q: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """The k' = k + max(4, k) best rows among the visited lists, re-scored: all of them, sorted."""
        import torch

        nprobe = min(nprobe, self.nlist)
        kp = k + max(4, k)  # approximate anyway: fewer spare candidates than `half` needs for its proof
        qt = torch.from_numpy(q).to(self.dev).to(self.dtype)
        probe = (qt @ self.cent.T).topk(nprobe, dim=1).indices  # (nq, nprobe)
        # each list keeps its best `depth` per query (torch's top-k is ~3x faster up to 8); a row where a
        # list was cut at a half-precision similarity equal to or above its k-th best (ties, mostly) is
        # scanned again keeping more. Rounding-level near-ties may stay in half-precision order.
        depth, rows = min(kp, max(8, k)), torch.arange(len(q), device=self.dev)
        ids = torch.full((len(q), kp), -1, dtype=torch.int64, device=self.dev)
        while len(rows):
            cand_d, cand_i, cut = self._candidates(qt[rows], probe[rows], depth)
            best, top = cand_d.topk(min(kp, cand_d.shape[1]), dim=1)
            ids[rows, : top.shape[1]] = cand_i.gather(1, top)
            # a list that was cut (its cut is finite) may hold better rows than the k-th best; an uncut list
            # (-inf) holds nothing more, also where the visited lists hold fewer than k rows in all
            unsure = (torch.isfinite(cut) & (cut >= best[:, min(k, best.shape[1]) - 1, None])).any(dim=1)
            rows, depth = rows[unsure], 2 * depth
        d, i = self._rescore(q, ids, k) if self.exact else self.s._rescore(q, ids.cpu().numpy())
        return canonical(d, i)  # all k' (>= k): ties at the k-th place are settled among them

    def _candidates(self, qt, probe, depth: int):
        """Each query's best ``depth`` rows of each probed list by half-precision products.

        Returns (similarities, ids) of shape (nq, nprobe·depth), -inf/-1 where a list had fewer,
        and ``cut`` (nq, nprobe): the last kept similarity of a list that had more rows, else -inf.
        """
        import torch

        nq, nprobe = probe.shape
        slots = torch.argsort(probe.flatten(), stable=True)  # (query, probe) slots, list by list
        counts = torch.bincount(probe.flatten(), minlength=self.nlist).cpu().numpy()
        starts = np.concatenate([[0], np.cumsum(counts)])
        cand_d = torch.full((nq * nprobe, depth), -float("inf"), dtype=self.dtype, device=self.dev)
        cand_i = torch.full((nq * nprobe, depth), -1, dtype=torch.int64, device=self.dev)
        cut = torch.full((nq * nprobe,), -float("inf"), dtype=self.dtype, device=self.dev)
        up = lambda x, m: -(-x // m) * m  # noqa: E731
        for lst in np.flatnonzero(counts):
            lo, n = int(self.bounds[lst]), int(self.bounds[lst + 1] - self.bounds[lst])
            if n == 0:
                continue
            block = self.data[lo : lo + up(n, self.COLS)].to(self.dtype)
            here = slots[starts[lst] : starts[lst + 1]]
            for c in range(0, len(here), self.CHUNK):
                sl = here[c : c + self.CHUNK]
                qi = torch.nn.functional.pad(sl // nprobe, (0, up(len(sl), self.ROWS) - len(sl)))
                sims = qt[qi] @ block.T  # in half precision: candidates only, re-scored later
                sims[:, n:] = -float("inf")
                d, i = sims[: len(sl)].topk(min(depth, n), dim=1)
                cand_d[sl, : d.shape[1]] = d
                cand_i[sl, : d.shape[1]] = self.ids[lo + i]
                if n > depth:
                    cut[sl] = d[:, -1]
        return cand_d.view(nq, -1), cand_i.view(nq, -1), cut.view(nq, nprobe)

    def _rescore(self, q: np.ndarray, cand, k: int) -> tuple[np.ndarray, np.ndarray]:
        """fp32 similarities of the candidate ids (a tensor; -1: missing) from the held exact rows.

        Computed in fp32 (batched products); a row where two of its k+1 best are closer than the fp32
        summation bound (n·2⁻²⁴·|q|·|x| each) is computed again in float64, so its k best are the
        correctly rounded ones, as the half-precision path gives.
        """
        import torch

        qt = torch.from_numpy(q).to(self.dev)
        d = torch.empty(cand.shape, device=self.dev)
        bound = 2 * q.shape[1] * 2.0**-24 * self.max_norm
        for a in range(0, len(q), 8192):
            c, qa = cand[a : a + 8192].clamp(min=0), qt[a : a + 8192]
            rows = self.data[self.pos[c]].float()  # (b, k', dim)
            da = torch.bmm(rows, qa[:, :, None])[:, :, 0]
            s = da.topk(min(k + 1, da.shape[1]), dim=1).values
            near = ((s[:, :-1] - s[:, 1:]) <= bound * qa.norm(dim=1, keepdim=True)).any(dim=1)
            if bool(near.any()):
                da[near] = torch.bmm(rows[near].double(), qa[near].double()[:, :, None])[:, :, 0].float()
            d[a : a + 8192] = da
        d, cand = d.cpu().numpy(), cand.cpu().numpy()
        d[cand < 0] = -np.inf
        return d, cand


__all__ = ["half_device", "Resident", "topk_over_blocks", "spherical_kmeans", "TorchIVF"]
