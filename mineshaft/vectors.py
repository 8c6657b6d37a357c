"""Checks of sentence-vector matrices handed to the library's in-memory functions (``mine_embeddings``,
``pair_scores``, ``retrieval_accuracy``): a misuse is one clear exception, not an error from deep inside numpy."""

from __future__ import annotations

import numpy as np

from .progress import warn

#: how far a row's norm may be from 1 (vectors stored in float16 come back within 1e-3)
UNIT_TOLERANCE = 1e-2


def check_vectors(x, name: str, dim: int | None = None, unit: bool = True) -> np.ndarray:
    """``x`` as a float array of shape ``(n, dim)``, ``n >= 1``: :class:`TypeError` for what is no array of
    numbers, :class:`ValueError` for a wrong shape, a dimension other than ``dim`` or values that are not finite;
    with ``unit``, a warning on stderr for rows that are neither unit vectors nor zero (the rows of empty
    sentences): the margins are then of inner products, not cosines, which is rarely what was meant."""
    if isinstance(x, str) or not hasattr(x, "__len__"):
        raise TypeError(f"{name}: expected a 2-D array of sentence vectors, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected numbers, got an array of {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, one row a sentence, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: no sentence vectors (0 rows)")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: vectors of dimension {arr.shape[1]}, the other side's have {dim}")
    norms = np.concatenate([np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))  # no full-size copy
                            for block in (arr[i : i + 65536] for i in range(0, len(arr), 65536))])
    if not np.isfinite(norms).all():
        raise ValueError(f"{name}: {int((~np.isfinite(norms)).sum())} rows hold values that are not finite")
    if unit:
        off = (norms > 0) & (np.abs(norms - 1) > UNIT_TOLERANCE)
        if off.any():
            warn(f"{name}: {int(off.sum())} of {len(norms)} rows are not unit vectors (norms "
                 f"{norms[off].min():.3g} to {norms[off].max():.3g}): similarities are inner products, not "
                 "cosines; divide each row by its norm for cosines")
    return arr


def check_pair(x, y, names: tuple[str, str] = ("x", "y"), unit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Both sides checked by :func:`check_vectors`, with the same dimension."""
    x = check_vectors(x, names[0], unit=unit)
    return x, check_vectors(y, names[1], dim=x.shape[1], unit=unit)


__all__ = ["check_vectors", "check_pair", "UNIT_TOLERANCE"]
