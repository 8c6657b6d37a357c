"""Writing outputs: checks before any work (the path, its folder, an input it would overwrite), atomic files and
folders (a temporary one renamed when complete), standard output, compressed text outputs, permissions that honour
the umask. Devices and named pipes are written into as they are."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from .errors import InputError, UsageError
from .io import STDIO, compression, display_name, zstandard_module


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one existing file (by device and inode: symlinks and hard links too);
    ``-`` is standard input (``< file``)."""
    try:
        sa, sb = [os.fstat(sys.stdin.fileno()) if str(p) == STDIO else os.stat(p) for p in (a, b)]
    except (OSError, ValueError, AttributeError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path`` itself where it exists, else the nearest of its parents that does: where a folder of that name
    would be made (a file there means it cannot be)."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    return where


def check_folder(path: Path, label: str) -> None:
    """Refuse (:class:`UsageError`, ``label`` naming it) a folder to write in that is a file, or that cannot be made
    or written in, before any work; nothing is left behind (a probe folder made to find out is removed)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{label}: is a file, not a directory")
    where = nearest_existing(path)  # the folder it would be made in
    if not where.is_dir():
        raise UsageError(f"{label}: cannot be made, {where} is a file")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mineshaft-probe-", dir=where))
    except OSError as exc:
        what = "cannot write in it" if where == path else f"cannot be made in {where}"
        raise UsageError(f"{label}: {what} ({exc.strerror or exc})") from None


def is_special_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an existing character device or FIFO (``/dev/null``, a named pipe, ``/dev/stdout`` into
    a pipe): an output written into as it is, never replaced by a file."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def check_output_path(path: str | os.PathLike, force: bool, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Fail early, before any work, if an output exists and may not be replaced, is one of ``inputs`` or lies
    inside one that is a directory (even with ``force``), is a block device or a socket, lies in a folder that
    cannot be written in, or asks for a compression that cannot be written. A character device or FIFO passes."""
    name = str(path)
    if name == STDIO:
        return
    p = Path(name)
    for source in inputs:
        if same_file(p, source):
            raise UsageError(f"{name}: is the input {display_name(source)}; write the output to another file")
        if str(source) != STDIO and Path(source).is_dir() and p.resolve().is_relative_to(Path(source).resolve()):
            raise UsageError(f"{name}: is inside the input {source}; write the output elsewhere")
    if p.is_dir():
        raise UsageError(f"{name}: is a directory, expected an output file path")
    try:
        kind = os.stat(p).st_mode
    except OSError:
        kind = 0
    if stat.S_ISCHR(kind) or stat.S_ISFIFO(kind):  # a device or a named pipe (is_special_file): written into
        return
    if stat.S_ISBLK(kind) or stat.S_ISSOCK(kind):
        raise UsageError(f"{name}: is a {'block device' if stat.S_ISBLK(kind) else 'socket'}; write the output to a "
                         "file")
    if p.exists() and not force:
        raise UsageError(f"{name}: exists; pass --force to overwrite it")
    folder = p.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"{name}: its directory does not exist")
    check_folder(folder, f"{name}: its directory {folder}")
    if compression(name) == ".zst":
        try:
            zstandard_module(name, "writing")
        except InputError as exc:
            raise UsageError(str(exc)) from None


class _Borrowed(io.RawIOBase):
    """A raw file written through but never closed here (standard output's descriptor stays open)."""

    def __init__(self, raw: IO):
        self._raw = raw

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._raw.write(data)

    def fileno(self) -> int:
        return self._raw.fileno()


def _stdout(binary: bool) -> IO:
    """Standard output for data. Unbuffered (python -u, PYTHONUNBUFFERED) its layers write to the raw file, whose
    write may take only part of the bytes when the reader goes away and says so only in its return value: a buffered
    writer over it retries, so a closed pipe is an error (141), not a silently short output. The buffered writer
    borrows the descriptor: closing it, or collecting it after an error, leaves standard output open."""
    raw = sys.stdout.buffer
    if not isinstance(raw, io.RawIOBase):
        return raw if binary else sys.stdout
    buffered = io.BufferedWriter(_Borrowed(raw))
    if binary:
        return buffered
    return io.TextIOWrapper(buffered, encoding=sys.stdout.encoding or "utf-8", errors=sys.stdout.errors or "strict")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", force: bool = False) -> Iterator[IO]:
    """Open an output so it appears only complete: write a temporary file, rename on success.

    ``-`` writes to standard output. A name ending in ``.gz``, ``.bz2``, ``.xz`` or ``.zst`` is written
    compressed in that format. On an exception (Ctrl-C included) the temporary file is removed and any
    existing output is left untouched.
    """
    name = str(path)
    binary = "b" in mode
    if name == STDIO:
        stream = _stdout(binary)
        yield stream
        stream.flush()
        return
    check_output_path(name, force)
    kind = compression(name)
    if kind is None:
        with atomic_file(name, mode) as fh:
            yield fh
        return
    with atomic_file(name, "wb") as raw:
        packed = _compressor(raw, kind, name)
        fh = packed if binary else io.TextIOWrapper(packed, encoding="utf-8", newline="\n")
        try:
            yield fh
        except BaseException:
            with contextlib.suppress(Exception):
                fh.close()
            raise
        fh.close()  # the compressor writes its end; the file itself stays open (atomic_file closes it)


def _compressor(raw: BinaryIO, kind: str, name: str) -> BinaryIO:
    """A writer that compresses into ``raw`` (closing it ends the stream but leaves ``raw`` open).
    gzip's header carries no name or time, so the same text gives the same bytes."""
    if kind == ".gz":
        return gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)  # type: ignore[return-value]
    if kind == ".bz2":
        return bz2.BZ2File(raw, "wb")  # type: ignore[return-value]
    if kind == ".xz":
        return lzma.LZMAFile(raw, "wb")  # type: ignore[return-value]
    return zstandard_module(name, "writing").ZstdCompressor().stream_writer(raw, closefd=False)


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so it is never changed, even briefly)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike) -> None:
    """Give ``path``, and for a directory everything in it, the permissions that a new file or directory
    gets: 0666 (0777 for directories and executables) less the umask. For what a writer created 0600
    (a temporary file renamed, safetensors' ``save_file``) or copied with another file's mode."""
    mask = current_umask()
    top = Path(path)
    for item in [top, *top.rglob("*")] if top.is_dir() and not top.is_symlink() else [top]:
        if item.is_symlink():
            continue
        mode = item.stat().st_mode
        os.chmod(item, (0o777 if stat.S_ISDIR(mode) or mode & 0o111 else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """A file that appears at ``path`` only once written completely (temporary file, fsync, rename).
    It gets the permissions of any new file (0666 less the umask), not the temporary file's 0600. A device or FIFO
    (:func:`is_special_file`) is written into directly: renaming a file onto it would replace the node."""
    binary = "b" in mode
    text = {} if binary else {"encoding": "utf-8", "newline": "\n"}
    if is_special_file(path):  # as given: /dev/stdout resolves to a pipe's name that cannot be opened
        with open(path, "wb" if binary else "w", **text) as fh:
            yield fh
        return
    target = Path(path).resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **text) as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
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


#: the subfolder of a trained model's folder where ``train --keep-last`` writes the final step's model
LAST_MODEL = "last"
#: files of a trained model's folder that no model made from it takes: optimizer state, cached teacher vectors, locks,
#: the final step's model beside the kept one
LEFTOVERS = frozenset({"checkpoint", "teacher-cache", "train.lock", LAST_MODEL})


def ignoring(skip: frozenset[str]):
    """A ``shutil.copytree`` ignore that leaves out ``skip`` and hidden, temporary and lock files."""
    def ignore(_dir: str, names: list[str]) -> list[str]:
        return [n for n in names if n in skip or n.startswith(".") or n.endswith((".tmp", ".lock"))]
    return ignore


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A directory that replaces ``path`` only once written completely: yields ``PATH.tmp`` to fill,
    then swaps it in, its contents with the permissions of new files (:func:`honour_umask`). On any failure
    (Ctrl-C included), while writing or while swapping, the temporary directory is removed and any existing
    ``path`` is left as it was. A ``path`` that is a file (not a folder) is refused before anything is written."""
    target = Path(path)
    if not target.is_symlink() and target.exists() and not target.is_dir():
        raise UsageError(f"{target} is a file; a folder cannot replace it (give another name, or remove the file)")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise UsageError(f"cannot make the folder {target} ({exc.strerror or type(exc).__name__})") from None
    try:
        yield tmp
        honour_umask(tmp)  # what the writers made 0600, or copied with their source's mode
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the folder ``tmp`` at ``target``: an existing folder there is moved aside first and put back if the move
    fails, then removed; a link there is replaced (not what it points to)."""
    old = None
    if target.is_symlink():
        target.unlink()
    elif target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
