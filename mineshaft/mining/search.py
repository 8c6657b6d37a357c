"""k-nearest-neighbour search by inner product (cosine on unit vectors).

- ``flat``: exact FAISS search. The database is searched in blocks sized to a
  memory budget and partial results are merged with a heap (as
  ``faiss.contrib.exhaustive_search`` does), so it scales past RAM.
- ``half``: exact search by bf16 (CPU) / fp16 (GPU) products, candidates re-scored in fp32.
- ``ivf<nlist>``: k-means lists held in half precision, searched by the same products (approximate).
- any FAISS index-factory string (``"IVF4096,PQ32"``, ``"OPQ32,IVF4096,PQ32"``):
  approximate search, trained on a sample of the database.
- ``auto``: one of the above by cost (:func:`auto_index`).
- ``torch``: exact search as a torch matrix product + top-k, on the GPU when
  one is present (a fallback where faiss has no GPU build); also runs on CPU.

Databases and queries are lists of 2-D blocks (memory-mapped shards are fine):
only one block is converted to float32 at a time.

Every backend answers the same way: each row is sorted by similarity, ties broken
by database id (smaller first, also at the k-th place); a neighbour not found
(an approximate index visited too few vectors) is id -1 with similarity -inf,
after the found ones. All-zero rows (empty sentences) are never neighbours, and
an all-zero query finds none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import UsageError
from ..npy import release_pages

FLOAT_BYTES = 4
#: IVF lists visited per query unless told (``--nprobe``): 32 of ``ivf_lists``' 2048 at 1M keeps 96-99% of
#: the pairs exact search mines at margins >= 1.1 on real sentence vectors (16: 93-98%; README)
DEFAULT_NPROBE = 32


def faiss_gpu_available() -> bool:
    """True when the installed faiss was built with GPU support and sees a GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


#: exact-search work (2·N·M·d multiply-adds, both directions of a mining job) done without asking:
#: about a minute of bf16 matrix products on 2 CPU cores, well under one on one GPU.
CPU_EXACT_FLOPS = 2e13
GPU_EXACT_FLOPS = 4e16


def on_gpu() -> bool:
    """True when torch sees a CUDA device (imports torch: call only when about to search)."""
    import torch

    return torch.cuda.is_available()


def auto_index(n: int, dim: int, queries: int | None = None, gpu: bool | None = None,
               memory: int = 2 << 30) -> str:
    """The index ``--index auto`` uses for ``n`` database vectors searched by ``queries`` (default ``n``) ones.

    Chosen by cost: ``half`` (exact: half-precision products, candidates re-scored in fp32, the same
    neighbours as ``flat``; bf16 on CPU, fp16 on a GPU) while its 2·N·M·d products, both directions,
    fit a time budget (:data:`CPU_EXACT_FLOPS`, :data:`GPU_EXACT_FLOPS`). Beyond: ``ivf<nlist>``
    (k-means lists held in half precision and searched by bf16/fp16 products, candidates re-scored in
    fp32) while the held copy fits ``memory`` (8 GB on a GPU); beyond that, FAISS IVF with 8-bit
    scalar codes while they fit 8 GB, IVF-PQ after (PQ loses many exact neighbours: see the README's
    recall table). Approximate indexes' recall is set by ``nprobe``.
    """
    m = n if queries is None else queries
    gpu = on_gpu() if gpu is None else gpu
    if 2 * 2.0 * n * m * dim <= (GPU_EXACT_FLOPS if gpu else CPU_EXACT_FLOPS):
        return "half"
    if n * dim * 2 <= (8 * 2**30 if gpu else memory):  # the half-precision lists fit
        return f"ivf{ivf_lists(n)}"
    nlist = int(min(65536, max(1024, 4 * np.sqrt(n))))
    if n * dim <= 8 * 2**30:
        return f"IVF{nlist},SQ8"
    pq = next(m for m in (64, 48, 32, 24, 16, 8) if dim % m == 0)
    return f"OPQ{pq},IVF{nlist},PQ{pq}"


def ivf_lists(n: int) -> int:
    """Number of k-means lists for ``n`` vectors: about 2·sqrt(n), a power of two, 64..65536.

    More lists cost more to train and assign (matrix products, cheap in half precision) but
    shrink what each probe scans (the top-k pass over every scanned similarity dominates).
    """
    return int(2 ** np.clip(np.round(np.log2(max(n, 1)) / 2) + 1, 6, 16))


def own_kind(index: str) -> bool:
    """True for the indexes mineshaft implements itself (not faiss factory strings)."""
    return index in ("flat", "torch", "half", "auto") or re.fullmatch(r"ivf\d+", index) is not None


def check_factory(factory: str) -> None:
    """Fail early (before any encoding) on an index string faiss cannot build."""
    if own_kind(factory):
        return
    import faiss

    error = ""
    for dim in (384, 512, 768, 1024):  # the dimension is not known yet: valid for any common one is enough
        try:
            faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
            return
        except RuntimeError as exc:
            error = error or str(exc).strip().splitlines()[0]
    raise UsageError(f"--index {factory!r} is not a valid faiss index factory string: {_faiss_message(error)}")


def _f32(block: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(block, dtype=np.float32)


def _f32_once(block: np.ndarray) -> np.ndarray:
    """``block`` as float32 for a single pass: a memory-mapped block's pages leave the resident set after."""
    out = _f32(block)
    release_pages(block)
    return out


def _nonzero(block: np.ndarray) -> np.ndarray:
    """Mask of the rows that are not all zero (zero rows are empty sentences: never searched or found)."""
    return np.asarray(block).any(axis=1)


def canonical(sims: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing neighbours as (-inf, -1); each row sorted by similarity, then by id, missing last."""
    ids = np.asarray(ids, dtype=np.int64)
    missing = ids < 0
    sims = np.where(missing, np.float32(-np.inf), np.asarray(sims, dtype=np.float32))
    ids = np.where(missing, -1, ids)
    key = np.where(missing, np.iinfo(np.int64).max, ids)
    order = np.lexsort((key, -sims), axis=-1)
    return np.take_along_axis(sims, order, 1), np.take_along_axis(ids, order, 1)


def _to_gpu(index):
    import faiss

    if not faiss_gpu_available():
        raise UsageError("--gpu asked for, but faiss has no GPU support here (pip install 'mineshaft[gpu]')")
    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)


def _row_blocks(blocks: Sequence[np.ndarray], max_rows: int):
    """Re-cut a list of blocks into consecutive slices of at most ``max_rows`` rows: (offset, slice)."""
    offset = 0
    for block in blocks:
        for start in range(0, block.shape[0], max_rows):
            part = block[start : start + max_rows]
            yield offset + start, part
        offset += block.shape[0]


class Searcher:
    """Answers k-NN queries against a fixed database (a list of blocks)."""

    def __init__(self, database: Sequence[np.ndarray], index: str = "flat", nprobe: int = DEFAULT_NPROBE,
                 memory: int = 2 << 30, gpu: bool = False, train_size: int | None = None, seed: int = 0):
        self.blocks = [b for b in database if b.shape[0]]
        if not self.blocks:
            raise UsageError("the database to search is empty")
        self.dim = self.blocks[0].shape[1]
        self.n = sum(b.shape[0] for b in self.blocks)
        self.kind = auto_index(self.n, self.dim, memory=memory) if index == "auto" else index
        self.nprobe, self.gpu = nprobe, gpu
        # rows of float32 database held at once: half the budget (queries and results use the rest)
        self.block_rows = max(1024, int(memory // 2 // (self.dim * FLOAT_BYTES)))
        self.train_size, self.seed, self.memory = train_size, seed, memory
        self._index = None
        self._ids: np.ndarray | None = None  # global id of each indexed row, when zero rows were left out
        self._ivf: _TorchIVF | None = None
        self._resident: _Resident | bool | None = None  # half-precision database on the device (kind "half")
        self._built = False

    def build(self) -> Searcher:
        """Build the index now (it is otherwise built on the first search)."""
        if not self._built:
            if self.kind == "flat" and self.n <= self.block_rows:
                data = np.concatenate([_f32(b) for b in self.blocks])
                keep = _nonzero(data)
                self._ids = None if keep.all() else np.flatnonzero(keep)
                self._index = self._flat(data[keep] if self._ids is not None else data)
            elif self.kind.startswith("ivf") and own_kind(self.kind):
                self._ivf = _TorchIVF(self, int(self.kind[3:]), self.train_size, self.seed)
            elif self.kind not in ("flat", "torch", "half"):
                self._index = self._approximate(self.kind, self.train_size, self.seed)
            self._built = True
        return self

    @property
    def in_memory(self) -> bool:
        """True when searching needs only the built index, not the database blocks."""
        return self.build()._index is not None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_resident"] = None  # device tensors are rebuilt where the search runs
        if self.in_memory:
            state["blocks"] = []  # the index holds everything a search needs
        return state

    # -- index construction -----------------------------------------------------------------------
    def _flat(self, data: np.ndarray):
        import faiss

        index = faiss.IndexFlatIP(self.dim)
        if self.gpu:
            index = _to_gpu(index)
        index.add(data)
        return index

    def _approximate(self, factory: str, train_size: int | None, seed: int):
        import faiss

        try:
            index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise UsageError(f"--index {factory!r} is not a valid faiss index factory string: {_faiss_message(exc)}") from None
        nlist = getattr(faiss.extract_index_ivf(index), "nlist", 1) if "IVF" in factory else 1
        want = train_size or min(self.n, max(32 * nlist, 50_000))
        if self.n < nlist * 39:
            raise UsageError(f"--index {factory!r} needs at least {nlist * 39} database vectors to train, have {self.n}")
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(self.n, size=min(want, self.n), replace=False))
        if self.gpu:
            index = _to_gpu(index)
        index.train(self._gather_sorted(sample))
        kept = []
        for offset, part in _row_blocks(self.blocks, 65536):
            part = _f32_once(part)
            keep = _nonzero(part)
            index.add(part[keep])
            kept.append(offset + np.flatnonzero(keep))
        ids = np.concatenate(kept)
        self._ids = None if len(ids) == self.n else ids
        if "IVF" in factory:
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", self.nprobe)
        return index

    # -- search -----------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k best database rows for each query row, best first: (similarities, indices).

        Ties are broken by database id (smaller first), also at the k-th place: a row
        whose k-th and next similarities are equal is searched again with more neighbours
        until the boundary is clear. Missing neighbours are (-inf, -1), at the end.
        """
        if queries.shape[1] != self.dim:
            raise UsageError(f"dimension mismatch: queries have {queries.shape[1]}, database {self.dim}")
        k = min(k, self.n)
        q = _f32(queries)
        self.build()
        sims = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((q.shape[0], k), -1, dtype=np.int64)
        rows = np.flatnonzero(_nonzero(q))  # an all-zero query finds nothing
        # faiss's GPU k limit: ties past it stay in faiss's order
        limit = max(k, min(self.n, 2048)) if self.gpu else self.n
        kk = min(k + 1, limit)
        while len(rows):
            d, i = canonical(*self._search(q[rows], kk))
            got = d.shape[1]  # a backend may answer with more than kk (the IVF: all it re-scored)
            found = (i >= 0).sum(axis=1)
            # the k-th place is settled unless a neighbour just past it ties with it
            open_ = (got < limit) & (found == got) & (d[:, k - 1] == d[:, got - 1])
            done = rows[~open_]
            sims[done], ids[done] = d[~open_, :k], i[~open_, :k]
            rows, kk = rows[open_], min(2 * got, limit)
        return sims, ids

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Any valid k best (ties in any order; missing ids negative): the backend's raw answer."""
        if self._index is not None:
            d, i = self._index.search(q, k)
            if self._ids is not None:  # zero rows were left out: local row -> database id
                found = (i >= 0) & (len(self._ids) > 0)
                i = np.where(found, self._ids[np.where(found, i, 0)] if len(self._ids) else -1, -1)
            return d, i
        if self.kind == "torch":
            return self._torch_search(q, k)
        if self.kind == "half":
            return self._half_search(q, k)
        if self._ivf is not None:
            return self._ivf.search(q, k, self.nprobe)
        return self._flat_search(q, k)

    def _flat_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact float32 search block by block (FAISS), merged with a heap."""
        import faiss

        heap = faiss.ResultHeap(q.shape[0], k, keep_max=True)
        for offset, part in _row_blocks(self.blocks, self.block_rows):
            part = _f32_once(part)
            keep = _nonzero(part)
            local = np.flatnonzero(keep) + offset
            if not len(local):
                continue
            kb = min(k, len(local))
            d, i = self._flat(part[keep] if len(local) < len(part) else part).search(q, kb)
            i = np.where(i >= 0, local[np.maximum(i, 0)], -1)
            if kb < k:  # pad a short block so every result has k columns
                d = np.pad(d, ((0, 0), (0, k - kb)), constant_values=-np.inf)
                i = np.pad(i, ((0, 0), (0, k - kb)), constant_values=-1)
            heap.add_result(np.ascontiguousarray(d, dtype=np.float32), np.ascontiguousarray(i, dtype=np.int64))
        heap.finalize()
        return heap.D, heap.I

    def _torch_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        qt = torch.from_numpy(q).to(dev)
        best_d = torch.full((q.shape[0], k), -float("inf"), device=dev)
        best_i = torch.full((q.shape[0], k), -1, dtype=torch.int64, device=dev)
        for offset, part in _row_blocks(self.blocks, self.block_rows):
            db = torch.from_numpy(_f32(part)).to(dev)
            sims = qt @ db.T
            zero = ~db.any(dim=1)
            if bool(zero.any()):
                sims[:, zero] = -float("inf")  # zero rows are never neighbours
            d, i = sims.topk(min(k, part.shape[0]), dim=1)
            i = torch.where(d == -float("inf"), -1, i + offset)
            cat_d, cat_i = torch.cat([best_d, d], 1), torch.cat([best_i, i], 1)
            best_d, pos = cat_d.topk(k, dim=1)
            best_i = cat_i.gather(1, pos)
        return best_d.cpu().numpy(), best_i.cpu().numpy()

    # -- half precision: candidates from bf16/fp16 products, re-scored in fp32 ---------------------
    def _half_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search: top-k' candidates by half-precision products, re-scored in fp32.

        A row is answered from its candidates only when the fp32 k-th similarity beats the
        k'-th candidate's half-precision one by more than the rounding bound (no vector left
        out can be closer); other rows are searched again in fp32. The answer is the fp32 one.
        """
        import torch

        dev, dtype = half_device()
        kp = min(self.n, k + max(8, k))
        rows = self._half_rows(dev, q.shape[0])
        res = self._resident_db(dev, dtype)
        parts = _prefetch(self.blocks, rows) if res is None else res.blocks(rows)
        cand_d, cand_i, db_norm = _half_topk(q, parts, kp, dev, dtype)
        d, i = self._rescore(q, cand_i) if res is None or res.full is None else res.rescore(q, cand_i)
        # |half - fp32| <= (2u + u) |q| |x| (inputs and output rounded) + fp32 accumulation
        u = 2.0**-8 if dtype == torch.bfloat16 else 2.0**-11
        bound = (3 * u + 1e-6) * np.linalg.norm(q, axis=1) * db_norm + 1e-6
        full = (cand_i >= 0).all(axis=1) & (kp < self.n)  # some vectors were left out
        kth = np.sort(d, axis=1)[:, -k] if k <= d.shape[1] else np.full(len(q), -np.inf)
        unsure = full & ~(kth > cand_d[:, -1] + bound)
        if unsure.any():
            d2, i2 = self._flat_search(q[unsure], kp)
            d[unsure], i[unsure] = d2, i2
        d, i = canonical(d, i)
        return d[:, :k], i[:, :k]

    def _resident_db(self, dev, dtype) -> _Resident | None:
        """The database held on the device in half precision (and fp32 on a GPU, for re-scoring),
        converted once for every query block, when it fits: half the free GPU memory, or a
        quarter of ``memory`` on CPU."""
        if self._resident is None:
            if dev.type == "cuda":
                import torch

                fits = self.n * self.dim * 6 <= torch.cuda.mem_get_info(dev)[0] // 2
            else:
                fits = self.n * self.dim * 2 <= self.memory // 4
            self._resident = _Resident(self.blocks, dev, dtype, keep_fp32=dev.type == "cuda") if fits else False
        return self._resident or None

    def _half_rows(self, dev, n_queries: int) -> int:
        """Database rows a half-precision block holds: from free GPU memory on a GPU, else the budget."""
        if dev.type == "cuda":
            import torch

            free, _ = torch.cuda.mem_get_info(dev)
            # a block costs its fp32 upload + half copy + one fp32/half similarity column per query
            per_row = self.dim * 6 + n_queries * 6
            return max(1024, int(free * 0.6 // per_row))
        return max(1024, int(self.memory // 2 // (self.dim * 2 + n_queries * 4)))

    def _rescore(self, q: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """fp32 similarities of the candidate ids (-1: missing, -inf)."""
        d = np.empty(cand.shape, dtype=np.float32)
        step = max(1, 2**22 // max(1, cand.shape[1] * self.dim))  # ~32 MB of float64 rows at a time
        for a in range(0, len(q), step):
            c = cand[a : a + step]
            rows = self._rows(np.maximum(c, 0).ravel()).reshape(*c.shape, -1)
            d[a : a + step] = np.einsum("qd,qkd->qk", q[a : a + step].astype(np.float64), rows.astype(np.float64))
        d[cand < 0] = -np.inf
        return d, cand.copy()

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Database rows by global id (any order, repeats allowed) as float32."""
        order = np.argsort(ids, kind="stable")
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        out[order] = self._gather_sorted(ids[order])
        return out

    def _gather_sorted(self, rows: np.ndarray) -> np.ndarray:
        """Database rows by global id (sorted ascending) as float32, one block at a time."""
        out, offset = [np.empty((0, self.dim), dtype=np.float32)], 0
        for b in self.blocks:
            lo, hi = np.searchsorted(rows, [offset, offset + b.shape[0]])
            if hi > lo:
                out.append(_f32(b[rows[lo:hi] - offset]))
            offset += b.shape[0]
        return np.concatenate(out)


def half_device():
    """(device, dtype) of half-precision search: fp16 on a CUDA GPU (tensor cores), else bf16 on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device()), torch.float16
    return torch.device("cpu"), torch.bfloat16


def _prefetch(blocks: Sequence[np.ndarray], max_rows: int):
    """(offset, float32 block) with the next block read and converted in a thread while this one is used."""
    from concurrent.futures import ThreadPoolExecutor

    parts = iter(_row_blocks(blocks, max_rows))
    with ThreadPoolExecutor(1) as pool:
        load = lambda item: (item[0], _f32_once(item[1])) if item is not None else None  # noqa: E731
        nxt = pool.submit(load, next(parts, None))
        while (cur := nxt.result()) is not None:
            nxt = pool.submit(load, next(parts, None))
            yield cur


class _Resident:
    """A database converted once: half-precision rows on the device (+ fp32 on a GPU) and row norms."""

    def __init__(self, blocks: Sequence[np.ndarray], dev, dtype, keep_fp32: bool):
        import torch

        n, dim = sum(b.shape[0] for b in blocks), blocks[0].shape[1]
        self.half = torch.empty((n, dim), dtype=dtype, device=dev)
        self.full = torch.empty((n, dim), dtype=torch.float32, device=dev) if keep_fp32 else None
        self.norms = torch.empty(n, device=dev)
        for offset, part in _prefetch(blocks, 65536):
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


def _half_topk(q: np.ndarray, parts, kp: int, dev, dtype):
    """Top-``kp`` database ids of each query by half-precision products, best first (-inf, -1 pad).

    ``parts``: (offset, float32 numpy block) or (offset, half tensor, norms) on the device.
    Returns (half similarities as float32, ids, max database row norm). Zero rows never match.
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
        sims = qt @ db.to(dtype).T  # stays in half precision: the bound covers its rounding
        zero = norms == 0
        if bool(zero.any()):
            sims[:, zero] = -float("inf")
        d, i = sims.topk(min(kp, db.shape[0]), dim=1)
        d = d.float()
        i = torch.where(d == -float("inf"), -1, i + offset)
        best_d, pos = torch.cat([best_d, d], 1).topk(kp, dim=1)
        best_i = torch.cat([best_i, i], 1).gather(1, pos)
    return best_d.cpu().numpy(), best_i.cpu().numpy(), norm


class _TorchIVF:
    """k-means lists (spherical, trained on a bounded sample) searched with half-precision products.

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

    def __init__(self, searcher: Searcher, nlist: int, train_size: int | None, seed: int, niter: int = 10):
        import torch

        self.s = searcher
        self.dev, self.dtype = half_device()  # dtype: of the products
        self.exact = all(np.asarray(b[:0]).dtype == np.float16 for b in searcher.blocks)  # held rows = shards'
        self.store = torch.float16 if self.exact or self.dev.type == "cuda" else self.dtype
        n, rng = searcher.n, np.random.default_rng(seed)
        nlist = max(1, min(nlist, n))
        want = min(n, train_size or 40 * nlist)  # faiss asks for at least 39 a centroid
        sample = _f32(searcher._gather_sorted(np.sort(rng.choice(n, size=want, replace=False))))
        for b in searcher.blocks:
            release_pages(b)
        sample = torch.from_numpy(sample[_nonzero(sample)]).to(self.dev)
        sample = torch.nn.functional.normalize(sample, dim=1).to(self.dtype)
        nlist = max(1, min(nlist, len(sample)))
        gen = torch.Generator().manual_seed(seed)
        cent = sample[torch.randperm(len(sample), generator=gen)[:nlist].to(self.dev)].float()
        for _ in range(niter):
            c = cent.to(self.dtype).T
            a = torch.cat([(sample[s : s + 16384] @ c).argmax(dim=1) for s in range(0, len(sample), 16384)])
            new = torch.zeros_like(cent).index_add_(0, a, sample.float())
            empty = new.norm(dim=1) == 0
            new[empty] = cent[empty]  # an empty list keeps its centre
            cent = torch.nn.functional.normalize(new, dim=1)
        self.cent = cent.to(self.dtype)
        ids, lists = [], []
        for offset, part in _prefetch(searcher.blocks, 65536):
            keep = np.flatnonzero(_nonzero(part))
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
        for offset, part in _prefetch(searcher.blocks, 65536):  # rows in list order
            keep = np.flatnonzero(_nonzero(part))
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
            unsure = (cut >= best[:, min(k, best.shape[1]) - 1, None]).any(dim=1)
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


def knn(
    queries: np.ndarray | Sequence[np.ndarray],
    database: np.ndarray | Sequence[np.ndarray],
    k: int,
    index: str = "flat",
    nprobe: int = DEFAULT_NPROBE,
    memory: int = 2 << 30,
    gpu: bool = False,
    block_size: int = 65536,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest database rows of each query row by inner product, best first.

    Returns ``(similarities, indices)``, both ``(n_queries, min(k, n_database))``.
    """
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    qblocks = [queries] if isinstance(queries, np.ndarray) else list(queries)
    searcher = Searcher([database] if isinstance(database, np.ndarray) else database, index=index,
                        nprobe=nprobe, memory=memory, gpu=gpu)
    n = sum(b.shape[0] for b in qblocks)
    kk = min(k, searcher.n)
    sims = np.empty((n, kk), dtype=np.float32)
    ids = np.empty((n, kk), dtype=np.int64)
    for offset, part in _row_blocks(qblocks, block_size):
        sims[offset : offset + len(part)], ids[offset : offset + len(part)] = searcher.search(part, kk)
        if progress is not None:
            progress(len(part))
    return sims, ids


def _faiss_message(error) -> str:
    """faiss's own words without its C++ location prefix ("Error in <signature> at <file>:<line>: ...")."""
    import re

    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
