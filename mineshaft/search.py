"""k-nearest-neighbour search by inner product (cosine on unit vectors).

- ``flat``: exact FAISS search. The database is searched in blocks sized to a
  memory budget and partial results are merged with a heap (as
  ``faiss.contrib.exhaustive_search`` does), so it scales past RAM.
- any FAISS index-factory string (``"IVF4096,PQ32"``, ``"OPQ32,IVF4096,PQ32"``)
  or ``auto``: approximate search, trained on a sample of the database.
- ``torch``: exact search as a torch matrix product + top-k, on the GPU when
  one is present (a fallback where faiss has no GPU build); also runs on CPU.

Databases and queries are lists of 2-D blocks (memory-mapped shards are fine):
only one block is converted to float32 at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .errors import UsageError

FLOAT_BYTES = 4


def faiss_gpu_available() -> bool:
    """True when the installed faiss was built with GPU support and sees a GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def auto_index(n: int, dim: int) -> str:
    """A sensible index for ``n`` database vectors.

    Exact up to 2M; then IVF with 8-bit scalar quantization (recall close to IVF-Flat on real
    sentence embeddings, 1 byte a dimension) while the codes fit in 8 GB; IVF-PQ only beyond,
    where memory forces it (PQ loses many exact neighbours: see the README's recall table).
    """
    if n <= 2_000_000:
        return "flat"
    nlist = int(min(65536, max(1024, 4 * np.sqrt(n))))
    if n * dim <= 8 * 2**30:
        return f"IVF{nlist},SQ8"
    m = next(m for m in (64, 48, 32, 24, 16, 8) if dim % m == 0)
    return f"OPQ{m},IVF{nlist},PQ{m}"


def check_factory(factory: str) -> None:
    """Fail early (before any encoding) on an index string faiss cannot build."""
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

    def __init__(self, database: Sequence[np.ndarray], index: str = "flat", nprobe: int = 16,
                 memory: int = 2 << 30, gpu: bool = False, train_size: int | None = None, seed: int = 0):
        self.blocks = [b for b in database if b.shape[0]]
        if not self.blocks:
            raise UsageError("the database to search is empty")
        self.dim = self.blocks[0].shape[1]
        self.n = sum(b.shape[0] for b in self.blocks)
        self.kind = auto_index(self.n, self.dim) if index == "auto" else index
        self.nprobe, self.gpu = nprobe, gpu
        # rows of float32 database held at once: half the budget (queries and results use the rest)
        self.block_rows = max(1024, int(memory // 2 // (self.dim * FLOAT_BYTES)))
        self.train_size, self.seed = train_size, seed
        self._index = None
        self._built = False

    def build(self) -> Searcher:
        """Build the index now (it is otherwise built on the first search)."""
        if not self._built:
            if self.kind == "flat" and self.n <= self.block_rows:
                self._index = self._flat(np.concatenate([_f32(b) for b in self.blocks]))
            elif self.kind not in ("flat", "torch"):
                self._index = self._approximate(self.kind, self.train_size, self.seed)
            self._built = True
        return self

    @property
    def in_memory(self) -> bool:
        """True when searching needs only the built index, not the database blocks."""
        return self.build()._index is not None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
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
        index.train(self._gather(sample))
        for _, part in _row_blocks(self.blocks, 65536):
            index.add(_f32(part))
        if "IVF" in factory:
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", self.nprobe)
        return index

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        """Database rows by global index (sorted), one block at a time."""
        out, offset = [], 0
        for b in self.blocks:
            sel = rows[(rows >= offset) & (rows < offset + b.shape[0])] - offset
            if len(sel):
                out.append(_f32(b[sel]))
            offset += b.shape[0]
        return np.concatenate(out)

    # -- search -----------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k best database rows for each query row, best first: (similarities, indices)."""
        if queries.shape[1] != self.dim:
            raise UsageError(f"dimension mismatch: queries have {queries.shape[1]}, database {self.dim}")
        k = min(k, self.n)
        q = _f32(queries)
        self.build()
        if self._index is not None:
            return self._index.search(q, k)
        if self.kind == "torch":
            return self._torch_search(q, k)
        import faiss

        heap = faiss.ResultHeap(q.shape[0], k, keep_max=True)
        for offset, part in _row_blocks(self.blocks, self.block_rows):
            d, i = self._flat(_f32(part)).search(q, min(k, part.shape[0]))
            if i.shape[1] < k:  # pad a short last block so every result has k columns
                d = np.pad(d, ((0, 0), (0, k - i.shape[1])), constant_values=-np.inf)
                i = np.pad(i, ((0, 0), (0, k - i.shape[1])), constant_values=-1 - offset)
            heap.add_result(d, i + offset)
        heap.finalize()
        return heap.D, heap.I

    def _torch_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        qt = torch.from_numpy(q).to(dev)
        best_d = torch.full((q.shape[0], k), -float("inf"), device=dev)
        best_i = torch.full((q.shape[0], k), -1, dtype=torch.int64, device=dev)
        for offset, part in _row_blocks(self.blocks, self.block_rows):
            sims = qt @ torch.from_numpy(_f32(part)).to(dev).T
            d, i = sims.topk(min(k, part.shape[0]), dim=1)
            cat_d, cat_i = torch.cat([best_d, d], 1), torch.cat([best_i, i + offset], 1)
            best_d, pos = cat_d.topk(k, dim=1)
            best_i = cat_i.gather(1, pos)
        return best_d.cpu().numpy(), best_i.cpu().numpy()


def knn(
    queries: np.ndarray | Sequence[np.ndarray],
    database: np.ndarray | Sequence[np.ndarray],
    k: int,
    index: str = "flat",
    nprobe: int = 16,
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
