"""Scoring existing sentence pairs by cosine or margin (to filter a noisy parallel corpus)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..embed import embed
from ..errors import InputError, UsageError
from ..io import STDIO, check_stdin, display_name, iter_tsv
from ..outputs import atomic_output, check_output_path
from ..languages import SAMPLE_LINES, check_input_languages
from ..progress import info, warn
from ..vectors import check_pair
from .margin import MARGINS, check_k, check_k_fits, margin, neighbour_means
from .search import knn

if TYPE_CHECKING:
    from ..encoders import EncoderSpec

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


#: the layouts of ``mineshaft mine``'s output that :func:`read_pairs` recognises: columns -> (src, tgt, what)
MINE_LAYOUTS = {3: (2, 3, "mineshaft mine's output: score, src, tgt"),
                5: (4, 5, "mineshaft mine --ids output: score, src id, tgt id, src, tgt")}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pair_columns(rows: list[list[str]], src_col: int | None = None, tgt_col: int | None = None,
                 name: str = "pairs") -> tuple[int, int, str]:
    """The 1-based (src, tgt) columns to read from ``rows`` and how they were chosen.

    Columns given win; a column not given is the layout's. A file laid out as ``mineshaft mine`` writes it
    (every line a number, then the same count of further columns: 3, or 5 with ``--ids``) is read at its text
    columns; any other file at columns 1 and 2. Mine's output for embedding inputs (score and two line numbers:
    no sentences) is refused unless both columns are given.
    """
    if src_col is not None and tgt_col is not None:
        return src_col, tgt_col, "as given"
    if src_col is not None or tgt_col is not None:
        src, tgt, layout = pair_columns(rows, name=name)
        return src_col or src, tgt_col or tgt, f"{'src' if src_col else 'tgt'} as given, the other as {layout}"
    widths = {len(fields) for fields in rows}
    if len(widths) == 1 and all(_is_number(fields[0]) for fields in rows):
        width = widths.pop()
        if width == 3 and all(f[1].isdigit() and f[2].isdigit() for f in rows):
            raise InputError(f"{name}: looks like mineshaft mine's output for embedding inputs (a score and two line "
                             "numbers): it holds no sentences to score (give --src-col and --tgt-col to read it anyway)")
        if width in MINE_LAYOUTS:
            return MINE_LAYOUTS[width]
    return 1, 2, "src<TAB>tgt"


def read_pairs(path: str | os.PathLike, src_col: int | None = None, tgt_col: int | None = None,
               errors: str = "strict") -> PairTable:
    """Read pairs from a TSV file; columns are 1-based, chosen by :func:`pair_columns` (which says on
    stderr which it reads)."""
    for col in (src_col, tgt_col):
        if col is not None and col < 1:
            raise UsageError(f"--src-col and --tgt-col must be positive column numbers, got {col}")
    name = display_name(path)
    rows = list(iter_tsv(path, min_columns=1, errors=errors))
    src_col, tgt_col, layout = pair_columns(rows, src_col, tgt_col, name)
    if src_col == tgt_col:
        raise UsageError(f"--src-col and --tgt-col must be distinct column numbers, got {src_col} and {tgt_col}")
    table = PairTable([], [], [])
    need = max(src_col, tgt_col)
    for lineno, fields in enumerate(rows, 1):
        if len(fields) < need:
            raise InputError(f"{name}:{lineno}: expected at least {need} tab-separated columns, found {len(fields)}")
        table.lines.append("\t".join(fields))
        table.src.append(fields[src_col - 1])
        table.tgt.append(fields[tgt_col - 1])
    info(f"{name}: scoring column {src_col} (src) against column {tgt_col} (tgt) ({layout})")  # once they hold
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
    x, y = check_pair(x, y)
    src_rows, tgt_rows = np.asarray(src_rows), np.asarray(tgt_rows)
    if src_rows.shape != tgt_rows.shape or src_rows.ndim != 1:
        raise ValueError(f"src_rows and tgt_rows must be 1-D and of one length, got shapes {src_rows.shape} and "
                         f"{tgt_rows.shape}")
    for rows, n, side in ((src_rows, len(x), "src_rows"), (tgt_rows, len(y), "tgt_rows")):
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"{side} must index the {n} rows of its matrix, got {rows.min()}..{rows.max()}")
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
    """Scores for every pair of ``table``, each distinct sentence encoded once; an empty (blank) sentence is a zero
    row, as in ``mine``: no one's neighbour, its pairs' cosine 0, and a pair of two -inf (:func:`pair_scores`)."""
    src_texts, src_rows = unique_rows(table.src)
    tgt_texts, tgt_rows = unique_rows(table.tgt)
    x = embed(encoder, src_texts, batch_size=batch_size, punct_lang=punct_lang, label="encoding src", zero_empty=True)
    y = embed(encoder, tgt_texts, batch_size=batch_size, punct_lang=punct_lang, label="encoding tgt", zero_empty=True)
    return pair_scores(x, y, src_rows, tgt_rows, metric=metric, margin_kind=margin_kind, k=k, gpu=gpu)


def write_scored(table: PairTable, scores: np.ndarray, out: str, min_score: float | None = None,
                 force: bool = False) -> int:
    """Write each input line with its score appended (only those scoring at least ``min_score``) to ``out``
    atomically; returns how many were written."""
    kept = 0
    with atomic_output(out, force=force) as fh:
        for line, s in zip(table.lines, scores.tolist()):
            if min_score is None or s >= min_score:
                fh.write(f"{line}\t{s:.6f}\n")
                kept += 1
    info(f"{kept} of {len(table.lines)} pairs written")
    if not kept and table.lines:
        finite = [s for s in scores.tolist() if math.isfinite(s)]
        warn(f"no pair written: every score is under --min-score {min_score:g}"
             + (f" (the best is {max(finite):.4g})" if finite else ""))
    return kept


def score_to_file(pairs: str | os.PathLike, out: str, spec: EncoderSpec, options: ScoreOptions | None = None,
                  src_col: int | None = None, tgt_col: int | None = None, errors: str = "strict",
                  force: bool = False) -> int:
    """``mineshaft score``: read a TSV of pairs (columns: see :func:`pair_columns`), score each pair with
    ``spec``'s encoder, write the lines with their scores (see :func:`write_scored`); returns how many were
    written."""
    options = options or ScoreOptions()
    options.check()
    check_output_path(out, force, inputs=(pairs,))
    if str(pairs) == STDIO:
        check_stdin()
    table = read_pairs(pairs, src_col=src_col, tgt_col=tgt_col, errors=errors)
    if options.metric == "margin":  # the neighbours are the file's distinct sentences of the other side
        for texts, side in ((table.tgt, "target"), (table.src, "source")):
            check_k_fits(options.k, len(set(texts)), f"distinct sentences in {display_name(pairs)}'s {side} column")
    encoder = spec.load()
    for texts, side in ((table.src, "src"), (table.tgt, "tgt")):  # the language lines and warnings mine gives
        check_input_languages(encoder, itertools.islice(texts, SAMPLE_LINES), f"{side} ({display_name(pairs)})")
    scores = score_pairs(table, encoder, metric=options.metric, margin_kind=options.margin, k=options.k,
                         batch_size=spec.batch_size, punct_lang=spec.punct_lang, gpu=options.gpu)
    return write_scored(table, scores, out, options.min_score, force=force)
