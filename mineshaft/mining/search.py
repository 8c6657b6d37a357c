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
from .search_blocks import canonical, f32, f32_once, nonzero, prefetch, row_blocks
from .search_half import Resident, TorchIVF, half_device, topk_over_blocks

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


#: factory strings that faiss accepts but that fail after all the encoding, or abort the process: (pattern, why)
_FACTORY_TRAPS = (
    (r"(?<![A-Za-z])HNSW[01](?!\d)", "HNSW needs at least 2 links a node (HNSW32 is usual)"),
    (r"(?<![A-Za-z])IVF0+(?!\d)", "IVF needs at least one list (IVF1024,Flat for example)"),
    (r"(?<![A-Za-z])IDMap", "IDMap indexes take ids, which mineshaft gives itself: leave IDMap out"),
)


def check_factory(factory: str) -> None:
    """Fail early (before any encoding) on an index string faiss cannot build."""
    if re.fullmatch(r"ivf0+", factory):
        raise UsageError(f"--index {factory!r}: ivfN needs at least one list (ivf1024 for example)")
    if own_kind(factory):
        return
    for pattern, why in _FACTORY_TRAPS:  # strings faiss builds but then fails on, or crashes the process with
        if re.search(pattern, factory):
            raise UsageError(f"--index {factory!r}: {why}")
    import faiss

    error = ""
    for dim in (384, 512, 768, 1024):  # the dimension is not known yet: valid for any common one is enough
        try:
            faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
            return
        except RuntimeError as exc:
            error = error or str(exc).strip().splitlines()[0]
    raise UsageError(f"--index {factory!r} is not a valid faiss index factory string: {_faiss_message(error)}")


def check_trainable(factory: str, n: int) -> None:
    """Refuse (before any encoding, where the sizes are known) a faiss IVF factory string whose lists cannot be
    trained on a database of ``n`` vectors: faiss wants 39 a list."""
    found = None if own_kind(factory) else re.search(r"IVF(\d+)", factory)
    if found and n < int(found.group(1)) * 39:
        raise UsageError(f"--index {factory!r} needs at least {int(found.group(1)) * 39} database vectors to train, "
                         f"have {n}")


def _to_gpu(index):
    import faiss

    if not faiss_gpu_available():
        raise UsageError("--gpu asked for, but faiss has no GPU support here (pip install 'mineshaft[gpu]')")
    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)


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
        self._ivf: TorchIVF | None = None
        self._resident: Resident | bool | None = None  # half-precision database on the device (kind "half")
        self._built = False

    def build(self) -> Searcher:
        """Build the index now (it is otherwise built on the first search)."""
        if not self._built:
            if self.kind == "flat" and self.n <= self.block_rows:
                data = np.concatenate([f32(b) for b in self.blocks])
                keep = nonzero(data)
                self._ids = None if keep.all() else np.flatnonzero(keep)
                self._index = self._flat(data[keep] if self._ids is not None else data)
            elif self.kind.startswith("ivf") and own_kind(self.kind):
                self._ivf = TorchIVF(self, int(self.kind[3:]), self.train_size, self.seed)
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
        check_trainable(factory, self.n)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(self.n, size=min(want, self.n), replace=False))
        if self.gpu:
            index = _to_gpu(index)
        index.train(self._gather_sorted(sample))
        kept = []
        for offset, part in row_blocks(self.blocks, 65536):
            part = f32_once(part)
            keep = nonzero(part)
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
        q = f32(queries)
        self.build()
        sims = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((q.shape[0], k), -1, dtype=np.int64)
        rows = np.flatnonzero(nonzero(q))  # an all-zero query finds nothing
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
        for offset, part in row_blocks(self.blocks, self.block_rows):
            part = f32_once(part)
            keep = nonzero(part)
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
        """Exact fp32 search as torch products (on the GPU when there is one), block by block."""
        import torch

        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        parts = ((offset, f32(part)) for offset, part in row_blocks(self.blocks, self.block_rows))
        d, i, _ = topk_over_blocks(q, parts, k, dev, torch.float32)
        return d, i

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
        parts = prefetch(self.blocks, rows) if res is None else res.blocks(rows)
        cand_d, cand_i, db_norm = topk_over_blocks(q, parts, kp, dev, dtype)
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

    def _resident_db(self, dev, dtype) -> Resident | None:
        """The database held on the device in half precision (and fp32 on a GPU, for re-scoring),
        converted once for every query block, when it fits: half the free GPU memory, or a
        quarter of ``memory`` on CPU."""
        if self._resident is None:
            if dev.type == "cuda":
                import torch

                fits = self.n * self.dim * 6 <= torch.cuda.mem_get_info(dev)[0] // 2
            else:
                fits = self.n * self.dim * 2 <= self.memory // 4
            self._resident = Resident(self.blocks, dev, dtype, keep_fp32=dev.type == "cuda") if fits else False
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
                out.append(f32(b[rows[lo:hi] - offset]))
            offset += b.shape[0]
        return np.concatenate(out)


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
    for offset, part in row_blocks(qblocks, block_size):
        sims[offset : offset + len(part)], ids[offset : offset + len(part)] = searcher.search(part, kk)
        if progress is not None:
            progress(len(part))
    return sims, ids


def _faiss_message(error) -> str:
    """faiss's own words without its C++ location prefix ("Error in <signature> at <file>:<line>: ...")."""
    import re

    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
