"""Margin-based bitext mining: two monolingual inputs in, scored translation pairs out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from . import progress
from .errors import InputError, UsageError
from .io import load_embeddings, read_lines, split_ids
from .margin import MARGINS, MODES, Pairs, candidate_margins, select_pairs
from .search import knn


@dataclass
class Side:
    """One side of a mining job: the sentences to search, with ids back to the input lines.

    ``ids[i]`` names row i in the output: its 1-based line number, or the id
    read from the input's first column. ``texts`` is None for embedding input.
    """

    ids: list[str]
    texts: list[str] | None = None
    embeddings: np.ndarray | None = None
    lines_read: int = 0
    dropped_empty: int = 0
    dropped_duplicates: int = 0
    duplicate_ids: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def read_side(path: str | os.PathLike, id_column: bool = False, dedup: bool = False, errors: str = "strict") -> Side:
    """Read a text input (or a ``.npy`` embedding matrix) as one mining side.

    Empty lines are never mined (their line numbers are kept for the others).
    With ``dedup`` exact duplicate sentences are searched once, under the id of
    their first occurrence; the other ids are kept in ``duplicate_ids``.
    """
    name = str(path)
    if name.endswith(".npy"):
        emb = load_embeddings(name)
        return Side(ids=[str(i) for i in range(1, len(emb) + 1)], embeddings=emb, lines_read=len(emb))
    lines = read_lines(name, errors=errors)
    if id_column:
        ids, texts = split_ids(lines, name)
    else:
        ids, texts = [str(i) for i in range(1, len(lines) + 1)], lines
    side = Side(ids=[], texts=[], lines_read=len(lines))
    first_of: dict[str, str] = {}
    for ident, text in zip(ids, texts):
        if not text.strip():
            side.dropped_empty += 1
            continue
        if dedup:
            if text in first_of:
                side.dropped_duplicates += 1
                side.duplicate_ids.setdefault(first_of[text], []).append(ident)
                continue
            first_of[text] = ident
        side.ids.append(ident)
        side.texts.append(text)
    if not side.ids:
        raise InputError(f"{name}: no non-empty lines to mine")
    return side


def knn_both_ways(
    x: np.ndarray, y: np.ndarray, k: int, gpu: bool = False
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Exact k-NN of x in y and of y in x, with progress on stderr."""
    with progress.task("k-NN src→tgt", total=len(x)) as advance:
        fwd = knn(x, y, k, gpu=gpu, progress=advance)
    with progress.task("k-NN tgt→src", total=len(y)) as advance:
        bwd = knn(y, x, k, gpu=gpu, progress=advance)
    return fwd, bwd


def mine_embeddings(
    x: np.ndarray,
    y: np.ndarray,
    k: int = 4,
    margin: str = "ratio",
    mode: str = "max",
    threshold: float | None = None,
    gpu: bool = False,
) -> Pairs:
    """Mine pairs between unit-vector matrices ``x`` (source) and ``y`` (target)."""
    check_options(k=k, margin=margin, mode=mode)
    if x.shape[1] != y.shape[1]:
        raise InputError(f"source and target embeddings differ in dimension ({x.shape[1]} vs {y.shape[1]})")
    (sxy, ixy), (syx, iyx) = knn_both_ways(x, y, k, gpu=gpu)
    mean_x, mean_y = sxy.mean(axis=1), syx.mean(axis=1)
    fwd = candidate_margins(sxy, ixy, mean_x, mean_y, margin)
    bwd = candidate_margins(syx, iyx, mean_y, mean_x, margin)
    return select_pairs(fwd, ixy, bwd, iyx, mode=mode, threshold=threshold)


def check_options(k: int, margin: str, mode: str) -> None:
    if not 1 <= k <= 1000:
        raise UsageError(f"--k must be between 1 and 1000, got {k}")
    if margin not in MARGINS:
        raise UsageError(f"unknown --margin {margin!r} (use one of {', '.join(MARGINS)})")
    if mode not in MODES:
        raise UsageError(f"unknown --mode {mode!r} (use one of {', '.join(MODES)})")


def format_pairs(pairs: Pairs, src: Side, tgt: Side, with_ids: bool = False, with_text: bool = True) -> Iterator[str]:
    """Output lines: ``score[<TAB>src_id<TAB>tgt_id][<TAB>src<TAB>tgt]``."""
    with_text = with_text and src.texts is not None and tgt.texts is not None
    with_ids = with_ids or not with_text
    for s, t, score in zip(pairs.src.tolist(), pairs.tgt.tolist(), pairs.score.tolist()):
        cols = [f"{score:.6f}"]
        if with_ids:
            cols += [src.ids[s], tgt.ids[t]]
        if with_text:
            cols += [_cell(src.texts[s]), _cell(tgt.texts[t])]  # type: ignore[index]
        yield "\t".join(cols) + "\n"


def filter_pairs(pairs: Pairs, src: Side, tgt: Side, rules) -> Pairs:
    """Drop pairs that a :class:`~mineshaft.filters.PairFilter` rejects (needs text input)."""
    if not rules.active:
        return pairs
    if src.texts is None or tgt.texts is None:
        raise UsageError("pair filters read sentences: give text files, not .npy embeddings")
    keep = np.array(rules.apply((src.texts[s], tgt.texts[t], sc) for s, t, sc in
                                zip(pairs.src.tolist(), pairs.tgt.tolist(), pairs.score.tolist())), dtype=bool)
    return Pairs(pairs.src[keep], pairs.tgt[keep], pairs.score[keep])


def _cell(text: str) -> str:
    """A text as one TSV cell: tabs inside it would shift the columns."""
    return text.replace("\t", " ")


def embed_side(side: Side, encoder, batch_size: int = 64, punct_lang: str | None = None, label: str = "encoding") -> np.ndarray:
    """The side's embeddings, encoding its texts if it came as text."""
    from .embed import embed

    if side.embeddings is None:
        side.embeddings = embed(encoder, side.texts, batch_size=batch_size, punct_lang=punct_lang, label=label)  # type: ignore[arg-type]
    return side.embeddings


def mine(
    src: str | os.PathLike | Side,
    tgt: str | os.PathLike | Side,
    encoder=None,
    k: int = 4,
    margin: str = "ratio",
    mode: str = "max",
    threshold: float | None = None,
    batch_size: int = 64,
    punct_lang: str | None = None,
    gpu: bool = False,
) -> tuple[Pairs, Side, Side]:
    """Mine translation pairs between two inputs (paths, or :class:`Side` objects).

    ``encoder`` is an :class:`~mineshaft.encoders.Encoder` (default: ``use``);
    it is only loaded when one side is text. Returns the pairs and both sides,
    whose ``ids``/``texts`` the pairs' rows index.
    """
    check_options(k=k, margin=margin, mode=mode)
    src_side = src if isinstance(src, Side) else read_side(src)
    tgt_side = tgt if isinstance(tgt, Side) else read_side(tgt)
    if encoder is None and (src_side.embeddings is None or tgt_side.embeddings is None):
        from .encoders import load_encoder

        encoder = load_encoder()
    x = embed_side(src_side, encoder, batch_size, punct_lang, "encoding src")
    y = embed_side(tgt_side, encoder, batch_size, punct_lang, "encoding tgt")
    return mine_embeddings(x, y, k=k, margin=margin, mode=mode, threshold=threshold, gpu=gpu), src_side, tgt_side
