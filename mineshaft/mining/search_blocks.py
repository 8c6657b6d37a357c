"""A search database as a list of 2-D blocks (memory-mapped shards are fine): re-cut into slices, converted to float32
one at a time (the next one read in a thread meanwhile), zero rows (empty sentences) told apart, and every backend's
answer put in one order (:func:`canonical`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..npy import release_pages


def f32(block: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(block, dtype=np.float32)


def f32_once(block: np.ndarray) -> np.ndarray:
    """``block`` as float32 for a single pass: a memory-mapped block's pages leave the resident set after."""
    out = f32(block)
    release_pages(block)
    return out


def nonzero(block: np.ndarray) -> np.ndarray:
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


def row_blocks(blocks: Sequence[np.ndarray], max_rows: int):
    """Re-cut a list of blocks into consecutive slices of at most ``max_rows`` rows: (offset, slice)."""
    offset = 0
    for block in blocks:
        for start in range(0, block.shape[0], max_rows):
            part = block[start : start + max_rows]
            yield offset + start, part
        offset += block.shape[0]


def prefetch(blocks: Sequence[np.ndarray], max_rows: int):
    """(offset, float32 block) with the next block read and converted in a thread while this one is used."""
    parts = iter(row_blocks(blocks, max_rows))
    with ThreadPoolExecutor(1) as pool:
        load = lambda item: (item[0], f32_once(item[1])) if item is not None else None  # noqa: E731
        nxt = pool.submit(load, next(parts, None))
        while (cur := nxt.result()) is not None:
            nxt = pool.submit(load, next(parts, None))
            yield cur


__all__ = ["f32", "f32_once", "nonzero", "canonical", "row_blocks", "prefetch"]
