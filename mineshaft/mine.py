"""Margin-based bitext mining: two monolingual inputs in, scored translation pairs out.

The job runs in shards that are persisted in a work directory with completion
markers: both sides are encoded into embedding stores, each block of queries
is searched and its k-NN saved; margins and the retrieval mode then run on the
saved neighbours. Killed and re-run with the same work directory, the job
skips what is done and writes byte-identical output.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import progress
from .corpus import SPOOL_SUFFIX, Corpus
from .engines import LocalEngine
from .errors import InputError, UsageError
from .io import check_stdin, display_name, load_embeddings, parse_size, release_pages
from .margin import MARGINS, MODES, Pairs, candidate_margins, check_k, neighbour_means, select_pairs
from .search import DEFAULT_NPROBE, Searcher
from .store import EmbeddingStore

if TYPE_CHECKING:
    from .encoders import Encoder, EncoderSpec
    from .engines import Engine
    from .filters import PairFilter
    from .null_model import Candidates


@dataclass
class MineOptions:
    """Everything that shapes the result of a mining job (plus resource knobs)."""

    k: int = 4
    margin: str = "ratio"
    mode: str = "max"
    #: "default" (the model's calibrated threshold, else auto), "auto", a number, or None (keep every pair);
    #: see mineshaft.threshold
    threshold: float | str | None = "default"
    #: ``auto`` keeps pairs, best first, while their estimated precision is at least this (see mineshaft.null_model)
    min_precision: float = 0.9
    index: str = "flat"
    nprobe: int = DEFAULT_NPROBE
    #: bytes, or a size such as "2G" or "512M"
    memory: int | str = 2 << 30
    gpu: bool = False
    shard_size: int = 100_000

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
        from .threshold import parse_threshold

        self.threshold = parse_threshold(self.threshold)
        if self.gpu:
            from .search import faiss_gpu_available

            if not faiss_gpu_available():
                raise UsageError("--gpu asked for, but faiss has no GPU support here (pip install 'mineshaft[gpu]')")
        if self.index not in ("flat", "torch", "auto"):
            from .search import check_factory

            check_factory(self.index)


@dataclass
class Source:
    """The embeddings of one side as a list of blocks (memory-mapped shards or array slices)."""

    blocks: list[np.ndarray]
    digest: str
    corpus: Corpus | None = None
    n_lines: int = 0
    #: which encoder made the vectors (see :func:`mineshaft.encoders.digest.encoder_record`); None if unknown
    encoder: dict | None = None

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


@dataclass
class MineResult:
    pairs: Pairs
    src: Source
    tgt: Source
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- sides
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
    from .encode import encode_to_store
    from .languages import SAMPLE_LINES, check_input_languages

    check_input_languages(encoder or spec, itertools.islice(corpus.iter_texts(), SAMPLE_LINES),
                          f"{name} ({display_name(path_s)})")
    store = encode_to_store(corpus.iter_texts(), work / f"emb-{name}", spec, n_rows=len(corpus),
                            shard_size=shard_size, engine=engine, encoder=encoder, label=f"encoding {name}")
    return Source(list(store.shards()), store.digest(), corpus=corpus, n_lines=corpus.n_lines,
                  encoder=recorded_encoder(store.path))


def scan_text(path: str | os.PathLike, work: Path, name: str, id_column: bool = False, dedup: bool = False,
              errors: str = "strict") -> Corpus:
    """Read a text side once (standard input is spooled into ``work``): the lines it mines, or an input error."""
    corpus = Corpus.scan(str(path), id_column=id_column, dedup=dedup, errors=errors, spool_dir=work, name=name)
    progress.info(f"{name}: {corpus.n_lines} lines, {len(corpus)} mined"
                  + (f", {corpus.dropped_empty} empty" if corpus.dropped_empty else "")
                  + (f", {corpus.dropped_duplicates} duplicates" if corpus.dropped_duplicates else ""))
    return corpus


def check_inputs(src: str | os.PathLike, tgt: str | os.PathLike, id_column: bool = False, dedup: bool = False,
                 punct_lang: str | None = None) -> None:
    """Refuse, before any work, inputs that cannot be read as given and options that cannot apply to them."""
    if str(src) == str(tgt) == "-":
        raise UsageError("src and tgt are both standard input (-): only one side can be read from it; "
                         "give the other as a file")
    for path in (src, tgt):  # both inputs exist before either is encoded
        if str(path) == "-":
            check_stdin()
        elif not Path(path).exists():
            raise InputError(f"{path}: no such file")
    if any(not _is_embeddings(str(p)) for p in (src, tgt)):
        return
    given = [flag for flag, on in (("--id-column", id_column), ("--dedup", dedup), ("--normalize-punct", punct_lang))
             if on]
    if given:
        raise UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to text inputs, and "
                         "both inputs are embeddings (.npy files or stores)")


def _is_embeddings(path: str) -> bool:
    return path.endswith(".npy") or (Path(path).is_dir() and EmbeddingStore.is_store(path))


def recorded_encoder(path: str | os.PathLike, warn: bool = True) -> dict | None:
    """The encoder record of a ``.npy`` (its sidecar) or an embedding store (its manifest), None if it has none."""
    from .io import read_sidecar

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
    from .encoders.digest import describe, encoder_record, same_model

    if not any(_is_embeddings(str(p)) for _, p in sides):
        return  # text on both sides: one encoder encodes both
    records = []
    for _, path in sides:
        path_s = str(path)
        if _is_embeddings(path_s):
            record = recorded_encoder(path_s)
            if record is None:
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


# ------------------------------------------------------------------------------------------ search
def search_source(
    queries: Source, searcher: Searcher, k: int, work: Path | None, engine: Engine | None, label: str, meta: dict
) -> tuple[np.ndarray, np.ndarray]:
    """k-NN of every query block, each block's result saved (and reused) under ``work``."""
    engine = engine or LocalEngine()
    sims_store = ids_store = None
    if work is not None:
        sims_store = EmbeddingStore(work / f"{label}-sims").open(meta)
        ids_store = EmbeddingStore(work / f"{label}-ids").open(meta)
    n, kk = queries.n, min(k, searcher.n)
    sims = np.empty((n, kk), dtype=np.float32)
    ids = np.empty((n, kk), dtype=np.int64)
    offsets = np.cumsum([0] + [b.shape[0] for b in queries.blocks])
    with progress.task(f"k-NN {label}", total=n) as advance:
        def jobs() -> Iterator[tuple[int, np.ndarray]]:
            for i, block in enumerate(queries.blocks):
                if sims_store is not None and sims_store.is_done(i) and ids_store.is_done(i):  # type: ignore[union-attr]
                    sims[offsets[i] : offsets[i + 1]] = sims_store.shard(i)
                    ids[offsets[i] : offsets[i + 1]] = ids_store.shard(i)  # type: ignore[union-attr]
                    advance(block.shape[0])
                    continue
                yield i, block

        for i, (d, j) in engine.search(searcher, jobs(), kk):
            sims[offsets[i] : offsets[i + 1]], ids[offsets[i] : offsets[i + 1]] = d, j
            release_pages(queries.blocks[i])  # searched: its file pages leave the resident set
            if sims_store is not None:
                sims_store.write_shard(i, d)
                ids_store.write_shard(i, j)  # type: ignore[union-attr]
            advance(d.shape[0])
    return sims, ids


def mine_sources(x: Source, y: Source, opts: MineOptions, work: Path | None = None, engine: Engine | None = None,
                 with_candidates: bool = False):
    """Mine pairs between two embedded sides; with ``with_candidates``, ``(pairs, candidates)``: every query's k
    candidates and their margins (:class:`mineshaft.null_model.Candidates`, what ``fit_null`` reads)."""
    opts.check()
    dx, dy = x.blocks[0].shape[1], y.blocks[0].shape[1]
    if dx != dy:
        raise InputError(f"source and target embeddings differ in dimension ({dx} vs {dy})")
    # "search": 2 = ties by id, zero rows never neighbours (older saved k-NN is searched again)
    common = {"k": opts.k, "index": opts.index, "nprobe": opts.nprobe, "x": x.digest, "y": y.digest, "search": 2}
    fwd = search_source(x, Searcher(y.blocks, opts.index, opts.nprobe, opts.memory, opts.gpu), opts.k, work, engine,
                        "src2tgt", {**common, "dir": "fwd"})
    bwd = search_source(y, Searcher(x.blocks, opts.index, opts.nprobe, opts.memory, opts.gpu), opts.k, work, engine,
                        "tgt2src", {**common, "dir": "bwd"})
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
    numeric = opts.threshold if isinstance(opts.threshold, (int, float)) else None  # "default"/"auto": later
    pairs = select_pairs(fs, ixy, bs, iyx, mode=opts.mode, threshold=numeric)
    if not with_candidates:
        return pairs
    from .null_model import Candidates

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
    threshold: float | None = None, **options,
) -> Pairs:
    """Mine pairs between two in-memory matrices of unit vectors (rows are the sentences).

    ``threshold`` None keeps every candidate; "auto" (or "default": there is no model here) cuts where the
    estimated precision of the pairs kept falls below ``min_precision`` (:func:`mineshaft.threshold.auto_threshold`).
    """
    opts = MineOptions(k=k, margin=margin, mode=mode, threshold=threshold, **options)
    pairs, candidates = mine_sources(Source.from_array(x, digest=""), Source.from_array(y, digest=""), opts,
                                     with_candidates=True)
    return apply_threshold(pairs, opts, candidates=candidates)[0]


def mine_with_fit(x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio", mode: str = "max", **options):
    """Every candidate pair of two in-memory matrices (no threshold) and the run's null model
    (:class:`mineshaft.threshold.ThresholdFit`, None with too few candidates): ``(pairs, fit)``."""
    from .null_model import fit_null
    from .threshold import ThresholdFit

    opts = MineOptions(k=k, margin=margin, mode=mode, threshold=None, **options)
    pairs, candidates = mine_sources(Source.from_array(x, digest=""), Source.from_array(y, digest=""), opts,
                                     with_candidates=True)
    return pairs, ThresholdFit.of(fit_null(candidates), pairs)


def apply_threshold(pairs: Pairs, opts: MineOptions, model_dir: str | os.PathLike | None = None,
                    candidates: Candidates | None = None):
    """``(kept pairs, ThresholdChoice)``: ``opts.threshold`` resolved for these candidate pairs and applied;
    ``candidates`` (every query's k candidates) lets the run fit its null model (``auto``, estimated precision)."""
    from .null_model import fit_null
    from .threshold import ThresholdFit, choose_threshold

    fit = ThresholdFit.of(fit_null(candidates), pairs) if candidates is not None else None
    choice = choose_threshold(opts.threshold, pairs.score, model_dir, opts.k, opts.margin, opts.mode, fit,
                              opts.min_precision)
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
    dedup: bool = False,
    errors: str = "strict",
) -> MineResult:
    """Mine translation pairs between two inputs (text, ``.npy`` or embedding-store directories).

    Text is encoded by ``spec`` (default: ``EncoderSpec(encoder_name)``), with ``loaded_encoder`` if given.
    ``work_dir`` holds the job's shards; re-running with the same one resumes. ``options.threshold``
    (default: the model's calibrated threshold, else auto) is applied; ``result.info["threshold"]`` is the
    :class:`~mineshaft.threshold.ThresholdChoice`, ``result.info["candidate_scores"]`` every candidate's margin
    ``result.info["candidates"]`` every candidate pair (:class:`~mineshaft.margin.Pairs`) and
    ``result.info["inputs"]`` the two inputs as given.
    """
    from .encoders import EncoderSpec

    opts = options or MineOptions()
    opts.check()
    if engine is None:  # an engine made here is closed here
        with LocalEngine() as local:
            return mine(src, tgt, work_dir, encoder_name, spec, options, local, loaded_encoder, id_column, dedup, errors)
    check_inputs(src, tgt, id_column=id_column, dedup=dedup, punct_lang=spec.punct_lang if spec else None)
    spec = spec or EncoderSpec(encoder_name)
    work = Path(work_dir)  # made by the first step that writes there (a spooled stdin, shards)
    check_same_encoder([("src", src), ("tgt", tgt)], spec)
    sides = (("src", src), ("tgt", tgt))
    # both text sides are read (and any input error found) before either is encoded
    corpora = {name: None if _is_embeddings(str(path)) else
               scan_text(path, work, name, id_column=id_column, dedup=dedup, errors=errors) for name, path in sides}
    x, y = [load_source(path, work, name, spec=spec, encoder=loaded_encoder, engine=engine, shard_size=opts.shard_size,
                        id_column=id_column, dedup=dedup, errors=errors, corpus=corpora[name]) for name, path in sides]
    candidates, queries = mine_sources(x, y, opts, work, engine, with_candidates=True)
    # the model's calibrated threshold describes its own vectors: text this run encoded with it, or
    # embeddings whose record names it; vectors of unknown origin get --threshold auto's cut
    from .threshold import model_dir_of

    records = [s.encoder for s in (x, y) if isinstance(getattr(s, "encoder", None), dict)]
    maker = spec.name if x.corpus is not None or y.corpus is not None else (records[0].get("encoder") if records else None)
    model_dir = model_dir_of(maker)
    pairs, choice = apply_threshold(candidates, opts, model_dir, queries)
    return MineResult(pairs, x, y, info={"threshold": choice, "candidate_scores": candidates.score,
                                         "candidates": candidates, "threshold_fit": choice.fit,
                                         "inputs": (str(src), str(tgt))})


# ------------------------------------------------------------------------------------------ output
def _cell(text: str) -> str:
    """A text as one TSV cell: tabs inside it would shift the columns."""
    return text.replace("\t", " ")


def pair_texts(result: MineResult) -> tuple[dict, dict]:
    """``{row: (id, text)}`` for the rows of both sides that appear in the pairs."""
    out = []
    for side, rows in ((result.src, result.pairs.src), (result.tgt, result.pairs.tgt)):
        if side.corpus is not None:
            out.append(side.corpus.fetch(rows.tolist()))
        else:
            out.append({r: (str(r + 1), None) for r in set(rows.tolist())})
    return out[0], out[1]


def filter_pairs(result: MineResult, rules, src_texts: dict, tgt_texts: dict) -> Pairs:
    """Drop pairs that a :class:`~mineshaft.filters.PairFilter` rejects (needs text input)."""
    pairs = result.pairs
    if not rules.active:
        return pairs
    if result.src.corpus is None or result.tgt.corpus is None:
        raise UsageError("pair filters read sentences: give text files, not embeddings")
    keep = np.array(rules.apply((src_texts[s][1], tgt_texts[t][1], sc) for s, t, sc in
                                zip(pairs.src.tolist(), pairs.tgt.tolist(), pairs.score.tolist())), dtype=bool)
    return Pairs(pairs.src[keep], pairs.tgt[keep], pairs.score[keep])


def format_pairs(pairs: Pairs, src_texts: dict, tgt_texts: dict, with_ids: bool = False) -> Iterator[str]:
    """Output lines: ``score[<TAB>src_id<TAB>tgt_id][<TAB>src<TAB>tgt]`` (ids only for embedding input)."""
    for s, t, score in zip(pairs.src.tolist(), pairs.tgt.tolist(), pairs.score.tolist()):
        (sid, stext), (tid, ttext) = src_texts[s], tgt_texts[t]
        cols = [f"{score:.6f}"]
        has_text = stext is not None and ttext is not None
        if with_ids or not has_text:
            cols += [sid, tid]
        if has_text:
            cols += [_cell(stext), _cell(ttext)]
        yield "\t".join(cols) + "\n"


def write_pairs(result: MineResult, out: str, rules: PairFilter | None = None, with_ids: bool = False,
                explain: bool = False, force: bool = False, report: str | os.PathLike | None = None,
                command: str | None = None) -> Pairs:
    """Write a job's pairs that pass ``rules`` as TSV to ``out`` (``-``: stdout), atomically; returns them.

    ``explain`` prints the histogram of the candidates' margins around the threshold on stderr; what
    the filters removed and a summary line go to stderr too (see :mod:`mineshaft.progress`). ``report``: also
    write an HTML page about the run there (:mod:`mineshaft.report_html`; ``command`` is shown on it); it
    reads the inputs again, so call this while the job's work directory exists.
    """
    from .io import atomic_output
    from .report import print_threshold_histogram
    from .threshold import summary

    choice, candidates = result.info["threshold"], result.info["candidate_scores"]
    if explain:
        print_threshold_histogram(candidates, choice)
    src_texts, tgt_texts = pair_texts(result)
    pairs = result.pairs if rules is None else filter_pairs(result, rules, src_texts, tgt_texts)
    if rules is not None and rules.removed:
        progress.info("filtered out: " + ", ".join(f"{n} {name}" for name, n in rules.removed.most_common()))
    with atomic_output(out, force=force) as fh:
        fh.writelines(format_pairs(pairs, src_texts, tgt_texts, with_ids=with_ids))
    written = math.nan
    if choice.fit is not None and len(pairs):
        written = choice.fit.fit.precision(choice.fit.fit.pair_posteriors(pairs.src, pairs.tgt))
        choice.fit.precision = written
    progress.info(summary(len(pairs), len(candidates), choice, out, written))
    if report is not None:
        from .report_html import report_from_result, write_report

        write_report(report, report_from_result(result, pairs, src_texts, tgt_texts, rules, command), force=force)
        progress.info(f"report written to {report}")
    return pairs


@contextlib.contextmanager
def work_directory(work_dir: str | os.PathLike | None, out: str, keep: bool = False) -> Iterator[Path]:
    """A job's work directory: ``work_dir``, else ``OUT.work`` (a temporary one when ``out`` is stdout).

    Made by the job when it first writes there. Kept on failure (to resume), but without spooled
    standard input (read again by the next run) and only if something is left in it; a temporary one
    always goes (nothing could resume from it). On success removed unless ``keep`` or given as ``work_dir``.
    """
    temporary = not work_dir and out == "-"
    if work_dir:
        path, owned = Path(work_dir), False
    elif not temporary:
        path, owned = Path(out + ".work"), True
    else:
        path, owned = Path(tempfile.mkdtemp(prefix="mineshaft-")), True
    existed = path.exists() and not temporary
    try:
        yield path
    except BaseException as exc:
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir():
            for spool in path.glob(f"*{SPOOL_SUFFIX}"):
                spool.unlink(missing_ok=True)
            if not existed and not any(path.iterdir()):
                path.rmdir()
            elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
                progress.info(f"interrupted: finished shards are kept in {path}; run the same command again to resume")
        raise
    if owned and not keep:
        shutil.rmtree(path, ignore_errors=True)


def check_report_path(report: str | os.PathLike, out: str, force: bool) -> None:
    """Refuse a ``--report`` path that is stdout, the pairs' own output, or an existing file without ``force``."""
    from .io import check_output_path

    if str(report) == "-":
        raise UsageError("--report needs a file path (stdout carries the pairs)")
    if out != "-" and Path(report).resolve() == Path(out).resolve():
        raise UsageError(f"--report {report} is the pairs' output file too; give the report another path")
    check_output_path(report, force)


def mine_to_file(
    src: str | os.PathLike,
    tgt: str | os.PathLike,
    out: str = "-",
    options: MineOptions | None = None,
    *,
    rules: PairFilter | None = None,
    with_ids: bool = False,
    explain: bool = False,
    work_dir: str | os.PathLike | None = None,
    keep_work: bool = False,
    force: bool = False,
    report: str | os.PathLike | None = None,
    report_command: str | None = None,
    **job,
) -> MineResult:
    """A whole mining job as ``mineshaft mine`` runs it: :func:`mine` in a :func:`work_directory`, then
    :func:`write_pairs` to ``out``. ``job``: the other keyword arguments of :func:`mine` (``encoder_name``,
    ``spec``, ``engine``, ``loaded_encoder``, ``id_column``, ``dedup``, ``errors``). ``report``: also write an
    HTML page about the run to that path (see :func:`write_pairs`; ``report_command`` is the command line it shows).

    Returns the result, its ``pairs`` those written (its work directory may be gone).
    """
    from .io import check_output_path

    options = options or MineOptions()
    options.check()
    check_output_path(out, force, inputs=(src, tgt))
    if report is not None:
        check_report_path(report, out, force)
    if rules is not None and rules.active and any(_is_embeddings(str(p)) for p in (src, tgt)):
        raise UsageError("pair filters read sentences: give text files, not embeddings")
    with work_directory(work_dir, out, keep_work) as work:
        result = mine(src, tgt, work, options=options, **job)
        result.pairs = write_pairs(result, out, rules, with_ids=with_ids, explain=explain, force=force,
                                   report=report, command=report_command)
    return result
