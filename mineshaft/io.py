"""Reading text and TSV inputs, and writing outputs atomically.

Inputs may be plain, ``.gz``, ``.bz2``, ``.xz`` or ``.zst`` files, or ``-`` for
standard input (compressed standard input is recognised by its first bytes). Lines
are decoded as UTF-8 one by one so an invalid byte is reported with its file and
line number instead of a traceback. Text outputs whose names end in one of those
suffixes are compressed accordingly.
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
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from .errors import InputError, UsageError

STDIO = "-"
#: the compressed formats read and written, by file suffix
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
#: the first bytes of each compressed format, to recognise compressed standard input
_MAGIC = ((b"\x1f\x8b", ".gz"), (b"\xfd7zXZ\x00", ".xz"), (b"\x28\xb5\x2f\xfd", ".zst"))


def read_json_object(path: str | os.PathLike) -> dict:
    """A JSON file's top-level object, or ``{}`` where the file is missing, unreadable, not JSON or not an object
    (for optional records such as a model folder's ``config.json`` or ``quality.json``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def display_name(path: str | os.PathLike) -> str:
    """How an input is named in messages: ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STDIO else str(path)


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open an input for binary reading, decompressing by file extension (standard input: by its first bytes)."""
    name = str(path)
    if name == STDIO:
        return open_stdin()
    p = Path(name)
    if not p.exists():
        raise InputError(f"{name}: no such file")
    if p.is_dir():
        raise InputError(f"{name}: is a directory, expected a file")
    try:
        return _decompressed(p, compression(name), name)
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None


def check_input(path: str | os.PathLike) -> None:
    """Refuse a text input that cannot be read (standard input that is a terminal, a missing file, a directory, an
    unreadable file) with the message reading it would give, before any slower work such as loading a model."""
    if str(path) == STDIO:
        check_stdin()
    else:
        open_binary(path).close()


def compression(name: str) -> str | None:
    """The compressed format a file name asks for (``".gz"``, ...), None for plain files."""
    return next((suffix for suffix in COMPRESSED_SUFFIXES if name.endswith(suffix)), None)


def _zstandard(name: str, action: str):
    try:
        import zstandard
    except ImportError:
        raise InputError(f"{name}: {action} .zst needs the 'zstandard' package "
                         "(pip install 'mineshaft[zstd]')") from None
    return zstandard


def _decompressed(source: Path | BinaryIO, kind: str | None, name: str) -> BinaryIO:
    """A file path (opened here) or a stream, read through the decompressor of ``kind`` (None: plain).
    A stream given stays open when the reader is closed."""
    if kind == ".gz":
        return gzip.open(source, "rb")  # type: ignore[return-value]
    if kind == ".bz2":
        return bz2.open(source, "rb")  # type: ignore[return-value]
    if kind == ".xz":
        return lzma.open(source, "rb")  # type: ignore[return-value]
    if kind == ".zst":
        zstandard = _zstandard(display_name(name), "reading")
        # zstandard.open's reader has no readline: buffered here, as for a stream (a file opened here is closed
        # with the reader)
        opened = isinstance(source, Path)
        reader = zstandard.ZstdDecompressor().stream_reader(open(source, "rb") if opened else source,
                                                            read_across_frames=True, closefd=opened)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return open(source, "rb") if isinstance(source, Path) else source


class _Rewound(io.RawIOBase):
    """A read-once stream whose first bytes were already read (to recognise its format), put back in front.
    Closing it leaves the stream open."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._rest.readinto1(buffer) if hasattr(self._rest, "readinto1") else self._rest.readinto(buffer)


def _bz2_header(head: bytes) -> bool:
    """``BZh`` + block size + the magic of a first block or of the end of an empty stream."""
    return (len(head) >= 10 and head[:3] == b"BZh" and head[3:4].isdigit()
            and head[4:10] in (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90"))


def check_stdin() -> IO:
    """Standard input, if something can be read from it: :class:`InputError` when it is a terminal (nothing
    was piped into it) or closed. Commands call this before any work when an input is ``-``."""
    stream = sys.stdin
    if stream is None or stream.closed:
        raise InputError("standard input (-) is closed: pipe text into it, or give a file name instead of -")
    if stream.isatty():
        raise InputError("standard input (-) is a terminal: pipe text into it (... | mineshaft ...), "
                         "or give a file name instead of -")
    return stream


def open_stdin() -> BinaryIO:
    """Standard input for binary reading, decompressed when its first bytes are those of a gzip, bzip2, xz or
    zstd stream. Refused (:class:`InputError`) when it is a terminal or closed: nothing was piped into it."""
    raw = check_stdin().buffer
    head = b""
    try:
        while len(head) < 10 and (chunk := raw.read1(10 - len(head))):
            head += chunk
    except OSError as exc:
        raise InputError(f"{display_name(STDIO)}: cannot read: {exc.strerror or exc}") from None
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), ".bz2" if _bz2_header(head) else None)
    return _decompressed(io.BufferedReader(_Rewound(head, raw)), kind, STDIO)  # type: ignore[arg-type]


#: what to do with invalid UTF-8 in inputs (``--errors``)
ERROR_MODES = ("strict", "replace")


def iter_lines(path: str | os.PathLike, errors: str = "strict", name: str | None = None) -> Iterator[str]:
    """Yield the lines of a UTF-8 text input without their line ends (LF or CRLF).

    A leading byte-order mark is dropped. With ``errors="strict"`` an invalid
    byte raises :class:`InputError` naming the file (or ``name``: how messages call
    it) and line; ``"replace"`` substitutes U+FFFD instead.
    """
    if errors not in ERROR_MODES:
        raise UsageError(f"--errors must be 'strict' or 'replace', not {errors!r}")
    name = name or display_name(path)
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
        fh.close()  # standard input stays open: its reader only wraps it


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
            raise InputError(f"{display_name(path)}:{lineno}: expected 'ID<TAB>sentence' (the BUCC layout), got "
                             + ("no tab" if not sep else "an empty ID"))
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
    """Whether ``path`` is an existing device, FIFO or socket (``/dev/null``, a named pipe): an output written into
    as it is, never replaced by a file."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_output_path(path: str | os.PathLike, force: bool, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Fail early, before any work, if an output exists and may not be replaced, is one of ``inputs`` or lies
    inside one that is a directory (even with ``force``), or asks for a compression that cannot be written."""
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
    if is_special_file(p):  # a device or a named pipe: written into as it is
        return
    if p.exists() and not force:
        raise UsageError(f"{name}: exists; pass --force to overwrite it")
    folder = p.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"{name}: its directory does not exist")
    check_folder(folder, f"{name}: its directory {folder}")
    if compression(name) == ".zst":
        try:
            _zstandard(name, "writing")
        except InputError as exc:
            raise UsageError(str(exc)) from None


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
        stream = sys.stdout.buffer if binary else sys.stdout
        # unbuffered (python -u, PYTHONUNBUFFERED) the binary layer is the raw file, whose write may write only part
        # of its bytes when the reader goes away, and says so only in its return value: a buffered writer retries,
        # so a closed pipe is an error, not a silently short output
        buffered = io.BufferedWriter(stream) if binary and isinstance(stream, io.RawIOBase) else None
        yield buffered or stream
        (buffered or stream).flush()
        if buffered is not None:
            buffered.detach()
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
    return _zstandard(name, "writing").ZstdCompressor().stream_writer(raw, closefd=False)


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
    target = Path(path).resolve()
    binary = "b" in mode
    if is_special_file(target):
        with open(target, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"})) as fh:
            yield fh
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"})) as fh:
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
