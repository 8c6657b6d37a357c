"""Margin-based bitext mining: two monolingual inputs in, scored translation pairs out.

The job runs in shards that are persisted in a work directory with completion
markers: both sides are encoded into embedding stores, each block of queries
is searched and its k-NN saved; margins and the retrieval mode then run on the
saved neighbours. Killed and re-run with the same work directory, the job
skips what is done and writes byte-identical output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import progress
from ..encoders import EncoderSpec
from ..engines import LocalEngine
from ..errors import InputError, UsageError
from ..io import parse_size
from ..language_id import language_name
from ..npy import release_pages
from ..store import EmbeddingStore
from ..vectors import check_pair
from .corpus import SPOOL_SUFFIX, number_signature, text_length
from .margin import MARGINS, MODES, Pairs, candidate_margins, check_k, check_k_fits, neighbour_means, select_pairs
from .null_model import DEFAULT_MIN_PRECISION, MIN_QUERIES, Candidates, fit_null, mutual_cut, why_no_fit
from .search import DEFAULT_NPROBE, Searcher, check_factory, check_trainable, faiss_gpu_available
from .sources import Source, check_inputs, check_same_encoder, is_embeddings, load_source, scan_text
from .threshold import ThresholdFit, choose_threshold, model_dir_of, parse_threshold

if TYPE_CHECKING:
    from ..encoders import Encoder
    from ..engines import Engine


@dataclass
class MineOptions:
    """Everything that shapes the result of a mining job (plus resource knobs)."""

    k: int = 4
    margin: str = "ratio"
    mode: str = "max"
    #: "default" (the model's calibrated threshold, else auto), "auto", a number, or None (keep every pair);
    #: see mineshaft.mining.threshold
    threshold: float | str | None = "default"
    #: ``auto``'s floor: it never keeps pairs whose estimated precision falls below this (see mining.null_model)
    min_precision: float = DEFAULT_MIN_PRECISION
    index: str = "flat"
    nprobe: int = DEFAULT_NPROBE
    #: bytes, or a size such as "2G" or "512M"
    memory: int | str = 2 << 30
    gpu: bool = False
    shard_size: int = 100_000

    def __post_init__(self) -> None:
        self.check()  # a library user's MineOptions(k=0) fails where it is made

    def check(self) -> None:
        """Refuse impossible values (as :class:`~mineshaft.errors.UsageError`); parse ``threshold`` and ``memory``."""
        check_k(self.k)
        if self.margin not in MARGINS:
            raise UsageError(f"unknown --margin {self.margin!r} (use one of {', '.join(MARGINS)})")
        if self.mode not in MODES:
            raise UsageError(f"unknown --mode {self.mode!r} (use one of {', '.join(MODES)})")
        if not 0.0 < self.min_precision < 1.0:
            raise UsageError(f"--min-precision must be between 0 and 1 (exclusive), got {self.min_precision}")
        if not 1 <= self.nprobe <= 1_000_000:
            raise UsageError(f"--nprobe must be between 1 and 1000000, got {self.nprobe}")
        if isinstance(self.memory, str):
            self.memory = parse_size(self.memory, "--memory")
        if self.memory < 16 << 20:
            raise UsageError(f"--memory must be at least 16 MB, got {self.memory} bytes")
        if not 1 <= self.shard_size <= 100_000_000:
            raise UsageError(f"--shard-size must be between 1 and 100000000, got {self.shard_size}")

        self.threshold = parse_threshold(self.threshold)
        if self.gpu:
            if not faiss_gpu_available():
                raise UsageError("--gpu asked for, but faiss has no GPU support here (pip install 'mineshaft[gpu]')")
        if self.index not in ("flat", "torch", "auto"):
            check_factory(self.index)


@dataclass
class MineResult:
    pairs: Pairs
    src: Source
    tgt: Source
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ search

#: the two sides and the two search directions, as their work-directory entries are named
SIDES = ("src", "tgt")
DIRECTIONS = ("src2tgt", "tgt2src")


def work_entries() -> tuple[str, ...]:
    """What a run writes in its work directory: each side's embedding store and spooled standard input, each
    direction's k-NN stores (:func:`mineshaft.mining.output.remove_work` removes only these from a folder that was
    there before)."""
    return (*(f"emb-{side}" for side in SIDES), *(f"{side}{SPOOL_SUFFIX}" for side in SIDES),
            *(f"{d}-{part}" for d in DIRECTIONS for part in ("sims", "ids")))


def search_source(
    queries: Source, searcher: Searcher, k: int, work: Path | None, engine: Engine | None, label: str, meta: dict
) -> tuple[np.ndarray, np.ndarray]:
    """k-NN of every query block, each block's result saved (and reused) under ``work``."""
    engine = engine or LocalEngine()
    sims_store = ids_store = None
    if work is not None:
        sims_store = EmbeddingStore(work / f"{label}-sims").open(meta)
        ids_store = EmbeddingStore(work / f"{label}-ids").open(meta)
    try:
        return _search_blocks(queries, searcher, k, engine, label, sims_store, ids_store)
    finally:
        for store in (sims_store, ids_store):
            if store is not None:
                store.release()


def _search_blocks(queries: Source, searcher: Searcher, k: int, engine: Engine, label: str,
                   sims_store: EmbeddingStore | None, ids_store: EmbeddingStore | None):
    n, kk = queries.n, min(k, searcher.n)
    sims = np.empty((n, kk), dtype=np.float32)
    ids = np.empty((n, kk), dtype=np.int64)
    offsets = np.cumsum([0] + [b.shape[0] for b in queries.blocks])
    reused = 0
    with progress.task(f"k-NN {label}", total=n) as advance:
        def jobs() -> Iterator[tuple[int, np.ndarray]]:
            nonlocal reused
            for i, block in enumerate(queries.blocks):
                if sims_store is not None and sims_store.is_done(i) and ids_store.is_done(i):  # type: ignore[union-attr]
                    sims[offsets[i] : offsets[i + 1]] = sims_store.shard(i)
                    ids[offsets[i] : offsets[i + 1]] = ids_store.shard(i)  # type: ignore[union-attr]
                    advance(block.shape[0])
                    reused += 1
                    continue
                yield i, block

        for i, (d, j) in engine.search(searcher, jobs(), kk):
            sims[offsets[i] : offsets[i + 1]], ids[offsets[i] : offsets[i + 1]] = d, j
            release_pages(queries.blocks[i])  # searched: its file pages leave the resident set
            if sims_store is not None:
                sims_store.write_shard(i, d)
                ids_store.write_shard(i, j)  # type: ignore[union-attr]
            advance(d.shape[0])
    if reused:  # as encoding says it
        progress.info(f"k-NN {label}: resumed, {reused} of {len(queries.blocks)} blocks were already done")
    return sims, ids


def mine_sources(x: Source, y: Source, opts: MineOptions, work: Path | None = None, engine: Engine | None = None,
                 with_candidates: bool = False):
    """Mine pairs between two embedded sides; with ``with_candidates``, ``(pairs, candidates)``: every query's k
    candidates and their margins (:class:`mineshaft.mining.null_model.Candidates`, what ``fit_null`` reads)."""
    opts.check()
    dx, dy = x.blocks[0].shape[1], y.blocks[0].shape[1]
    if dx != dy:
        raise InputError(f"source and target embeddings differ in dimension ({dx} vs {dy})")
    # "search": 2 = ties by id, zero rows never neighbours (older saved k-NN is searched again)
    common = {"k": opts.k, "index": opts.index, "nprobe": opts.nprobe, "x": x.digest, "y": y.digest, "search": 2}
    searchers = [Searcher(db.blocks, opts.index, opts.nprobe, opts.memory, opts.gpu) for db in (y, x)]
    if opts.index == "auto":
        progress.info("--index auto: " + ", ".join(f"{s.kind} for {name}" for s, name in zip(searchers, DIRECTIONS)))
    # each searcher (and the index it builds) goes once its direction is searched: one index in memory at a time
    fwd = search_source(x, searchers.pop(0), opts.k, work, engine, DIRECTIONS[0], {**common, "dir": "fwd"})
    bwd = search_source(y, searchers.pop(0), opts.k, work, engine, DIRECTIONS[1], {**common, "dir": "bwd"})
    return pairs_from_neighbours(fwd, bwd, opts, with_candidates)


def pairs_from_neighbours(fwd, bwd, opts: MineOptions, with_candidates: bool = False):
    """Pairs from both directions' k-NN: (similarities, ids), missing neighbours as id -1.

    Margins average only the neighbours found; a sentence with none (an empty row, or an
    approximate index that visited no vector) is never paired. Warns with the counts.
    """
    (sxy, ixy), (syx, iyx) = fwd, bwd
    mean_x, mean_y = neighbour_means(sxy, ixy), neighbour_means(syx, iyx)
    _warn_short(ixy, iyx, opts.k, approximate=opts.index not in ("flat", "torch"))
    if opts.margin == "ratio":
        bad = int((mean_x <= 0).sum() + (mean_y <= 0).sum())
        if bad:
            progress.warn(f"{bad} sentences have a mean neighbour similarity <= 0: the ratio margin is undefined "
                          "for some of their candidates, which are not paired (--margin distance keeps them)")
    fs = candidate_margins(sxy, ixy, mean_x, mean_y, opts.margin)
    bs = candidate_margins(syx, iyx, mean_y, mean_x, opts.margin)
    # a number cuts here, unless the caller takes every candidate to cut later (apply_threshold), as
    # "default" and "auto" always are: the summary then counts the candidates the number dropped too
    numeric = opts.threshold if isinstance(opts.threshold, (int, float)) and not with_candidates else None
    pairs = select_pairs(fs, ixy, bs, iyx, mode=opts.mode, threshold=numeric)
    if not with_candidates:
        return pairs

    return pairs, Candidates(fs, np.asarray(ixy), bs, np.asarray(iyx))


def _warn_short(ixy: np.ndarray, iyx: np.ndarray, k: int, approximate: bool) -> None:
    """One warning for sentences that found fewer than k neighbours (id -1), both directions together."""
    found = [(np.asarray(i) >= 0).sum(axis=1) for i in (ixy, iyx)]
    short = sum(int((f < i.shape[1]).sum()) for f, i in zip(found, (ixy, iyx)))
    if not short:
        return
    none = sum(int((f == 0).sum()) for f in found)
    progress.warn(f"{short} of {len(ixy) + len(iyx)} sentences (both directions) found fewer than "
                  f"{min(k, max(ixy.shape[1], iyx.shape[1]))} neighbours; their margins average only those found"
                  + (f"; {none} found none (empty rows, or an index that visited no vector) and are not paired"
                     if none else "")
                  + (" (raise --nprobe, or use --index flat)" if approximate else ""))


def mine_embeddings(
    x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio", mode: str = "max",
    threshold: float | None = None, lengths: tuple[np.ndarray, np.ndarray] | None = None,
    numbers: tuple[np.ndarray, np.ndarray] | None = None, **options,
) -> Pairs:
    """Mine pairs between two in-memory matrices of unit vectors (rows are the sentences).

    ``threshold`` None keeps every candidate; "auto" (or "default": there is no model here) cuts where the
    estimated precision of the pairs kept falls below ``min_precision`` (:func:`mineshaft.mining.threshold.auto_threshold`);
    ``lengths`` (each sentence's length in characters, source and target: :func:`text_lengths`) give its null
    model the length clue, ``numbers`` (the signatures of their digits: :func:`text_numbers`) the number clue.
    """
    opts = MineOptions(k=k, margin=margin, mode=mode, threshold=threshold, **options)
    pairs, candidates = _mine_arrays(x, y, opts, lengths, numbers)
    return apply_threshold(pairs, opts, candidates=candidates)[0]


def mine_with_fit(x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio", mode: str = "max",
                  lengths: tuple[np.ndarray, np.ndarray] | None = None,
                  numbers: tuple[np.ndarray, np.ndarray] | None = None, **options):
    """Every candidate pair of two in-memory matrices (no threshold) and the run's null model
    (:class:`mineshaft.mining.threshold.ThresholdFit`, None with too few candidates): ``(pairs, fit)``;
    ``lengths`` and ``numbers`` as for :func:`mine_embeddings`."""
    opts = MineOptions(k=k, margin=margin, mode=mode, threshold=None, **options)
    pairs, candidates = _mine_arrays(x, y, opts, lengths, numbers)
    return pairs, ThresholdFit.of(fit_null(candidates), pairs)


def _mine_arrays(x: np.ndarray, y: np.ndarray, opts: MineOptions, lengths: tuple[np.ndarray, np.ndarray] | None,
                 numbers: tuple[np.ndarray, np.ndarray] | None):
    """Every candidate pair of two in-memory matrices and their candidates (with the sentences' lengths and
    number signatures, where given)."""
    x, y = check_pair(x, y)
    pairs, candidates = mine_sources(Source.from_array(x, digest=""), Source.from_array(y, digest=""), opts,
                                     with_candidates=True)
    return pairs, candidates.with_lengths(*(lengths or (None, None))).with_numbers(*(numbers or (None, None)))


def text_lengths(texts) -> np.ndarray:
    """Each sentence's length in characters (the null model's length clue), as ``mine`` measures it."""
    return np.fromiter((text_length(t) for t in texts), dtype=np.int32)


def text_numbers(texts) -> np.ndarray:
    """Each sentence's number signature (the null model's number clue), as ``mine`` measures it."""
    return np.fromiter((number_signature(t) for t in texts), dtype=np.uint32)


def text_clues(src_texts, tgt_texts, lengths: bool = True, numbers: bool = True
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The null model's clues from the two sides' sentences, as ``mine`` has them from text: the ``lengths`` and
    ``numbers`` keyword arguments of :func:`mine_embeddings` and :func:`mine_with_fit` (either left out when
    switched off here)."""
    src_texts, tgt_texts = list(src_texts), list(tgt_texts)
    clues = {}
    if lengths:
        clues["lengths"] = (text_lengths(src_texts), text_lengths(tgt_texts))
    if numbers:
        clues["numbers"] = (text_numbers(src_texts), text_numbers(tgt_texts))
    return clues


def apply_threshold(pairs: Pairs, opts: MineOptions, model_dir: str | os.PathLike | None = None,
                    candidates: Candidates | None = None):
    """``(kept pairs, ThresholdChoice)``: ``opts.threshold`` resolved for these candidate pairs and applied;
    ``candidates`` (every query's k candidates) lets the run fit its null model (``auto``, estimated precision)."""
    null = fit_null(candidates) if candidates is not None else None
    no_fit = fallback = None
    if candidates is not None and null is None:
        no_fit = why_no_fit(candidates, opts.k)
        if len(candidates.fwd_scores) + len(candidates.bwd_scores) < MIN_QUERIES:  # a few lines: no model to fit
            fallback = mutual_cut(candidates, pairs.src, pairs.tgt, pairs.score)
    choice = choose_threshold(opts.threshold, pairs.score, model_dir, opts.k, opts.margin, opts.mode,
                              ThresholdFit.of(null, pairs), opts.min_precision, no_fit, fallback)
    return pairs.above(choice.value), choice


def mine(
    src: str | os.PathLike,
    tgt: str | os.PathLike,
    work_dir: str | os.PathLike,
    encoder_name: str = "default",
    spec: EncoderSpec | None = None,
    options: MineOptions | None = None,
    engine: Engine | None = None,
    loaded_encoder: Encoder | None = None,
    id_column: bool = False,
    dedup: bool | None = None,
    errors: str = "strict",
) -> MineResult:
    """Mine translation pairs between two inputs (text, ``.npy`` or embedding-store directories).

    Text is encoded by ``spec`` (default: ``EncoderSpec(encoder_name)``), with ``loaded_encoder`` if given.
    ``work_dir`` holds the job's shards; re-running with the same one resumes. ``options.threshold``
    (default: the model's calibrated threshold, else auto) is applied; ``result.info["threshold"]`` is the
    :class:`~mineshaft.mining.threshold.ThresholdChoice`, ``result.info["candidate_scores"]`` every candidate's margin
    ``result.info["candidates"]`` every candidate pair (:class:`~mineshaft.mining.margin.Pairs`) and
    ``result.info["inputs"]`` the two inputs as given. ``dedup``: search each distinct sentence of a text input
    once (None, the default: yes; True refuses inputs that are both embeddings, where it cannot apply).
    """
    opts = options or MineOptions()
    opts.check()
    if engine is None:  # an engine made here is closed here
        with LocalEngine() as local:
            return mine(src, tgt, work_dir, encoder_name, spec, options, local, loaded_encoder, id_column, dedup, errors)
    check_inputs(src, tgt, id_column=id_column, dedup=dedup, punct_lang=spec.punct_lang if spec else None)
    spec = spec or EncoderSpec(encoder_name)
    work = Path(work_dir)  # made by the first step that writes there (a spooled stdin, shards)
    sides = tuple(zip(SIDES, (src, tgt)))
    check_same_encoder(list(sides), spec)
    # both text sides are read (and any input error found) before either is encoded
    dedup = dedup is not False
    corpora = {name: None if is_embeddings(str(path)) else
               scan_text(path, work, name, id_column=id_column, dedup=dedup, errors=errors) for name, path in sides}
    for name, corpus in corpora.items():  # a k or an index the text cannot hold: said before anything is encoded
        if corpus is not None:
            check_k_fits(opts.k, len(corpus.rows), f"sentences of {name}")
            check_trainable(opts.index, len(corpus.rows))  # each side is the other's database
    x, y = [load_source(path, work, name, spec=spec, encoder=loaded_encoder, engine=engine, shard_size=opts.shard_size,
                        id_column=id_column, dedup=dedup, errors=errors, corpus=corpora[name]) for name, path in sides]
    for (name, _), source in zip(sides, (x, y)):  # embeddings given as input (text was checked above)
        if corpora[name] is None:
            check_k_fits(opts.k, sum(b.shape[0] for b in source.blocks), f"sentences of {name}")
            check_trainable(opts.index, sum(b.shape[0] for b in source.blocks))
    if x.language is not None and x.language == y.language:
        progress.warn(f"src and tgt are both {language_name(x.language)} ({x.language}): mine pairs translations "
                      "between two languages; on one language it pairs each sentence with itself or a paraphrase")
    candidates, queries = mine_sources(x, y, opts, work, engine, with_candidates=True)
    if x.corpus is not None and y.corpus is not None:  # both sides are text: the null model's length and number clues
        queries = (queries.with_lengths(x.corpus.lengths, y.corpus.lengths)
                   .with_numbers(x.corpus.numbers, y.corpus.numbers))
    # the model's calibrated threshold describes its own vectors: text this run encoded with it, or
    # embeddings whose record names it; vectors of unknown origin get --threshold auto's cut

    records = [s.encoder for s in (x, y) if isinstance(getattr(s, "encoder", None), dict)]
    maker = spec.name if x.corpus is not None or y.corpus is not None else (records[0].get("encoder") if records else None)
    model_dir = model_dir_of(maker)
    pairs, choice = apply_threshold(candidates, opts, model_dir, queries)
    return MineResult(pairs, x, y, info={"threshold": choice, "candidate_scores": candidates.score,
                                         "candidates": candidates, "threshold_fit": choice.fit,
                                         "inputs": (str(src), str(tgt))})
