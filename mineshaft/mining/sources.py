"""The two sides of a mining job: each input (text, ``.npy`` embeddings or an embedding store) as the blocks of vectors
the search reads (:class:`Source`), text encoded into the work directory first, and the check that both sides were
made by the same encoder."""

from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import progress
from ..encode import encode_to_store
from ..encoders import EncoderSpec
from ..encoders.digest import describe, encoder_record, same_model
from ..errors import InputError, UsageError
from ..io import check_stdin, display_name
from ..languages import SAMPLE_LINES, check_input_languages
from ..npy import load_embeddings, read_sidecar
from ..store import EmbeddingStore
from .corpus import Corpus

if TYPE_CHECKING:
    from ..encoders import Encoder
    from ..engines import Engine


@dataclass
class Source:
    """The embeddings of one side as a list of blocks (memory-mapped shards or array slices)."""

    blocks: list[np.ndarray]
    digest: str
    corpus: Corpus | None = None
    n_lines: int = 0
    #: which encoder made the vectors (see :func:`mineshaft.encoders.digest.encoder_record`); None if unknown
    encoder: dict | None = None
    #: the language identified in a text input's first lines (None: embeddings, or not identified)
    language: str | None = None

    @property
    def n(self) -> int:
        return sum(b.shape[0] for b in self.blocks)

    @classmethod
    def from_array(cls, x: np.ndarray, shard_size: int = 100_000, digest: str | None = None) -> Source:
        blocks = [x[i : i + shard_size] for i in range(0, len(x), shard_size)] or [x]
        if digest is None:
            h = hashlib.blake2b(digest_size=16)
            for b in blocks:
                h.update(np.ascontiguousarray(b).tobytes())
            digest = h.hexdigest()
        return cls(blocks, digest, n_lines=len(x))


def load_source(
    path: str | os.PathLike,
    work: Path,
    name: str,
    spec: EncoderSpec | None = None,
    encoder: Encoder | None = None,
    engine: Engine | None = None,
    shard_size: int = 100_000,
    id_column: bool = False,
    dedup: bool = False,
    errors: str = "strict",
    corpus: Corpus | None = None,
) -> Source:
    """One side's embeddings: a ``.npy`` matrix, an embedding store directory, or text to encode
    (``corpus``: its :func:`scan_text`, when it was scanned already)."""
    path_s = str(path)
    if path_s.endswith(".npy"):
        x = load_embeddings(path_s)
        st = os.stat(path_s)
        source = Source.from_array(x, shard_size, digest=f"{os.path.abspath(path_s)}:{st.st_size}:{st.st_mtime_ns}")
        source.encoder = recorded_encoder(path_s, warn=False)
        return source
    if Path(path_s).is_dir() and EmbeddingStore.is_store(path_s):
        store = EmbeddingStore(path_s)
        blocks = list(store.shards())
        return Source(blocks, store.digest(), n_lines=store.index["rows"], encoder=recorded_encoder(path_s))
    if corpus is None:
        corpus = scan_text(path_s, work, name, id_column=id_column, dedup=dedup, errors=errors)
    if spec is None:
        raise UsageError(f"{path_s}: text input needs an encoder")

    found = check_input_languages(encoder or spec, itertools.islice(corpus.iter_texts(), SAMPLE_LINES),
                                  f"{name} ({display_name(path_s)})")
    store = encode_to_store(corpus.iter_texts(), work / f"emb-{name}", spec, n_rows=len(corpus),
                            shard_size=shard_size, engine=engine, encoder=encoder, label=f"encoding {name}")
    return Source(list(store.shards()), store.digest(), corpus=corpus, n_lines=corpus.n_lines,
                  encoder=recorded_encoder(store.path), language=found["language"] if found else None)


def scan_text(path: str | os.PathLike, work: Path, name: str, id_column: bool = False, dedup: bool = False,
              errors: str = "strict") -> Corpus:
    """Read a text side once (standard input is spooled into ``work``): the lines it mines, or an input error."""
    corpus = Corpus.scan(str(path), id_column=id_column, dedup=dedup, errors=errors, spool_dir=work, name=name)
    progress.info(f"{name}: {corpus.n_lines} lines, {len(corpus)} mined"
                  + (f", {corpus.dropped_empty} empty" if corpus.dropped_empty else "")
                  + (f", {corpus.dropped_duplicates} duplicates" if corpus.dropped_duplicates else ""))
    return corpus


def check_inputs(src: str | os.PathLike, tgt: str | os.PathLike, id_column: bool = False, dedup: bool | None = None,
                 punct_lang: str | None = None) -> None:
    """Refuse, before any work, inputs that cannot be read as given and options that cannot apply to them
    (``dedup`` only where it was asked for: True; None is the default, which applies to text inputs)."""
    if str(src) == str(tgt) == "-":
        raise UsageError("src and tgt are both standard input (-): only one side can be read from it; "
                         "give the other as a file")
    for path in (src, tgt):  # both inputs exist before either is encoded
        if str(path) == "-":
            check_stdin()
        elif not Path(path).exists():
            raise InputError(f"{path}: no such file")
    if any(not is_embeddings(str(p)) for p in (src, tgt)):
        return
    given = [flag for flag, on in (("--id-column", id_column), ("--dedup", dedup is True),
                                   ("--normalize-punct", punct_lang)) if on]
    if given:
        raise UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to text inputs, and "
                         "both inputs are embeddings (.npy files or stores)")


def is_embeddings(path: str) -> bool:
    return path.endswith(".npy") or (Path(path).is_dir() and EmbeddingStore.is_store(path))


def recorded_encoder(path: str | os.PathLike, warn: bool = True) -> dict | None:
    """The encoder record of a ``.npy`` (its sidecar) or an embedding store (its manifest), None if it has none."""
    path_s = str(path)
    if path_s.endswith(".npy"):
        record = read_sidecar(path_s, warn=warn) if Path(path_s).is_file() else None
    else:
        record = EmbeddingStore(path_s).read_manifest()
    return record if record and record.get("model") else None


def check_same_encoder(sides: list[tuple[str, str | os.PathLike]], spec=None) -> None:
    """Refuse sides whose vectors come from different encoders (before any encoding).

    A ``.npy`` or store side is judged by its record; a text side by ``spec``, the encoder that will
    encode it. A side with no record gets a warning and is trusted.
    """
    if not any(is_embeddings(str(p)) for _, p in sides):
        return  # text on both sides: one encoder encodes both
    records, warned = [], set()
    for _, path in sides:
        path_s = str(path)
        if is_embeddings(path_s):
            if path_s.endswith(".npy"):
                load_embeddings(path_s)  # a file that is no embedding matrix is refused before any warning
            record = recorded_encoder(path_s)
            if record is None and path_s not in warned:
                warned.add(path_s)
                progress.warn(f"{path_s} carries no encoder record; make sure both sides come from the same encoder")
            records.append((f"{path_s} was encoded with", record))
        else:
            records.append((f"{display_name(path_s)} would be encoded with", spec))
    if any(r is None for _, r in records):
        return
    (a_says, a), (b_says, b) = [(says, r if isinstance(r, dict) else encoder_record(r)) for says, r in records]
    if not same_model(a, b):
        same_name = a.get("encoder") == b.get("encoder")
        raise InputError(f"{a_says} {describe(a)}, but {b_says} {describe(b)}: vectors of different encoders "
                         "are not comparable; " + ("the model's files changed since one side was encoded (or an older "
                                                   "mineshaft recorded it): encode both sides again"
                                                   if same_name else "encode both sides with the same encoder"))
