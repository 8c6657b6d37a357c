"""One side of a mining job, read out of core: which lines are mined, and their texts on demand.

A :class:`Corpus` keeps only the line numbers of the sentences it mines (empty
lines and, with ``dedup``, repeated sentences are left out); texts are streamed
from the file when encoding and fetched again for the few lines that end up
in the output. Standard input is first spooled to a file so it can be read twice.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import unicodedata
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import STDIO, display_name, is_blank, iter_lines, open_binary

#: a spooled standard input in a work directory: NAME + this (rewritten by every run, so never resumed from)
SPOOL_SUFFIX = ".stdin.txt"


def spool_stdin(dest: Path) -> Path:
    """Copy standard input (decompressed, see :func:`mineshaft.io.open_stdin`) to ``dest`` so it can be read
    more than once. Problems are named after standard input, not ``dest``."""
    source = open_binary(STDIO)  # refuses a terminal before anything is created
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(dest, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        dest.unlink(missing_ok=True)
        raise InputError(f"{display_name(STDIO)}: cannot read (corrupt or truncated compressed data?): {exc}") from None
    return dest


def text_length(text: str) -> int:
    """A sentence's length in characters, as the null model's length clue measures it (outer spaces left out)."""
    return len(text.strip())


_DIGITS = re.compile(r"\d+")
#: what a line may end or start with and still be the same sentence: spaces, quotes and sentence punctuation
_EDGES = " \t\u00a0\u3000.!?;:,…。！？；：，、\"'“”‘’«»„‚「」『』()[]"


def key_hash(key: str) -> int:
    """A stable 63-bit hash of a dedup key: the same lines are kept on every run (a resumed one too)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little") >> 1


def dedup_key(text: str) -> str:
    """What makes two lines one sentence for ``dedup``: the same text after NFKC, case folding, runs of spaces
    made one, and spaces, quotes and sentence punctuation at either end left out ("Click here!", "click here" and
    "Click here " are one; web text repeats sentences so, and the copies give one vector or nearly, which crowds
    each other's neighbourhoods as exact copies do). Everything inside a line counts: letters with their marks,
    digits, signs ("x = 1" and "x < 1" stay two). A line of only such characters is keyed by its own text."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    key = " ".join(text.casefold().split()).strip(_EDGES)
    return key or text.strip()


_DIGIT = re.compile(r"\d")


def number_signature(text: str) -> int:
    """The set of a sentence's numbers (its runs of decimal digits, of any script, full-width ones too, read as
    integers: "٢٠١٩" and "２０１９" are 2019) as one 32-bit number, as the null model's number clue compares them: 0
    for a sentence without digits; sentences with the same numbers share it ("1,500 in 2019" and "1.500 im Jahr
    2019": 1, 500 and 2019; "1500" is another). Superscripts and fractions are not digits ("10²" holds 10)."""
    if _DIGIT.search(text) is None:  # most sentences: one scan, no list
        return 0
    runs = _DIGITS.findall(text)
    return zlib.crc32(" ".join(sorted({r if len(r) > 40 else str(int(r)) for r in runs})).encode("utf-8")) or 1


@dataclass
class Corpus:
    """The mined lines of one text input.

    ``rows[i]`` is the 0-based line number of the i-th mined sentence, in file order; ``lengths[i]`` its length in
    characters and ``numbers[i]`` the signature of its digits (the null model's length and number clues).
    """

    path: str
    rows: np.ndarray
    n_lines: int
    id_column: bool = False
    errors: str = "strict"
    dropped_empty: int = 0
    dropped_duplicates: int = 0
    display: str = ""
    lengths: np.ndarray | None = None
    numbers: np.ndarray | None = None

    @classmethod
    def scan(cls, path: str | os.PathLike, id_column: bool = False, dedup: bool = False, errors: str = "strict",
             spool_dir: Path | None = None, name: str = "input") -> Corpus:
        """Read the input once: validate it, pick the lines to mine, their lengths and digits, remember nothing
        else."""
        path = str(path)
        display = path
        if path == STDIO:
            if spool_dir is None:
                raise InputError("reading standard input needs a work directory to spool it to")
            path, display = str(spool_stdin(spool_dir / f"{name}{SPOOL_SUFFIX}")), display_name(STDIO)
        # typed arrays: 8 + 4 + 4 (+ 8 with dedup) bytes a line, where lists of ints took 36 each
        keep, sizes, digits, hashes = array("q"), array("i"), array("I"), array("q")
        n, empty = 0, 0
        for n, text in enumerate(cls._texts(path, id_column, errors, display), 1):
            if is_blank(text):
                empty += 1
                continue
            keep.append(n - 1)
            sizes.append(text_length(text))
            digits.append(number_signature(text))
            if dedup:
                hashes.append(key_hash(dedup_key(text)))
        if n == 0:
            raise InputError(f"{display}: empty input")
        rows = np.frombuffer(keep, dtype=np.int64)
        lengths = np.frombuffer(sizes, dtype=np.int32)
        numbers = np.frombuffer(digits, dtype=np.uint32)
        dups = 0
        if dedup and len(rows):
            _, first = np.unique(np.frombuffer(hashes, dtype=np.int64), return_index=True)
            first.sort()
            dups = len(rows) - len(first)
            rows, lengths, numbers = rows[first], lengths[first], numbers[first]
        if len(rows) == 0:
            raise InputError(f"{display}: no non-empty lines to mine")
        return cls(path, rows, n, id_column, errors, empty, dups, display, lengths, numbers)

    @staticmethod
    def _texts(path: str, id_column: bool, errors: str, display: str) -> Iterator[str]:
        for lineno, line in enumerate(iter_lines(path, errors=errors, name=display), 1):
            if id_column:
                head, sep, text = line.partition("\t")
                if not sep or not head:
                    raise InputError(f"{display}:{lineno}: expected 'ID<TAB>sentence' (--id-column), got "
                                     + ("no tab" if not sep else "an empty id before the tab"))
                yield text
            else:
                yield line

    def __len__(self) -> int:
        return len(self.rows)

    def iter_texts(self) -> Iterator[str]:
        """The mined sentences in order (one pass over the file)."""
        wanted = iter(self.rows.tolist())
        nxt = next(wanted, None)
        for i, text in enumerate(self._texts(self.path, self.id_column, self.errors, self.display)):
            if i == nxt:
                yield text
                nxt = next(wanted, None)
                if nxt is None:
                    return

    def texts(self) -> list[str]:
        return list(self.iter_texts())

    def fetch(self, rows: Iterable[int]) -> dict[int, tuple[str, str]]:
        """``{row: (id, text)}`` for the given mined rows (ids are 1-based line numbers or the id column)."""
        lines = {int(self.rows[r]): r for r in set(int(r) for r in rows)}
        out: dict[int, tuple[str, str]] = {}
        if not lines:
            return out
        last = max(lines)
        for i, line in enumerate(iter_lines(self.path, errors=self.errors, name=self.display or None)):
            if i in lines:
                if self.id_column:
                    ident, _, text = line.partition("\t")
                else:
                    ident, text = str(i + 1), line
                out[lines[i]] = (ident, text)
            if i >= last:
                break
        return out
