"""Embedding matrices in ``.npy`` files: written as rows arrive (:class:`NpyStreamWriter`), memory-mapped back
(:func:`load_embeddings`), with a sidecar record of the encoder that made them, and their pages released after a
single pass (:func:`release_pages`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mmap
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from . import progress
from .errors import InputError
from .outputs import write_atomic_bytes


class NpyStreamWriter:
    """Append float rows to a ``.npy`` file whose row count is unknown in advance.

    The header is written with room for any row count and rewritten, with the
    same length, once all rows are in; the file is a standard ``.npy`` that
    ``np.load(..., mmap_mode="r")`` opens.
    """

    _HEADER_LEN = 128  # bytes, magic included; fits any 2-D shape with 64-bit sizes

    def __init__(self, fh: BinaryIO, dim: int, dtype: np.dtype | str = np.float32):
        self.fh, self.dim, self.dtype, self.rows = fh, dim, np.dtype(dtype), 0
        self.seekable = _seekable(fh)
        if self.seekable:
            fh.write(self._header(0))
        else:  # a pipe: the header, which holds the row count, must come first, so the rows wait in a temporary
            self._spill = tempfile.TemporaryFile(prefix="mineshaft-rows-")  # file in $TMPDIR until close

    def _header(self, rows: int) -> bytes:
        d = "{'descr': %r, 'fortran_order': False, 'shape': (%d, %d), }" % (self.dtype.str, rows, self.dim)
        body_len = self._HEADER_LEN - 10
        return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + d.ljust(body_len - 1).encode("latin1") + b"\n"

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.dim:
            raise ValueError(f"expected rows of dimension {self.dim}, got shape {block.shape}")
        self.rows += block.shape[0]
        if block.size:  # the bytes as they are, without a copy
            (self.fh if self.seekable else self._spill).write(memoryview(block).cast("B"))

    def __enter__(self) -> NpyStreamWriter:
        return self

    def __exit__(self, *exc) -> None:
        """Let go of the rows waiting for a pipe, whether or not :meth:`close` wrote them."""
        if not self.seekable:
            self._spill.close()

    def close(self) -> None:
        """Write the header with the row count (and, to a pipe, the rows after it)."""
        if self.seekable:
            self.fh.seek(0)
            self.fh.write(self._header(self.rows))
            self.fh.seek(0, io.SEEK_END)
        else:
            self.fh.write(self._header(self.rows))
            with self._spill:
                self._spill.seek(0)
                shutil.copyfileobj(self._spill, self.fh, 1 << 20)


def _seekable(fh: IO) -> bool:
    try:
        return fh.seekable()
    except (AttributeError, ValueError, OSError):
        return False


def load_embeddings(path: str | os.PathLike) -> np.ndarray:
    """Memory-map a ``.npy`` embedding matrix as float32 rows (a copy only if the dtype differs)."""
    name = str(path)
    if not Path(name).exists():
        raise InputError(f"{name}: no such file")
    with open(name, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise InputError(f"{name}: not a .npy file (no NumPy header): give a text file, or a .npy matrix of "
                             "sentence vectors as mineshaft encode writes")
    try:
        arr = np.load(name, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        why = "it holds Python objects, not numbers" if "pickle" in str(exc) else exc
        raise InputError(f"{name}: not a readable .npy embedding matrix: {why}") from None
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InputError(f"{name}: expected a non-empty 2-D embedding matrix, got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise InputError(f"{name}: expected float embeddings, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float32)


SIDECAR_SUFFIX = ".mineshaft.json"


def sidecar_path(npy: str | os.PathLike) -> Path:
    """``X.npy`` → ``X.npy.mineshaft.json``: the record of which encoder wrote ``X.npy``."""
    return Path(str(npy) + SIDECAR_SUFFIX)


def _rows_sample(arr: np.ndarray) -> str:
    """A cheap fingerprint of a matrix: its shape, dtype and up to 64 rows spread over it."""
    rows = np.unique(np.linspace(0, arr.shape[0] - 1, num=min(64, arr.shape[0])).astype(np.int64))
    h = hashlib.blake2b(f"{arr.shape}{arr.dtype.str}".encode(), digest_size=8)
    h.update(np.ascontiguousarray(arr[rows]).tobytes())
    return h.hexdigest()


def write_sidecar(npy: str | os.PathLike, record: dict) -> None:
    """Write ``X.npy.mineshaft.json`` (atomically) for a finished ``X.npy``: ``record`` plus its shape and sample."""
    arr = np.load(str(npy), mmap_mode="r", allow_pickle=False)
    body = {**record, "rows": int(arr.shape[0]), "dim": int(arr.shape[1]), "stored_dtype": arr.dtype.name,
            "sample": _rows_sample(arr)}
    write_atomic_bytes(sidecar_path(npy), (json.dumps(body, indent=1, sort_keys=True) + "\n").encode())


def remove_sidecar(npy: str | os.PathLike) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        sidecar_path(npy).unlink()


def read_sidecar(npy: str | os.PathLike, arr: np.ndarray | None = None, warn: bool = True) -> dict | None:
    """The encoder record beside ``X.npy``, or None when there is none (or it describes other rows than these)."""
    try:
        body = json.loads(sidecar_path(npy).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    if arr is None:
        try:
            arr = np.load(str(npy), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None  # load_embeddings says what is wrong with it
    if arr.ndim != 2:
        return None
    if body.get("rows") != arr.shape[0] or body.get("dim") != arr.shape[1] or body.get("sample") != _rows_sample(arr):
        if warn:
            progress.warn(f"{sidecar_path(npy)} does not describe {npy} (the .npy changed since); ignoring it")
        return None
    return body


def release_pages(arr: np.ndarray) -> None:
    """Drop the pages of a memory-mapped array from this process's resident set (no-op otherwise).

    A file mapping read once (a shard streamed through a search) otherwise stays in the resident
    set until unmapped; the data stays in the OS page cache, so touching it again is cheap.
    """
    mm = getattr(arr, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not arr.nbytes:
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        start = arr.ctypes.data - base
        page = start - start % mmap.PAGESIZE
        mm.madvise(mmap.MADV_DONTNEED, page, min(len(mm) - page, start - page + arr.nbytes))
    except (ValueError, OSError, AttributeError):  # closed, unaligned or non-contiguous: leave it
        pass
