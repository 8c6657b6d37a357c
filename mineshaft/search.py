"""k-nearest-neighbour search by inner product (cosine on unit vectors) with FAISS."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import UsageError


def faiss_gpu_available() -> bool:
    """True when the installed faiss was built with GPU support and sees a GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_index(database: np.ndarray, gpu: bool = False):
    """An exact inner-product index over ``database`` rows (on the GPU when asked and possible)."""
    import faiss

    db = np.ascontiguousarray(database, dtype=np.float32)
    index = faiss.IndexFlatIP(db.shape[1])
    if gpu:
        if not faiss_gpu_available():
            raise UsageError("--gpu asked for, but faiss has no GPU support here (pip install 'mineshaft[gpu]')")
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(db)
    return index


def knn(
    queries: np.ndarray,
    database: np.ndarray,
    k: int,
    block_size: int = 65536,
    gpu: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest database rows of each query row by inner product.

    Returns ``(similarities, indices)``, both ``(len(queries), k')`` with
    ``k' = min(k, len(database))``, best first. Queries go through FAISS in
    blocks so temporary memory stays bounded for any number of queries.
    """
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if queries.shape[1] != database.shape[1]:
        raise UsageError(f"dimension mismatch: queries have {queries.shape[1]}, database {database.shape[1]}")
    k = min(k, database.shape[0])
    index = build_index(database, gpu=gpu)
    n = queries.shape[0]
    sims = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block_size):
        q = np.ascontiguousarray(queries[start : start + block_size], dtype=np.float32)
        sims[start : start + len(q)], ids[start : start + len(q)] = index.search(q, k)
        if progress is not None:
            progress(len(q))
    return sims, ids
