"""A mining job's pairs written out: their texts fetched again (:func:`pair_texts`), filtered, formatted as TSV lines,
written atomically with the optional HTML report, and :func:`mine_to_file`, the whole ``mineshaft mine`` in one call
(its work directory kept or removed)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import progress
from ..errors import InputError, UsageError
from ..outputs import atomic_output, check_folder, check_output_path, is_special_file
from ..npy import sidecar_path
from ..store import lock_folder, say_kept, unlock
from .corpus import SPOOL_SUFFIX
from .margin import Pairs
from .mine import MineOptions, MineResult, mine, work_entries
from .report import print_threshold_histogram
from .sources import is_embeddings
from .threshold import nothing_written, summary

if TYPE_CHECKING:
    from .filters import PairFilter


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
    """Drop pairs that a :class:`~mineshaft.mining.filters.PairFilter` rejects (needs text input)."""
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
    write an HTML page about the run there (:mod:`mineshaft.mining.report_html`; ``command`` is shown on it); it
    reads the inputs again, so call this while the job's work directory exists.
    """
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
    if not len(pairs) and len(candidates):  # said even with -q: an empty output is never silent
        progress.warn(nothing_written(choice, candidates, len(result.pairs)))
    elif choice.source == "auto" and choice.fit is None and len(pairs):  # kept on a rule, not an estimate
        progress.warn(f"{len(pairs)} pairs written without an estimated precision, {choice.note}; look at them "
                      "before use")
    if report is not None:
        from .report_html import report_from_result, write_report

        write_report(report, report_from_result(result, pairs, src_texts, tgt_texts, rules, command), force=force)
        progress.info(f"report written to {report}")
    return pairs


@contextlib.contextmanager
def work_directory(work_dir: str | os.PathLike | None, out: str, keep: bool = False) -> Iterator[Path]:
    """A job's work directory: ``work_dir``, else ``OUT.work`` (a temporary one when ``out`` is stdout, a device or
    a FIFO).

    Made (where it is not there) and held for this run from the start: another run using it is refused. Kept on
    failure (to resume), but without spooled
    standard input (read again by the next run) and only if something is left in it; a temporary one
    always goes (nothing could resume from it). On success removed unless ``keep`` or given as ``work_dir``.
    """
    temporary = not work_dir and (out == "-" or is_special_file(out))  # stdout, /dev/null, a named pipe
    if temporary and keep:
        raise UsageError(f"--keep-work with the pairs on {'stdout' if out == '-' else f'{out}, a device or pipe,'} "
                         "needs --work-dir (else the work is done in a temporary folder, which nothing could find "
                         "again)")
    if work_dir:
        path, owned = Path(work_dir), False
        check_folder(path, f"--work-dir {work_dir}")
    elif not temporary:
        path, owned = Path(out + ".work"), True
        check_folder(path, f"work directory {path} (of -o {out}; --work-dir puts it elsewhere)")
    else:
        try:
            path, owned = Path(tempfile.mkdtemp(prefix="mineshaft-")), True
        except OSError as exc:
            raise UsageError(f"cannot make a work directory in {tempfile.gettempdir()} ({exc.strerror or exc}); "
                             "give --work-dir") from None
    existed = path.exists() and not temporary
    path.mkdir(parents=True, exist_ok=True)  # to hold it: two runs in one work directory spoil each other's files
    try:
        held = lock_folder(path, f"{path}: another mineshaft run is using this work directory; wait for it to end, "
                                 "or give another --work-dir")
    except InputError:
        if not existed:
            path.rmdir()
        raise
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
                say_kept(path)
        raise
    finally:
        unlock(held)
    if owned and not keep:
        remove_work(path, whole=temporary or not existed)


def remove_work(path: Path, whole: bool) -> None:
    """Remove a finished job's work directory: all of it where the job made it (``whole``), else only what a job
    writes there (:func:`mineshaft.mining.mine.work_entries`), and the folder if that leaves it empty: an
    ``OUT.work`` that was there before may hold a user's own files (or be a link to a folder elsewhere)."""
    if whole and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in (path / name for name in work_entries()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if path.is_symlink():
        return
    with contextlib.suppress(OSError):
        path.rmdir()
    if path.is_dir():
        progress.info(f"{path} kept: it holds files this run did not write (its own are removed)")


def check_report_path(report: str | os.PathLike, out: str, force: bool, inputs: Iterable[str | os.PathLike] = ()
                      ) -> None:
    """Refuse a ``--report`` path that is stdout, the pairs' own output, one of ``inputs`` (even with ``force``),
    or an existing file without ``force``."""
    if str(report) == "-":
        raise UsageError("--report needs a file path (stdout carries the pairs)")
    if out != "-" and Path(report).resolve() == Path(out).resolve():
        raise UsageError(f"--report {report} is the pairs' output file too; give the report another path")
    check_output_path(report, force, inputs)


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
    options = options or MineOptions()
    options.check()
    inputs = (src, tgt, *(sidecar_path(p) for p in (src, tgt) if str(p).endswith(".npy")))  # and their records
    check_output_path(out, force, inputs)
    if report is not None:
        check_report_path(report, out, force, inputs)
    if rules is not None and rules.active and any(is_embeddings(str(p)) for p in (src, tgt)):
        raise UsageError("pair filters read sentences: give text files, not embeddings")
    with work_directory(work_dir, out, keep_work) as work:
        result = mine(src, tgt, work, options=options, **job)
        result.pairs = write_pairs(result, out, rules, with_ids=with_ids, explain=explain, force=force,
                                   report=report, command=report_command)
    return result
