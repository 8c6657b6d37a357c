"""Scoring existing sentence pairs by cosine or margin (to filter a noisy parallel corpus)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .embed import embed
from .errors import UsageError
from .io import iter_tsv
from .margin import MARGINS, check_k, margin, neighbour_means
from .progress import info, warn
from .search import knn

if TYPE_CHECKING:
    from .encoders import EncoderSpec

METRICS = ("margin", "cosine")


@dataclass
class ScoreOptions:
    """How ``mineshaft score`` scores pairs, and which it writes (``min_score``: None writes all)."""

    metric: str = "margin"
    margin: str = "ratio"
    k: int = 4
    min_score: float | None = None
    gpu: bool = False

    def check(self) -> None:
        """Refuse impossible values (as :class:`~mineshaft.errors.UsageError`)."""
        if self.metric not in METRICS:
            raise UsageError(f"unknown --metric {self.metric!r} (use one of {', '.join(METRICS)})")
        if self.margin not in MARGINS:
            raise UsageError(f"unknown --margin {self.margin!r} (use one of {', '.join(MARGINS)})")
        if self.metric == "margin":
            check_k(self.k)
        if self.min_score is not None and not math.isfinite(self.min_score):
            raise UsageError(f"--min-score must be a finite number, got {self.min_score}")


@dataclass
class PairTable:
    """Pairs read from a TSV file: the raw lines plus the two text columns."""

    lines: list[str]
    src: list[str]
    tgt: list[str]


def read_pairs(path: str | os.PathLike, src_col: int = 1, tgt_col: int = 2, errors: str = "strict") -> PairTable:
    """Read pairs from a TSV file; columns are 1-based."""
    if src_col < 1 or tgt_col < 1 or src_col == tgt_col:
        raise UsageError(f"--src-col and --tgt-col must be distinct positive column numbers, got {src_col} and {tgt_col}")
    table = PairTable([], [], [])
    for fields in iter_tsv(path, min_columns=max(src_col, tgt_col), errors=errors):
        table.lines.append("\t".join(fields))
        table.src.append(fields[src_col - 1])
        table.tgt.append(fields[tgt_col - 1])
    return table


def pair_scores(
    x: np.ndarray,
    y: np.ndarray,
    src_rows: np.ndarray,
    tgt_rows: np.ndarray,
    metric: str = "margin",
    margin_kind: str = "ratio",
    k: int = 4,
    gpu: bool = False,
) -> np.ndarray:
    """Score pairs (x[src_rows[i]], y[tgt_rows[i]]).

    ``cosine`` is the plain dot product of the unit vectors. ``margin`` divides
    (ratio) or offsets (distance) it by the mean similarity of each side's k
    nearest neighbours among the *other* side's sentences of the same file, as
    LASER's scoring mode does.
    """
    ScoreOptions(metric, margin_kind, k).check()
    cos = np.einsum("ij,ij->i", x[src_rows], y[tgt_rows])
    if metric == "cosine":
        return cos
    # means over the neighbours found: an empty (all-zero) sentence has none, and its pairs use the
    # other side's mean; a margin left undefined (both sides empty, or a ratio over a mean <= 0) is -inf
    mean_x = neighbour_means(*knn(x, y, k, gpu=gpu))
    mean_y = neighbour_means(*knn(y, x, k, gpu=gpu))
    scores = margin(cos, mean_x[src_rows], mean_y[tgt_rows], margin_kind)
    undefined = int(np.isinf(scores).sum())
    if undefined:
        warn(f"{undefined} pairs have no defined {margin_kind} margin (both sides empty, or no similar sentence "
             "on either side) and are scored -inf")
    return scores


def unique_rows(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts (first-seen order) and, for every input text, its row among them."""
    index: dict[str, int] = {}
    rows = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    return list(index), rows


def score_pairs(
    table: PairTable,
    encoder,
    metric: str = "margin",
    margin_kind: str = "ratio",
    k: int = 4,
    batch_size: int = 64,
    punct_lang: str | None = None,
    gpu: bool = False,
) -> np.ndarray:
    """Scores for every pair of ``table``, each distinct sentence encoded once."""
    src_texts, src_rows = unique_rows(table.src)
    tgt_texts, tgt_rows = unique_rows(table.tgt)
    x = embed(encoder, src_texts, batch_size=batch_size, punct_lang=punct_lang, label="encoding src")
    y = embed(encoder, tgt_texts, batch_size=batch_size, punct_lang=punct_lang, label="encoding tgt")
    return pair_scores(x, y, src_rows, tgt_rows, metric=metric, margin_kind=margin_kind, k=k, gpu=gpu)


def write_scored(table: PairTable, scores: np.ndarray, out: str, min_score: float | None = None,
                 force: bool = False) -> int:
    """Write each input line with its score appended (only those scoring at least ``min_score``) to ``out``
    atomically; returns how many were written."""
    from .io import atomic_output

    kept = 0
    with atomic_output(out, force=force) as fh:
        for line, s in zip(table.lines, scores.tolist()):
            if min_score is None or s >= min_score:
                fh.write(f"{line}\t{s:.6f}\n")
                kept += 1
    info(f"{kept} of {len(table.lines)} pairs written")
    return kept


def score_to_file(pairs: str | os.PathLike, out: str, spec: EncoderSpec, options: ScoreOptions | None = None,
                  src_col: int = 1, tgt_col: int = 2, errors: str = "strict", force: bool = False) -> int:
    """``mineshaft score``: read a TSV of pairs, score each pair with ``spec``'s encoder, write the lines
    with their scores (see :func:`write_scored`); returns how many were written."""
    from .io import check_output_path

    options = options or ScoreOptions()
    options.check()
    check_output_path(out, force)
    table = read_pairs(pairs, src_col=src_col, tgt_col=tgt_col, errors=errors)
    scores = score_pairs(table, spec.load(), metric=options.metric, margin_kind=options.margin, k=options.k,
                         batch_size=spec.batch_size, punct_lang=spec.punct_lang, gpu=options.gpu)
    return write_scored(table, scores, out, options.min_score, force=force)
