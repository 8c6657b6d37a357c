"""The ``mineshaft`` command line: parse, validate, delegate. Data goes to stdout, everything else to stderr."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Multilingual sentence encoders and margin-based mining of parallel sentences.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Margin(str, Enum):
    ratio = "ratio"
    distance = "distance"
    absolute = "absolute"


class Mode(str, Enum):
    forward = "forward"
    backward = "backward"
    intersect = "intersect"
    max = "max"


class Metric(str, Enum):
    margin = "margin"
    cosine = "cosine"


class DType(str, Enum):
    float32 = "float32"
    float16 = "float16"


class Errors(str, Enum):
    strict = "strict"
    replace = "replace"


# Options shared by every command that encodes text.
EncoderOpt = Annotated[str, typer.Option("--encoder", "-e", help="Short name (use, use-numpy, minilm), model directory or HF model id.")]
BatchOpt = Annotated[int, typer.Option(help="Sentences per forward pass.", min=1, max=65536)]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
MaxLenOpt = Annotated[Optional[int], typer.Option(help="Truncate inputs to this many tokens (default: the model's).", min=1, max=100_000)]
PunctOpt = Annotated[Optional[str], typer.Option("--normalize-punct", metavar="LANG", help="Moses punctuation normalization for language LANG before encoding.")]
ThreadsOpt = Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).", min=1, max=1024)]
ErrorsOpt = Annotated[Errors, typer.Option("--errors", help="Invalid UTF-8: strict (stop with an error) or replace.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output file.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or info lines.")]
GpuOpt = Annotated[bool, typer.Option("--gpu", help="Search with faiss on the GPU (needs mineshaft[gpu]).")]


def _setup(quiet: bool, threads: Optional[int]) -> None:
    from . import progress

    progress.set_quiet(quiet)
    if threads:
        import torch

        torch.set_num_threads(threads)
        try:
            import faiss

            faiss.omp_set_num_threads(threads)
        except ImportError:
            pass


def _encoder(name: str, device: str, max_length: Optional[int], threads: Optional[int]):
    from .encoders import load_encoder
    from .progress import info

    enc = load_encoder(name, device=device, max_length=max_length, threads=threads)
    info(f"encoder: {enc.name} (dim {enc.dim})")
    return enc


def _version(value: bool) -> None:
    if value:
        print(f"mineshaft {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Multilingual sentence encoders and margin-based mining of parallel sentences."""


@app.command()
def encode(
    input: Annotated[str, typer.Argument(help="Text file, one sentence a line (.gz/.bz2/.xz/.zst, or - for stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help=".npy output (or - for stdout).")],
    encoder: EncoderOpt = "use",
    dtype: Annotated[DType, typer.Option(help="Output precision.")] = DType.float32,
    batch_size: BatchOpt = 64,
    chunk_size: Annotated[int, typer.Option(help="Lines read and encoded at a time (bounds memory).", min=1, max=10_000_000)] = 16384,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    normalize_punct: PunctOpt = None,
    threads: ThreadsOpt = None,
    errors: ErrorsOpt = Errors.strict,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed sentences into a .npy matrix of unit vectors (row i = line i; empty lines give zero rows)."""
    from .encode import encode_file
    from .io import check_output_path

    _setup(quiet, threads)
    check_output_path(out, force)
    enc = _encoder(encoder, device, max_length, threads)
    encode_file(input, out, enc, dtype=dtype.value, batch_size=batch_size, chunk_size=chunk_size,
                punct_lang=normalize_punct, errors=errors.value, force=force)


@app.command()
def mine(
    src: Annotated[str, typer.Argument(help="Source sentences: text file (one a line) or .npy embeddings.")],
    tgt: Annotated[str, typer.Argument(help="Target sentences: text file or .npy embeddings.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output TSV (- for stdout).")] = "-",
    encoder: EncoderOpt = "use",
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the margin.", min=1, max=1000)] = 4,
    margin: Annotated[Margin, typer.Option(help="Margin function.")] = Margin.ratio,
    mode: Annotated[Mode, typer.Option(help="Retrieval mode; max is one-to-one.")] = Mode.max,
    threshold: Annotated[Optional[float], typer.Option(help="Keep pairs whose margin is at least this (every mode).")] = None,
    dedup: Annotated[bool, typer.Option("--dedup", help="Search each distinct sentence once (ids of first occurrences).")] = False,
    ids: Annotated[bool, typer.Option("--ids", help="Add src and tgt ids (line numbers, or --id-column ids) as columns 2-3.")] = False,
    id_column: Annotated[bool, typer.Option("--id-column", help="Input lines are 'ID<TAB>sentence' (BUCC layout).")] = False,
    explain_threshold: Annotated[bool, typer.Option("--explain-threshold", help="Print a histogram of margins and counts around --threshold on stderr.")] = False,
    min_chars: Annotated[Optional[int], typer.Option(help="Filter: drop pairs with a side shorter than this many characters.", rich_help_panel="Filters")] = None,
    max_chars: Annotated[Optional[int], typer.Option(help="Filter: drop pairs with a side longer than this many characters.", rich_help_panel="Filters")] = None,
    max_length_ratio: Annotated[Optional[float], typer.Option(help="Filter: drop pairs whose longer side has more than this times the characters of the shorter.", rich_help_panel="Filters")] = None,
    drop_identical: Annotated[bool, typer.Option("--drop-identical", help="Filter: drop pairs whose sides are the same text (ignoring case, punctuation, digits).", rich_help_panel="Filters")] = False,
    number_mismatch: Annotated[bool, typer.Option("--number-mismatch", help="Filter: drop pairs whose sides contain different numbers.", rich_help_panel="Filters")] = False,
    near_duplicates: Annotated[bool, typer.Option("--near-duplicates", help="Filter: keep only the best of pairs that are equal up to case and punctuation.", rich_help_panel="Filters")] = False,
    max_score: Annotated[Optional[float], typer.Option(help="Filter: drop pairs scoring above this (boilerplate and near-copies).", rich_help_panel="Filters")] = None,
    src_lang: Annotated[Optional[str], typer.Option(help="Filter: keep pairs whose source is identified as this language (needs mineshaft[lid]).", rich_help_panel="Filters")] = None,
    tgt_lang: Annotated[Optional[str], typer.Option(help="Filter: keep pairs whose target is identified as this language (needs mineshaft[lid]).", rich_help_panel="Filters")] = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    normalize_punct: PunctOpt = None,
    gpu: GpuOpt = False,
    threads: ThreadsOpt = None,
    errors: ErrorsOpt = Errors.strict,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Mine translation pairs: TSV 'score<TAB>src<TAB>tgt', best first."""
    from .filters import PairFilter
    from .io import atomic_output, check_output_path
    from .mine import filter_pairs, format_pairs, mine as run_mine, read_side
    from .progress import console, info
    from .report import threshold_histogram

    _setup(quiet, threads)
    check_output_path(out, force)
    rules = PairFilter(min_chars=min_chars, max_chars=max_chars, max_length_ratio=max_length_ratio,
                       drop_identical=drop_identical, number_mismatch=number_mismatch, near_duplicates=near_duplicates,
                       max_score=max_score, src_lang=src_lang, tgt_lang=tgt_lang)
    src_side = read_side(src, id_column=id_column, dedup=dedup, errors=errors.value)
    tgt_side = read_side(tgt, id_column=id_column, dedup=dedup, errors=errors.value)
    for name, side in (("src", src_side), ("tgt", tgt_side)):
        info(f"{name}: {side.lines_read} lines, {len(side)} mined"
             + (f", {side.dropped_empty} empty" if side.dropped_empty else "")
             + (f", {side.dropped_duplicates} duplicates" if side.dropped_duplicates else ""))
    enc = None
    if src_side.embeddings is None or tgt_side.embeddings is None:
        enc = _encoder(encoder, device, max_length, threads)
    # the threshold is applied afterwards: in every mode that equals applying it during selection
    pairs, src_side, tgt_side = run_mine(src_side, tgt_side, encoder=enc, k=k, margin=margin.value, mode=mode.value,
                                         batch_size=batch_size, punct_lang=normalize_punct, gpu=gpu)
    if explain_threshold:
        console.print(threshold_histogram(pairs.score, threshold), markup=False, highlight=False)
    pairs = filter_pairs(pairs.above(threshold), src_side, tgt_side, rules)
    if rules.removed:
        info("filtered out: " + ", ".join(f"{n} {name}" for name, n in rules.removed.most_common()))
    with atomic_output(out, force=force) as fh:
        fh.writelines(format_pairs(pairs, src_side, tgt_side, with_ids=ids))
    info(f"{len(pairs)} pairs written to {'stdout' if out == '-' else out}")


@app.command()
def score(
    pairs: Annotated[str, typer.Argument(help="TSV file of pairs (or - for stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output TSV: the input line plus a score column.")] = "-",
    src_col: Annotated[int, typer.Option(help="1-based column of the source sentence.", min=1, max=1000)] = 1,
    tgt_col: Annotated[int, typer.Option(help="1-based column of the target sentence.", min=1, max=1000)] = 2,
    metric: Annotated[Metric, typer.Option(help="margin (neighbourhood from the file's own sentences) or cosine.")] = Metric.margin,
    margin: Annotated[Margin, typer.Option(help="Margin function.")] = Margin.ratio,
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the margin.", min=1, max=1000)] = 4,
    min_score: Annotated[Optional[float], typer.Option(help="Only write pairs scoring at least this (a filter).")] = None,
    encoder: EncoderOpt = "use",
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    normalize_punct: PunctOpt = None,
    gpu: GpuOpt = False,
    threads: ThreadsOpt = None,
    errors: ErrorsOpt = Errors.strict,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score existing pairs by margin or cosine, appended as the last column; --min-score filters."""
    from .io import atomic_output, check_output_path
    from .progress import info
    from .score import read_pairs, score_pairs

    _setup(quiet, threads)
    check_output_path(out, force)
    table = read_pairs(pairs, src_col=src_col, tgt_col=tgt_col, errors=errors.value)
    enc = _encoder(encoder, device, max_length, threads)
    scores = score_pairs(table, enc, metric=metric.value, margin_kind=margin.value, k=k, batch_size=batch_size,
                         punct_lang=normalize_punct, gpu=gpu)
    kept = 0
    with atomic_output(out, force=force) as fh:
        for line, s in zip(table.lines, scores.tolist()):
            if min_score is None or s >= min_score:
                fh.write(f"{line}\t{s:.6f}\n")
                kept += 1
    info(f"{kept} of {len(table.lines)} pairs written")


@app.command("eval")
def eval_(
    bucc: Annotated[list[str], typer.Option(help="BUCC-style prefix, e.g. eval/bucc-style/de-en (files .de .en .gold).")] = [],
    tatoeba: Annotated[list[str], typer.Option(help="Tatoeba prefix, e.g. eval/tatoeba/tatoeba.deu-eng.")] = [],
    flores: Annotated[list[str], typer.Option(help="FLORES-200 file, e.g. eval/flores200/deu_Latn.devtest (English: eng_Latn beside it).")] = [],
    sts: Annotated[list[str], typer.Option(help="STS-b CSV, e.g. eval/stsb/stsb-de-test.csv (English: stsb-en-test.csv beside it).")] = [],
    json_out: Annotated[Optional[str], typer.Option("--json", help="Also write all results as JSON here.")] = None,
    encoder: EncoderOpt = "use",
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the BUCC margin.", min=1, max=1000)] = 4,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    threads: ThreadsOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Evaluate an encoder on held-out sets; prints a table on stdout."""
    from . import evaluate as ev
    from .errors import UsageError
    from .io import atomic_output, check_output_path

    _setup(quiet, threads)
    if not (bucc or tatoeba or flores or sts):
        raise UsageError("nothing to evaluate: give at least one of --bucc, --tatoeba, --flores, --sts")
    if json_out:
        check_output_path(json_out, force)
    enc = _encoder(encoder, device, max_length, threads)
    results = []
    for prefix in bucc:
        results.append(ev.bucc_eval(prefix, enc, k=k, batch_size=batch_size))
    for prefix in tatoeba:
        results.append(ev.tatoeba_eval(prefix, enc, batch_size=batch_size))
    for path in flores:
        results.append(ev.flores_eval(path, Path(path).with_name("eng_Latn.devtest"), enc, batch_size=batch_size))
    for path in sts:
        en = Path(path).with_name(Path(path).name.replace(Path(path).name.split("-")[1], "en", 1))
        results.append(ev.sts_eval(path, en, enc, batch_size=batch_size))
    print(ev.format_table(results, encoder_name=enc.name))
    if json_out:
        with atomic_output(json_out, force=force) as fh:
            json.dump({"encoder": encoder, "results": results}, fh, indent=2)


@app.command()
def demo(
    encoder: EncoderOpt = "use",
    threshold: Annotated[float, typer.Option(help="Minimum ratio margin.")] = 1.13,
    quiet: QuietOpt = False,
) -> None:
    """Mine the small German-English sample shipped with mineshaft and print the pairs."""
    from .data import sample_paths
    from .mine import format_pairs, mine as run_mine

    _setup(quiet, None)
    de, en = sample_paths()
    pairs, s, t = run_mine(de, en, encoder=_encoder(encoder, "auto", None, None), threshold=threshold)
    sys.stdout.writelines(format_pairs(pairs, s, t))


def main() -> None:
    """Entry point: one-line errors and conventional exit codes, never a traceback for bad input."""
    from .errors import MineshaftError

    import os

    try:
        rv = app(standalone_mode=False)
        if isinstance(rv, int):
            sys.exit(rv)
    except MineshaftError as exc:
        print(f"mineshaft: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("mineshaft: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # downstream closed the pipe (e.g. `| head`): not an error
        sys.stderr.close()
        sys.exit(0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("mineshaft: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors and real failures
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("MINESHAFT_DEBUG"):
            raise
        print(f"mineshaft: error: {type(exc).__name__}: {exc} (MINESHAFT_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
