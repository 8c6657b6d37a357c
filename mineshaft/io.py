"""Reading text and TSV inputs (writing outputs: :mod:`mineshaft.outputs`).

Inputs may be plain, ``.gz``, ``.bz2``, ``.xz`` or ``.zst`` files, or ``-`` for
standard input (compressed standard input is recognised by its first bytes). Lines
are decoded as UTF-8 one by one so an invalid byte is reported with its file and
line number instead of a traceback.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import math
import os
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

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


def zstandard_module(name: str, action: str):
    """The zstandard package, or one InputError naming ``name`` and the extra that installs it."""
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
        zstandard = zstandard_module(display_name(name), "reading")
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
    it) and line; ``"replace"`` substitutes U+FFFD instead. A NUL byte is no text
    (binary data, or UTF-16): the same, an error or U+FFFD.
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
                if "\x00" in line:
                    if errors == "strict":
                        raise InputError(f"{name}:{lineno}: a NUL byte at character {line.index(chr(0)) + 1} of the "
                                         "line: binary data, or UTF-16 text? (mineshaft reads UTF-8; use --errors "
                                         "replace to substitute it)")
                    line = line.replace("\x00", "\ufffd")
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                if line.endswith("\n"):
                    line = line[:-2] if line.endswith("\r\n") else line[:-1]
                yield line
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(f"{name}: cannot read (corrupt or truncated compressed file?): {exc}") from None
    finally:
        fh.close()  # standard input stays open: its reader only wraps it


def is_blank(text: str) -> bool:
    """A line with no sentence in it: empty, spaces, or format characters, which show nothing (zero-width space,
    a stray byte-order mark, a soft hyphen, direction marks: Unicode's category Cf)."""
    for ch in text:  # stops at the first visible character: the first, in most lines
        if not (ch.isspace() or unicodedata.category(ch) == "Cf"):
            return False
    return True


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
    if not math.isfinite(value * _UNITS[unit]):
        raise UsageError(f"{option} must be a finite size, got {text!r} (examples: 512M, 4G)")
    return int(value * _UNITS[unit])
