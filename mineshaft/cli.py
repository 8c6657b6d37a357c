"""The ``mineshaft`` command line: parse, validate, delegate. Data goes to stdout, everything else to stderr."""

from __future__ import annotations

import contextlib
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


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Errors(str, Enum):
    strict = "strict"
    replace = "replace"


# Options shared by every command that encodes text.
EncoderOpt = Annotated[str, typer.Option("--encoder", "-e", help="default (the shipped student), use, use-numpy, minilm, a model directory or HF model id.")]
BatchOpt = Annotated[int, typer.Option(help="Sentences per forward pass.", min=1, max=65536)]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
MaxLenOpt = Annotated[Optional[int], typer.Option(help="Truncate inputs to this many tokens (default: the model's).", min=1, max=100_000)]
PunctOpt = Annotated[Optional[str], typer.Option("--normalize-punct", metavar="LANG", help="Moses punctuation normalization for language LANG before encoding.")]
PrecisionOpt = Annotated[str, typer.Option(help="Transformer arithmetic: auto (bf16 on CPUs with native bf16, fp16 on GPU), fp32, bf16, fp16.")]
ThreadsOpt = Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).", min=1, max=1024)]
ErrorsOpt = Annotated[Errors, typer.Option("--errors", help="Invalid UTF-8: strict (stop with an error) or replace.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output file.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or info lines.")]
GpuOpt = Annotated[bool, typer.Option("--gpu", help="Search with faiss on the GPU (needs the 'gpu' extra: faiss-gpu).")]


def _finite(option: str, value: Optional[float]) -> None:
    import math

    from .errors import UsageError

    if value is not None and not math.isfinite(value):
        raise UsageError(f"{option} must be a finite number, got {value}")


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
    out: Annotated[str, typer.Option("--out", "-o", help="A .npy file (or - for stdout), or a directory for a sharded, resumable store (with --shards or a trailing /).")],
    encoder: EncoderOpt = "default",
    dtype: Annotated[DType, typer.Option(help="Output precision.")] = DType.float32,
    shards: Annotated[bool, typer.Option("--shards", help="Write a sharded store directory (memory-mapped shards, completion markers, resumable).")] = False,
    shard_size: Annotated[int, typer.Option(help="Rows per shard (store output) or lines held at a time (.npy output).", min=1, max=100_000_000)] = 100_000,
    engine: Annotated[Engine, typer.Option(help="Encode shards locally or on Ray (store output).")] = Engine.local,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    precision: PrecisionOpt = "auto",
    normalize_punct: PunctOpt = None,
    threads: ThreadsOpt = None,
    errors: ErrorsOpt = Errors.strict,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed sentences into unit vectors (row i = line i; empty lines give zero rows)."""
    from .encode import encode_file, encode_to_store
    from .engines import get_engine
    from .io import check_output_path, iter_lines
    from .tasks import EncoderSpec

    _setup(quiet, threads)
    spec = EncoderSpec(encoder, device=device, max_length=max_length, threads=threads, batch_size=batch_size,
                       punct_lang=normalize_punct, dtype=dtype.value, precision=precision)
    if shards or out.endswith("/"):
        if out == "-":
            from .errors import UsageError

            raise UsageError("a sharded store is a directory: give --out DIR, not -")
        if Path(out).exists() and not Path(out).is_dir():
            from .errors import UsageError

            raise UsageError(f"{out}: exists and is not a directory")
        store = encode_to_store(iter_lines(input, errors=errors.value), out, spec, shard_size=shard_size,
                                engine=get_engine(engine.value))
        from .progress import info

        info(f"{store.index['rows']} rows in {store.index['n_shards']} shards written to {out}")
        return
    check_output_path(out, force)
    encode_file(input, out, spec.load(), spec, chunk_size=min(shard_size, 65536), errors=errors.value, force=force)


@app.command()
def mine(
    src: Annotated[str, typer.Argument(help="Source sentences: text file (one a line; - for stdin), .npy embeddings, or an embedding-store directory.")],
    tgt: Annotated[str, typer.Argument(help="Target sentences: same choices as SRC.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output TSV (- for stdout).")] = "-",
    encoder: EncoderOpt = "default",
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the margin.", min=1, max=1000)] = 4,
    margin: Annotated[Margin, typer.Option(help="Margin function.")] = Margin.ratio,
    mode: Annotated[Mode, typer.Option(help="Retrieval mode; max is one-to-one.")] = Mode.max,
    threshold: Annotated[str, typer.Option(metavar="default|auto|none|NUMBER", help="Keep pairs whose margin is at least this (every mode). default: the model's calibrated threshold (k=4, ratio, max), else auto; auto: the valley between the translation and non-translation margins of this run; none: keep every sentence's best match.")] = "default",
    dedup: Annotated[bool, typer.Option("--dedup", help="Search each distinct sentence once (ids of first occurrences).")] = False,
    ids: Annotated[bool, typer.Option("--ids", help="Add src and tgt ids (line numbers, or --id-column ids) as columns 2-3.")] = False,
    id_column: Annotated[bool, typer.Option("--id-column", help="Input lines are 'ID<TAB>sentence' (BUCC layout).")] = False,
    explain_threshold: Annotated[bool, typer.Option("--explain-threshold", help="Print a histogram of margins and counts around the threshold used on stderr.")] = False,
    min_chars: Annotated[Optional[int], typer.Option(help="Drop pairs with a side shorter than this many characters.", rich_help_panel="Filters")] = None,
    max_chars: Annotated[Optional[int], typer.Option(help="Drop pairs with a side longer than this many characters.", rich_help_panel="Filters")] = None,
    max_length_ratio: Annotated[Optional[float], typer.Option(help="Drop pairs whose longer side has more than this times the characters of the shorter.", rich_help_panel="Filters")] = None,
    drop_identical: Annotated[bool, typer.Option("--drop-identical", help="Drop pairs whose sides are the same text (ignoring case, punctuation, digits).", rich_help_panel="Filters")] = False,
    number_mismatch: Annotated[bool, typer.Option("--number-mismatch", help="Drop pairs whose sides contain different numbers.", rich_help_panel="Filters")] = False,
    near_duplicates: Annotated[bool, typer.Option("--near-duplicates", help="Keep only the best of pairs equal up to case and punctuation.", rich_help_panel="Filters")] = False,
    max_score: Annotated[Optional[float], typer.Option(help="Drop pairs scoring above this (boilerplate, near-copies).", rich_help_panel="Filters")] = None,
    src_lang: Annotated[Optional[str], typer.Option(help="Keep pairs whose source is identified as this language (needs the 'lid' extra: py3langid).", rich_help_panel="Filters")] = None,
    tgt_lang: Annotated[Optional[str], typer.Option(help="Keep pairs whose target is identified as this language (needs the 'lid' extra: py3langid).", rich_help_panel="Filters")] = None,
    index: Annotated[str, typer.Option(help="flat (exact), auto, torch (exact, GPU if present), or a faiss factory string such as 'OPQ32,IVF4096,PQ32'.", rich_help_panel="Scale")] = "flat",
    nprobe: Annotated[int, typer.Option(help="IVF lists visited per query.", min=1, max=1_000_000, rich_help_panel="Scale")] = 16,
    memory: Annotated[str, typer.Option(help="Memory budget for the search database (e.g. 2G, 512M).", rich_help_panel="Scale")] = "2G",
    shard_size: Annotated[int, typer.Option(help="Sentences per shard (unit of resume and of parallel work).", min=1, max=100_000_000, rich_help_panel="Scale")] = 100_000,
    work_dir: Annotated[Optional[str], typer.Option(help="Where shards live; re-running with the same one resumes (default: OUT.work, removed on success).", rich_help_panel="Scale")] = None,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep the work directory after success.", rich_help_panel="Scale")] = False,
    engine: Annotated[Engine, typer.Option(help="Run shard tasks locally or on Ray.", rich_help_panel="Scale")] = Engine.local,
    store_dtype: Annotated[DType, typer.Option(help="Precision of stored embeddings.", rich_help_panel="Scale")] = DType.float16,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    precision: PrecisionOpt = "auto",
    normalize_punct: PunctOpt = None,
    gpu: GpuOpt = False,
    threads: ThreadsOpt = None,
    errors: ErrorsOpt = Errors.strict,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Mine translation pairs: TSV 'score<TAB>src<TAB>tgt', best first."""
    from .engines import get_engine
    from .filters import PairFilter
    from .io import atomic_output, check_output_path, parse_size
    from .mine import MineOptions, filter_pairs, format_pairs, mine as run_mine, pair_texts
    from .progress import console, info
    from .report import threshold_histogram
    from .tasks import EncoderSpec
    from .threshold import parse_threshold, summary

    _setup(quiet, threads)
    _finite("--max-score", max_score)
    setting = parse_threshold(threshold)
    check_output_path(out, force)
    rules = PairFilter(min_chars=min_chars, max_chars=max_chars, max_length_ratio=max_length_ratio,
                       drop_identical=drop_identical, number_mismatch=number_mismatch, near_duplicates=near_duplicates,
                       max_score=max_score, src_lang=src_lang, tgt_lang=tgt_lang)
    opts = MineOptions(k=k, margin=margin.value, mode=mode.value, threshold=setting, index=index, nprobe=nprobe,
                       memory=parse_size(memory, "--memory"), gpu=gpu, shard_size=shard_size)
    opts.check()
    spec = EncoderSpec(encoder, device=device, max_length=max_length, threads=threads, batch_size=batch_size,
                       punct_lang=normalize_punct, dtype=store_dtype.value, precision=precision)
    with _work_directory(work_dir, out, keep_work) as work:
        result = run_mine(src, tgt, work, spec=spec, options=opts, engine=get_engine(engine.value),
                          id_column=id_column, dedup=dedup, errors=errors.value)
        choice, candidates = result.info["threshold"], result.info["candidate_scores"]
        if explain_threshold:
            console.print(threshold_histogram(candidates, choice.value, choice.describe()), markup=False,
                          highlight=False)
        src_texts, tgt_texts = pair_texts(result)
        pairs = filter_pairs(result, rules, src_texts, tgt_texts)
        if rules.removed:
            info("filtered out: " + ", ".join(f"{n} {name}" for name, n in rules.removed.most_common()))
        with atomic_output(out, force=force) as fh:
            fh.writelines(format_pairs(pairs, src_texts, tgt_texts, with_ids=ids))
    info(summary(len(pairs), len(candidates), choice, out))


@contextlib.contextmanager
def _work_directory(work_dir: Optional[str], out: str, keep: bool):
    """The job's work directory: kept on failure (to resume), removed on success unless asked to keep."""
    import shutil
    import tempfile

    from .progress import info

    if work_dir:
        path, owned = Path(work_dir), False
    elif out != "-":
        path, owned = Path(out + ".work"), True
    else:
        path, owned = Path(tempfile.mkdtemp(prefix="mineshaft-")), True
    try:
        yield path
    except (KeyboardInterrupt, SystemExit):
        if out == "-" and not work_dir:
            shutil.rmtree(path, ignore_errors=True)  # nothing to resume into without a named work dir
        else:
            info(f"interrupted: finished shards are kept in {path}; run the same command again to resume")
        raise
    if owned and not keep:
        shutil.rmtree(path, ignore_errors=True)


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
    encoder: EncoderOpt = "default",
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    precision: PrecisionOpt = "auto",
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
    from .tasks import EncoderSpec

    _setup(quiet, threads)
    _finite("--min-score", min_score)
    check_output_path(out, force)
    table = read_pairs(pairs, src_col=src_col, tgt_col=tgt_col, errors=errors.value)
    enc = EncoderSpec(encoder, device=device, max_length=max_length, threads=threads, precision=precision).load()
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
    encoder: EncoderOpt = "default",
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the BUCC margin.", min=1, max=1000)] = 4,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = "auto",
    max_length: MaxLenOpt = None,
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Evaluate an encoder on held-out sets; prints a table on stdout."""
    from . import evaluate as ev
    from .errors import UsageError
    from .io import atomic_output, check_output_path
    from .tasks import EncoderSpec

    _setup(quiet, threads)
    if not (bucc or tatoeba or flores or sts):
        raise UsageError("nothing to evaluate: give at least one of --bucc, --tatoeba, --flores, --sts")
    if json_out:
        check_output_path(json_out, force)
    enc = EncoderSpec(encoder, device=device, max_length=max_length, threads=threads, precision=precision).load()
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


class Loss(str, Enum):
    soft = "soft"
    hard = "hard"
    mse = "mse"


class Labels(str, Enum):
    priority = "priority"
    average = "average"


@app.command()
def train(
    pairs: Annotated[list[str], typer.Option("--pairs", help="TSV of pairs: english<TAB>other (repeat for more languages).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Model directory to write (checkpoints go in OUT/checkpoint).")],
    teacher: Annotated[str, typer.Option(help="Frozen teacher: short name, model directory or HF id (reads column 1).")] = "minilm",
    student: Annotated[str, typer.Option(help="Student to train: 'use', a transformer directory or HF id.")] = "use",
    loss: Annotated[Loss, typer.Option(help="soft (Park et al. 2024), hard (InfoNCE) or mse (Reimers & Gurevych 2020).")] = Loss.soft,
    temperature: Annotated[float, typer.Option(help="τ of the student's softmax and of the soft labels.")] = 0.1,
    labels: Annotated[Labels, typer.Option(help="Soft labels: priority (teacher reads column 1) or average (both columns).")] = Labels.priority,
    tcm: Annotated[bool, typer.Option("--tcm", help="Also train the student's mono-lingual similarities (L = λ·L_cross + L_mono).")] = False,
    cross_weight: Annotated[float, typer.Option("--lambda", help="λ, the weight of the cross-lingual term.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch (the soft labels are a softmax over the batch).", min=2, max=65536)] = 32,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 3e-5,
    epochs: Annotated[float, typer.Option(help="Passes over the training pairs (ignored with --steps).")] = 1.0,
    steps: Annotated[Optional[int], typer.Option(help="Optimizer steps in all.", min=1)] = None,
    warmup: Annotated[float, typer.Option(help="Fraction of steps with linear warmup.")] = 0.1,
    max_pairs: Annotated[Optional[int], typer.Option(help="Use at most this many training pairs per file.", min=1)] = None,
    dev_size: Annotated[int, typer.Option(help="Pairs per file held out for dev accuracy (model selection).", min=0)] = 500,
    eval_every: Annotated[int, typer.Option(help="Dev evaluation every N steps (0: only at the end).", min=0)] = 500,
    checkpoint_every: Annotated[int, typer.Option(help="Resumable checkpoint every N steps (0: only on interrupt).", min=0)] = 500,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many dev evaluations without improvement.", min=1)] = None,
    select: Annotated[str, typer.Option(help="Model written to OUT: best (dev accuracy) or last (final step).")] = "best",
    max_length: Annotated[int, typer.Option(help="Truncate training inputs to this many tokens.", min=2, max=100_000)] = 128,
    freeze_embeddings: Annotated[Optional[bool], typer.Option("--freeze-embeddings/--train-embeddings", help="Freeze the token embeddings (default: frozen for 'use').")] = None,
    seed: Annotated[int, typer.Option(help="Seed for data order, dev split and initialization.")] = 0,
    save_dtype: Annotated[str, typer.Option(help="Weights written as fp32 or fp16.")] = "fp32",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in OUT from its checkpoint.")] = False,
    stop_after: Annotated[Optional[int], typer.Option(help="Stop this run after N steps, leaving a checkpoint to --resume.", min=1)] = None,
    cache_dir: Annotated[Optional[str], typer.Option(help="Teacher embedding cache (default OUT/teacher-cache; share it across runs).")] = None,
    device: DeviceOpt = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16/fp16 autocast on GPU, fp32 on CPU), fp32, bf16, fp16.")] = "auto",
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Distill a teacher into a multilingual student from translation pairs (soft contrastive learning)."""
    from .train import TrainConfig, train as run_train

    _setup(quiet, threads)
    for name, value in (("--temperature", temperature), ("--lambda", cross_weight), ("--lr", lr), ("--epochs", epochs), ("--warmup", warmup)):
        _finite(name, value)
    cfg = TrainConfig(pairs=pairs, out=out, teacher=teacher, student=student, loss=loss.value, temperature=temperature,
                      labels=labels.value, tcm=tcm, cross_weight=cross_weight, batch_size=batch_size, lr=lr,
                      epochs=epochs, steps=steps, warmup=warmup, max_pairs=max_pairs, dev_size=dev_size,
                      eval_every=eval_every, checkpoint_every=checkpoint_every, patience=patience, select=select,
                      max_length=max_length, freeze_embeddings=freeze_embeddings, seed=seed, device=device,
                      precision=precision, save_dtype=save_dtype, resume=resume, stop_after=stop_after,
                      cache_dir=cache_dir)
    result = run_train(cfg)
    if result.best_dev:
        print(json.dumps({"out": str(result.out), "steps": result.steps, "best_step": result.best_step,
                          "dev_mean_xx2en": result.best_dev.get("mean_xx2en")}))


def _setup_model_out(out: str, force: bool, quiet: bool, threads: Optional[int]) -> None:
    """Common start of the commands that write a model directory: refuse to replace one without --force."""
    from .errors import UsageError

    _setup(quiet, threads)
    if Path(out).exists() and not force:
        raise UsageError(f"{out} exists (use --force to replace it)")


@app.command("init-student")
def init_student(
    out: Annotated[str, typer.Argument(help="Directory for the new model (a transformers + sentence-transformers directory).")],
    base: Annotated[str, typer.Option(help="English transformer whose layers are kept: 'minilm', a path or a model id.")] = "minilm",
    k: Annotated[int, typer.Option(help="Shared pieces whose embeddings are averaged for each new piece.", min=1, max=256)] = 8,
    max_length: Annotated[int, typer.Option(help="Max tokens per sentence when the model is used.", min=8, max=512)] = 128,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Give an English transformer USE's 128k multilingual vocabulary: a student for `mineshaft train`."""
    from .students import transplant_vocabulary

    _setup_model_out(out, force, quiet, threads)
    stats = transplant_vocabulary(out, base=base, k=k, max_length=max_length)
    print(json.dumps({"out": out, **{key: stats[key] for key in ("pieces", "anchored")}}))


@app.command("extend-vocab")
def extend_vocab(
    model: Annotated[str, typer.Argument(help="Student to extend: 'use', 'default' or a model directory (USE port or "
                                              "a transformers model with a Unigram tokenizer).")],
    pairs: Annotated[list[str], typer.Option("--pairs", help="Training TSV file (en-XX.tsv) or a directory of "
                                                              "them; pieces are learned from --column. Repeatable.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for the extended model.")],
    column: Annotated[int, typer.Option(help="1-based column holding the non-English text.", min=1)] = 2,
    pieces: Annotated[int, typer.Option(help="Most new pieces to learn.", min=8, max=1_000_000)] = 16000,
    per_language: Annotated[int, typer.Option(help="Distinct lines read from each file.", min=1)] = 20000,
    check: Annotated[Optional[list[str]], typer.Option(help="Text file (one sentence a line) or directory of them "
                                                             "whose unknown rate is reported too, never learned "
                                                             "from. Repeatable.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise given to rows of wholly new characters.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Append pieces for text the student's tokenizer maps to <unk>, learned from training pairs (old ids unchanged)."""
    from .vocab import expand_files, extend_vocabulary, read_texts

    _setup_model_out(out, force, quiet, threads)
    check_texts = read_texts(expand_files(check or []), column=None, per_file=None)
    stats = extend_vocabulary(model, expand_files(pairs, "*.tsv"), out, vocab_size=pieces, per_language=per_language,
                              column=column, seed=seed, threads=threads or 2, check=check_texts or None)
    if not quiet:
        from .vocab import format_table

        sys.stderr.write(format_table(stats))
    print(json.dumps({"out": out, **{key: stats[key] for key in ("first_new_id", "added", "rows")}}))


@app.command()
def interpolate(
    student: Annotated[str, typer.Argument(help="A trained model directory (or 'default').")],
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for the interpolated model.")],
    alpha: Annotated[float, typer.Option(help="Weight of the student: 1 = the student, 0 = its starting model.",
                                         min=0.0, max=1.0)] = 0.5,
    init: Annotated[Optional[str], typer.Option(help="Starting model: 'use', 'minilm' or a directory "
                                                "(default: the one in STUDENT/train_config.json).")] = None,
    force: ForceOpt = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Interpolate a student's weights with its starting model's (WiSE-FT): (1 - alpha)*init + alpha*student."""
    from .interpolate import interpolate as run

    _setup_model_out(out, force, quiet, threads)
    print(json.dumps(run(student, out, alpha, init=init)))


@app.command()
def demo(
    encoder: EncoderOpt = "default",
    threshold: Annotated[float, typer.Option(help="Minimum ratio margin.")] = 1.17,
    quiet: QuietOpt = False,
) -> None:
    """Mine the small German-English sample shipped with mineshaft and print the pairs."""
    import tempfile

    from .data import sample_paths
    from .mine import MineOptions, format_pairs, mine as run_mine, pair_texts
    from .tasks import EncoderSpec

    _setup(quiet, None)
    de, en = sample_paths()
    with tempfile.TemporaryDirectory(prefix="mineshaft-demo-") as work:
        result = run_mine(de, en, work, spec=EncoderSpec(encoder), options=MineOptions(threshold=threshold))
        src_texts, tgt_texts = pair_texts(result)
        sys.stdout.writelines(format_pairs(result.pairs, src_texts, tgt_texts))


def main() -> None:
    """Entry point: one-line errors and conventional exit codes, never a traceback for bad input."""
    from .errors import MineshaftError

    import os
    import signal

    def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: clean up, keep resumable state, exit 130
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
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
    except Exception as exc:  # click (or typer's vendored click) usage errors, and real failures
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.exit(0)  # the help text was already printed
            ctx = getattr(exc, "ctx", None)
            where = f" (see 'mineshaft {ctx.info_name} --help')" if ctx is not None and ctx.parent is not None else ""
            print(f"mineshaft: error: {' '.join(exc.format_message().split())}{where}", file=sys.stderr)
            sys.exit(exc.exit_code)
        if os.environ.get("MINESHAFT_DEBUG"):
            raise
        print(f"mineshaft: error: {type(exc).__name__}: {exc} (MINESHAFT_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
