"""Reading text and TSV inputs, and writing outputs atomically.

Inputs may be plain, ``.gz``, ``.bz2``, ``.xz`` or ``.zst`` files, or ``-`` for
standard input. Lines are decoded as UTF-8 one by one so an invalid byte is
reported with its file and line number instead of a traceback.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from .errors import InputError, UsageError

STDIO = "-"


def display_name(path: str | os.PathLike) -> str:
    """How an input is named in messages: ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STDIO else str(path)


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open an input for binary reading, decompressing by file extension."""
    name = str(path)
    if name == STDIO:
        return sys.stdin.buffer
    p = Path(name)
    if not p.exists():
        raise InputError(f"{name}: no such file")
    if p.is_dir():
        raise InputError(f"{name}: is a directory, expected a file")
    try:
        if name.endswith(".gz"):
            return gzip.open(p, "rb")  # type: ignore[return-value]
        if name.endswith(".bz2"):
            return bz2.open(p, "rb")  # type: ignore[return-value]
        if name.endswith(".xz"):
            return lzma.open(p, "rb")  # type: ignore[return-value]
        if name.endswith(".zst"):
            try:
                import zstandard
            except ImportError:
                raise InputError(f"{name}: reading .zst needs the 'zstandard' package (pip install zstandard)") from None
            return zstandard.open(p, "rb")  # type: ignore[return-value]
        return open(p, "rb")
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None


#: what to do with invalid UTF-8 in inputs (``--errors``)
ERROR_MODES = ("strict", "replace")


def iter_lines(path: str | os.PathLike, errors: str = "strict") -> Iterator[str]:
    """Yield the lines of a UTF-8 text input without their line ends (LF or CRLF).

    A leading byte-order mark is dropped. With ``errors="strict"`` an invalid
    byte raises :class:`InputError` naming the file and line; ``"replace"``
    substitutes U+FFFD instead.
    """
    if errors not in ERROR_MODES:
        raise UsageError(f"--errors must be 'strict' or 'replace', not {errors!r}")
    name = display_name(path)
    fh = open_binary(path)
    try:
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                try:
                    line = raw.decode("utf-8", errors=errors)
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"{name}:{lineno}: invalid UTF-8 at byte {exc.start} of the line "
                        f"(use --errors replace to substitute it)"
                    ) from None
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                if line.endswith("\n"):
                    line = line[:-2] if line.endswith("\r\n") else line[:-1]
                yield line
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(f"{name}: cannot read (corrupt or truncated compressed file?): {exc}") from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def read_lines(path: str | os.PathLike, errors: str = "strict") -> list[str]:
    """All lines of a text input; an input with no lines at all is an error."""
    lines = list(iter_lines(path, errors=errors))
    if not lines:
        raise InputError(f"{display_name(path)}: empty input")
    return lines


def split_ids(lines: list[str], path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Split ``ID<TAB>text`` lines (the BUCC layout) into ids and texts."""
    ids, texts = [], []
    for lineno, line in enumerate(lines, 1):
        head, sep, text = line.partition("\t")
        if not sep or not head:
            raise InputError(f"{display_name(path)}:{lineno}: expected 'ID<TAB>sentence' (--id-column), got no tab")
        ids.append(head)
        texts.append(text)
    return ids, texts


def iter_tsv(path: str | os.PathLike, min_columns: int, errors: str = "strict") -> Iterator[list[str]]:
    """Yield the tab-separated fields of each line, checking a minimum column count."""
    name = display_name(path)
    seen = False
    for lineno, line in enumerate(iter_lines(path, errors=errors), 1):
        seen = True
        fields = line.split("\t")
        if len(fields) < min_columns:
            raise InputError(
                f"{name}:{lineno}: expected at least {min_columns} tab-separated columns, found {len(fields)}"
            )
        yield fields
    if not seen:
        raise InputError(f"{name}: empty input")


def check_output_path(path: str | os.PathLike, force: bool) -> None:
    """Fail early, before any work, if an output exists and may not be replaced."""
    name = str(path)
    if name == STDIO:
        return
    p = Path(name)
    if p.is_dir():
        raise UsageError(f"{name}: is a directory, expected an output file path")
    if p.exists() and not force:
        raise UsageError(f"{name}: exists; pass --force to overwrite it")
    if not p.resolve().parent.is_dir():
        raise UsageError(f"{name}: its directory does not exist")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", force: bool = False) -> Iterator[IO]:
    """Open an output so it appears only complete: write a temporary file, rename on success.

    ``-`` writes to standard output. On an exception (Ctrl-C included) the
    temporary file is removed and any existing output is left untouched.
    """
    name = str(path)
    binary = "b" in mode
    if name == STDIO:
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    check_output_path(name, force)
    with atomic_file(name, mode) as fh:
        yield fh


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """A file that appears at ``path`` only once written completely (temporary file, fsync, rename)."""
    target = Path(path).resolve()
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as fh:
        fh.write(data)


def write_atomic_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` as a ``.npy`` file at ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as fh:
        np.save(fh, array, allow_pickle=False)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A directory that replaces ``path`` only once written completely: yields ``PATH.tmp`` to fill,
    then swaps it in; on an exception (Ctrl-C included) the temporary directory is removed and any
    existing ``path`` is left untouched."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


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
        else:
            self._buffer: list[np.ndarray] = []

    def _header(self, rows: int) -> bytes:
        d = "{'descr': %r, 'fortran_order': False, 'shape': (%d, %d), }" % (self.dtype.str, rows, self.dim)
        body_len = self._HEADER_LEN - 10
        return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + d.ljust(body_len - 1).encode("latin1") + b"\n"

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.dim:
            raise ValueError(f"expected rows of dimension {self.dim}, got shape {block.shape}")
        self.rows += block.shape[0]
        if self.seekable:
            self.fh.write(block.tobytes())
        else:  # a pipe: the header must come first, so hold the rows until close
            self._buffer.append(block)

    def close(self) -> None:
        if self.seekable:
            self.fh.seek(0)
            self.fh.write(self._header(self.rows))
            self.fh.seek(0, io.SEEK_END)
        else:
            self.fh.write(self._header(self.rows))
            for block in self._buffer:
                self.fh.write(block.tobytes())
            self._buffer = []


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
    try:
        arr = np.load(name, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{name}: not a readable .npy file: {exc}") from None
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
    import hashlib

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
            from .progress import warn as _warn

            _warn(f"{sidecar_path(npy)} does not describe {npy} (the .npy changed since); ignoring it")
        return None
    return body


_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str, option: str = "size") -> int:
    """``"512M"``, ``"4G"``, ``"1.5G"`` or a plain byte count, as bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in _UNITS else ""
    try:
        value = float(t[: len(t) - len(unit)])
    except ValueError:
        raise UsageError(f"{option}: cannot read {text!r} as a size (examples: 512M, 4G)") from None
    if not value > 0 or value != value:
        raise UsageError(f"{option} must be positive, got {text!r}")
    return int(value * _UNITS[unit])


def release_pages(arr: np.ndarray) -> None:
    """Drop the pages of a memory-mapped array from this process's resident set (no-op otherwise).

    A file mapping read once (a shard streamed through a search) otherwise stays in the resident
    set until unmapped; the data stays in the OS page cache, so touching it again is cheap.
    """
    import mmap

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
