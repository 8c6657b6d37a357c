"""The ``mineshaft`` commands: each parses its options, checks them and calls the library (data to stdout, the rest
to stderr)."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated, Optional

import typer

from .. import __version__
from ..encoders import EncoderSpec
from ..mining.margin import K_MAX
from ..mining.search import DEFAULT_NPROBE
from ..training.config import DEFAULT_DEV_SIZE, TrainConfig
from .options import (ENCODER_OPTIONS, DType, EncoderOpt, Engine, InterpolateDtype, KOpt, Margin, MarginOpt,
                      Metric, Mode, QuietOpt, RowInit, ThreadsOpt, config_options, encoder_options, setup,
                      setup_model_out)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Multilingual sentence encoders and margin-based mining of parallel sentences.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
@encoder_options(without=("gpu",), dtype="dtype")
def encode(
    input: Annotated[str, typer.Argument(help="Text file, one sentence a line (.gz/.bz2/.xz/.zst, or - for stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help="A .npy file (or - for stdout), or a directory for a sharded, resumable store (with --shards or a trailing /).")],
    spec: EncoderSpec = ENCODER_OPTIONS,
    dtype: Annotated[DType, typer.Option(help="Output precision.")] = DType.float32,
    shards: Annotated[bool, typer.Option("--shards", help="Write a sharded store directory (memory-mapped shards, completion markers, resumable).")] = False,
    shard_size: Annotated[int, typer.Option(help="Rows per shard (store output) or lines held at a time (.npy output).", min=1, max=100_000_000)] = 100_000,
    engine: Annotated[Engine, typer.Option(help="Encode shards locally or on Ray (store output).")] = Engine.local,
    *, errors: str, force: bool,
) -> None:
    """Embed sentences into unit vectors (row i = line i; empty lines give zero rows)."""
    from ..encode import encode_to_path

    encode_to_path(input, out, spec, shards=shards, shard_size=shard_size, engine=engine, errors=errors, force=force)


@app.command()
@encoder_options(dtype="store_dtype")
def mine(
    src: Annotated[str, typer.Argument(help="Source sentences: text file (one a line; - for stdin), .npy embeddings, or an embedding-store directory.")],
    tgt: Annotated[str, typer.Argument(help="Target sentences: same choices as SRC.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output TSV (- for stdout).")] = "-",
    spec: EncoderSpec = ENCODER_OPTIONS,
    k: KOpt = 4,
    margin: MarginOpt = Margin.ratio,
    mode: Annotated[Mode, typer.Option(help="Retrieval mode; max is one-to-one.")] = Mode.max,
    threshold: Annotated[str, typer.Option(metavar="default|auto|none|NUMBER", help="Keep pairs whose margin is at least this (every mode). default: the model's calibrated threshold (k=4, ratio, max, made on its own weights), else auto; auto: the cut with the best estimated F1 (a null model fitted to this run's runner-up candidates gives each pair its probability of being a translation), never below where the estimated precision of what is kept falls under --min-precision; none: keep every sentence's best match.")] = "default",
    min_precision: Annotated[float, typer.Option("--min-precision", help="Floor of --threshold auto: it keeps the pairs with the best estimated F1, but never so many that their estimated precision falls under this.", min=0.0, max=1.0)] = 0.8,
    dedup: Annotated[Optional[bool], typer.Option("--dedup/--keep-duplicates", help="Search each distinct sentence of a text input once (the same text whatever the case, spacing and final punctuation), its pairs under its first line's id (the default: a repeated sentence is its copy's nearest neighbour, which lowers both their margins); --keep-duplicates searches every line.", show_default=False, metavar="")] = None,
    ids: Annotated[bool, typer.Option("--ids", help="Add src and tgt ids (line numbers, or --id-column ids) as columns 2-3.")] = False,
    id_column: Annotated[bool, typer.Option("--id-column", help="Input lines are 'ID<TAB>sentence' (BUCC layout).")] = False,
    explain_threshold: Annotated[bool, typer.Option("--explain-threshold", help="Print on stderr the histogram of margins with the estimated non-translations, the estimated precision of each cut, and the threshold used.")] = False,
    report: Annotated[Optional[str], typer.Option("--report", metavar="PATH", help="Also write a self-contained HTML page about the run: margin histogram and cut, pairs either side of the cut, length ratios, languages, counts.")] = None,
    min_chars: Annotated[Optional[int], typer.Option(help="Drop pairs with a side shorter than this many characters.", rich_help_panel="Filters")] = None,
    max_chars: Annotated[Optional[int], typer.Option(help="Drop pairs with a side longer than this many characters.", rich_help_panel="Filters")] = None,
    max_length_ratio: Annotated[Optional[float], typer.Option(help="Drop pairs whose longer side has more than this times the characters of the shorter.", rich_help_panel="Filters")] = None,
    drop_identical: Annotated[bool, typer.Option("--drop-identical", help="Drop pairs whose sides are the same text (ignoring case, punctuation, digits).", rich_help_panel="Filters")] = False,
    number_mismatch: Annotated[bool, typer.Option("--number-mismatch", help="Drop pairs whose sides contain different numbers.", rich_help_panel="Filters")] = False,
    near_duplicates: Annotated[bool, typer.Option("--near-duplicates", help="Keep only the best of pairs equal up to case and punctuation.", rich_help_panel="Filters")] = False,
    max_score: Annotated[Optional[float], typer.Option(help="Drop pairs scoring above this (boilerplate, near-copies).", rich_help_panel="Filters")] = None,
    src_lang: Annotated[Optional[str], typer.Option(help="Keep pairs whose source is identified as this language (by py3langid).", rich_help_panel="Filters")] = None,
    tgt_lang: Annotated[Optional[str], typer.Option(help="Keep pairs whose target is identified as this language (by py3langid).", rich_help_panel="Filters")] = None,
    index: Annotated[str, typer.Option(help="flat (exact), half (exact: half-precision products re-scored in fp32), auto (by cost), torch (exact, GPU if present), ivfN (torch IVF), or a faiss factory string such as 'IVF4096,SQ8'.", rich_help_panel="Scale")] = "flat",
    nprobe: Annotated[int, typer.Option(help="IVF lists visited per query (more: better recall, slower).", min=1, max=1_000_000, rich_help_panel="Scale")] = DEFAULT_NPROBE,
    memory: Annotated[str, typer.Option(help="Memory budget for the search database (e.g. 2G, 512M).", rich_help_panel="Scale")] = "2G",
    shard_size: Annotated[int, typer.Option(help="Sentences per shard (unit of resume and of parallel work).", min=1, max=100_000_000, rich_help_panel="Scale")] = 100_000,
    work_dir: Annotated[Optional[str], typer.Option(help="Where shards live; re-running with the same one resumes (default: OUT.work, removed on success).", rich_help_panel="Scale")] = None,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep the work directory after success.", rich_help_panel="Scale")] = False,
    engine: Annotated[Engine, typer.Option(help="Run shard tasks locally or on Ray.", rich_help_panel="Scale")] = Engine.local,
    store_dtype: Annotated[DType, typer.Option(help="Precision of stored embeddings.", rich_help_panel="Scale")] = DType.float16,
    *, gpu: bool, errors: str, force: bool,
) -> None:
    """Mine translation pairs: TSV 'score<TAB>src<TAB>tgt', best first."""
    from ..engines import get_engine
    from ..mining.filters import PairFilter
    from ..mining.mine import MineOptions
    from ..mining.output import mine_to_file

    rules = PairFilter(min_chars=min_chars, max_chars=max_chars, max_length_ratio=max_length_ratio,
                       drop_identical=drop_identical, number_mismatch=number_mismatch, near_duplicates=near_duplicates,
                       max_score=max_score, src_lang=src_lang, tgt_lang=tgt_lang)
    options = MineOptions(k=k, margin=margin, mode=mode, threshold=threshold, min_precision=min_precision,
                          index=index, nprobe=nprobe,
                          memory=memory, gpu=gpu, shard_size=shard_size)
    with get_engine(engine) as runner:
        mine_to_file(src, tgt, out, options, rules=rules, with_ids=ids, explain=explain_threshold, work_dir=work_dir,
                     keep_work=keep_work, force=force, spec=spec, engine=runner, id_column=id_column, dedup=dedup,
                     errors=errors, report=report,
                     report_command=shlex.join(["mineshaft", *sys.argv[1:]]) if report is not None else None)


@app.command()
@encoder_options()
def score(
    pairs: Annotated[str, typer.Argument(help="TSV file of pairs (or - for stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output TSV: the input line plus a score column.")] = "-",
    src_col: Annotated[Optional[int], typer.Option(help="1-based column of the source sentence (default: 1, or 2 for mine's output, 4 for mine --ids output).", min=1, max=1000)] = None,
    tgt_col: Annotated[Optional[int], typer.Option(help="1-based column of the target sentence (default: 2, or 3 for mine's output, 5 for mine --ids output).", min=1, max=1000)] = None,
    metric: Annotated[Metric, typer.Option(help="margin (neighbourhood from the file's own sentences) or cosine.")] = Metric.margin,
    margin: Annotated[Margin, typer.Option(help="Margin function (with --metric margin).")] = Margin.ratio,
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the margin (with --metric margin).", min=1,
                                   max=K_MAX)] = 4,
    min_score: Annotated[Optional[float], typer.Option(help="Only write pairs scoring at least this (a filter).")] = None,
    spec: EncoderSpec = ENCODER_OPTIONS,
    *, gpu: bool, errors: str, force: bool,
) -> None:
    """Score existing pairs by margin or cosine, appended as the last column; --min-score filters. Reads mine's output as it is (its text columns)."""
    from ..mining.score import ScoreOptions, score_to_file

    options = ScoreOptions(metric=metric, margin=margin, k=k, min_score=min_score, gpu=gpu)
    score_to_file(pairs, out, spec, options, src_col=src_col, tgt_col=tgt_col, errors=errors, force=force)


@app.command("eval")
@encoder_options(without=("normalize_punct", "gpu", "errors"))
def eval_(
    bucc: Annotated[list[str], typer.Option(help="BUCC-style prefix, e.g. eval/bucc-style/de-en (files .de .en .gold).")] = [],
    tatoeba: Annotated[list[str], typer.Option(help="Tatoeba prefix, e.g. eval/tatoeba/tatoeba.deu-eng.")] = [],
    flores: Annotated[list[str], typer.Option(help="FLORES-200 file, e.g. eval/flores200/deu_Latn.devtest (English: eng_Latn beside it).")] = [],
    sts: Annotated[list[str], typer.Option(help="STS-b CSV, e.g. eval/stsb/stsb-de-test.csv (English: stsb-en-test.csv beside it).")] = [],
    json_out: Annotated[Optional[str], typer.Option("--json", help="Also write all results as JSON here.")] = None,
    spec: EncoderSpec = ENCODER_OPTIONS,
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours for the BUCC margin.", min=1, max=K_MAX)] = 4,
    *, force: bool,
) -> None:
    """Evaluate an encoder on held-out sets; prints a table on stdout."""
    from ..evaluate import run_eval

    print(run_eval(spec, bucc, tatoeba, flores, sts, k=k, json_out=json_out, force=force))


@app.command()
def models(
    name: Annotated[Optional[str], typer.Argument(help="A model (shipped or short name, cached hub id, folder): print its card.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the facts as JSON instead.")] = False,
) -> None:
    """List the shipped encoders and those in the local Hugging Face hub cache (no network), or print a model's card."""
    from ..catalog import card_text, find_model, format_table, list_models

    if name is not None:
        entry = find_model(name)
        sys.stdout.write(json.dumps(entry.as_dict(), ensure_ascii=False, indent=2) + "\n" if json_out else card_text(entry))
    elif json_out:
        print(json.dumps([e.as_dict() for e in list_models()], ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_table(list_models()))


@app.command()
@config_options(TrainConfig)
def train(cfg: TrainConfig, threads: ThreadsOpt = None,
          quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress bars or info lines.")] = False,
          ) -> None:
    """Distill a teacher into a multilingual student from translation pairs (soft contrastive learning)."""
    from ..progress import info
    from ..training.checkpoint import RunComplete, check_start

    setup(quiet, threads)
    try:  # options, files, OUT, a resumed run's recipe and data, encoder names: all before torch is imported
        identity = check_start(cfg)
    except RunComplete as done:  # --resume of a finished run: nothing to do
        info(str(done))
        return
    from ..training.trainer import train as run_train

    result = run_train(cfg, identity)
    if result.best_dev:
        print(json.dumps({"out": str(result.out), "steps": result.steps, "best_step": result.best_step,
                          "dev_mean_xx2en": result.best_dev.get("mean_xx2en")}))


@app.command("init-student")
def init_student(
    out: Annotated[str, typer.Argument(help="Directory for the new model (a transformers + sentence-transformers directory).")],
    base: Annotated[str, typer.Option(help="English transformer whose layers are kept: 'minilm', a transformers "
                                           "model folder or a Hugging Face model id (not 'use', nor a USE-architecture "
                                           "or routed model).")] = "minilm",
    k: Annotated[int, typer.Option(help="Shared pieces whose embeddings are averaged for each new piece.", min=1, max=256)] = 8,
    max_length: Annotated[int, typer.Option(help="Max tokens per sentence when the model is used.", min=8, max=512)] = 128,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Give an English transformer USE's 128k multilingual vocabulary: a student for `mineshaft train`."""
    setup_model_out(out, force, quiet, threads)
    from ..training.transplant import check_base, transplant_vocabulary  # torch only once called

    stats = transplant_vocabulary(out, base=check_base(base), k=k, max_length=max_length)
    print(json.dumps({"out": out, **{key: stats[key] for key in ("pieces", "anchored")}}))


@app.command("extend-vocab")
def extend_vocab(
    model: Annotated[str, typer.Argument(help="Student to extend: 'use', a USE-architecture student (a shipped one "
                                              "such as mineshaft-use-soft, or a folder) or a transformers model folder "
                                              "with a Unigram tokenizer (as init-student makes). Not a routed model "
                                              "such as 'default': extend one of its parts.")],
    pairs: Annotated[list[str], typer.Option("--pairs", help="Training TSV file (en-XX.tsv) or a directory of "
                                                              "them; pieces are learned from --column. Repeatable.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for the extended model.")],
    column: Annotated[int, typer.Option(help="1-based column holding the non-English text.", min=1)] = 2,
    extra_pairs: Annotated[Optional[list[str]], typer.Option(
        "--extra-pairs", help="Training-only TSV file or directory, as train's --extra-pairs (each file named as a "
                              "--pairs file of its language): learned from too, and read by the lexicon, with "
                              "no dev sentences held out of it. Repeatable.")] = None,
    pieces: Annotated[int, typer.Option(help="Most new pieces to learn.", min=8, max=1_000_000)] = 16000,
    per_language: Annotated[int, typer.Option(help="Distinct lines read from each file.", min=1)] = 20000,
    check: Annotated[Optional[list[str]], typer.Option(help="Text file (one sentence a line) or directory of them "
                                                             "whose unknown rate is reported too, never learned "
                                                             "from. Repeatable.")] = None,
    init: Annotated[RowInit, typer.Option(help="How rows start: 'lexicon' moves the rows of the pieces the new "
                                                "languages use towards the English pieces they translate to in the "
                                                "pairs (IBM Model 1); 'pieces': new rows only, the mean of what the "
                                                "old tokenizer made of them.")] = RowInit.lexicon,
    dev_size: Annotated[int, typer.Option(help="Dev sentences per file that 'mineshaft train --dev-size' will hold "
                                               "out (with the same --seed): the lexicon never reads them.",
                                          min=0)] = DEFAULT_DEV_SIZE,
    seed: Annotated[int, typer.Option(help="Seed of the noise given to rows of wholly new characters, and of the "
                                           "dev split (train's --seed).")] = 0,
    word_pieces: Annotated[int, typer.Option(help="Also add up to N pieces for words of the languages new to the "
                                                  "model that its tokenizer cuts into many pieces (Greek, Hungarian...); "
                                                  "only pieces that occur in no English or known-language word of the "
                                                  "pairs, so that text keeps its segmentation. 0: off.",
                                             min=0, max=1_000_000)] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Append pieces for text the student's tokenizer maps to <unk>, learned from training pairs (old ids unchanged)."""
    setup_model_out(out, force, quiet, threads)
    from ..training.vocab import expand_files, extend_vocabulary, pair_files, read_texts, resolve_model

    resolve_model(model)  # the model, then the files, checked before any text is read
    files, extra = pair_files(pairs, "--pairs"), pair_files(extra_pairs or [], "--extra-pairs")
    check_texts = read_texts(expand_files(check or []), column=None, per_file=None)
    stats = extend_vocabulary(model, files, out, vocab_size=pieces, per_language=per_language,
                              column=column, seed=seed, check=check_texts or None,
                              init=init.value, dev_size=dev_size, word_pieces=word_pieces, extra=extra)
    if not quiet:
        from ..training.vocab import format_table

        sys.stderr.write(format_table(stats))
    print(json.dumps({"out": out, **{key: stats[key] for key in ("first_new_id", "added", "rows")}}))


@app.command()
def interpolate(
    student: Annotated[str, typer.Argument(help="A trained model: a folder holding model.safetensors (as `mineshaft "
                                                "train` writes) or a shipped student's name such as mineshaft-use-soft. "
                                                "Not a routed model such as 'default': interpolate one of its parts.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for the interpolated model.")],
    alpha: Annotated[float, typer.Option(help="Weight of the student: 1 = the student, 0 = its starting model.",
                                         min=0.0, max=1.0)] = 0.5,
    init: Annotated[Optional[str], typer.Option(help="Starting model: 'use', 'minilm' or a directory "
                                                "(default: the one in STUDENT/train_config.json).")] = None,
    save_dtype: Annotated[Optional[InterpolateDtype], typer.Option(
        help="Store the weights as fp32 or fp16 (default: the student's dtype); int8rows: fp16, and a USE "
             "student's own token rows 8-bit with a scale per row (half the size of fp16 rows).")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace the output folder if it exists.")] = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Interpolate a student's weights with its starting model's (WiSE-FT): (1 - alpha)*init + alpha*student."""
    setup_model_out(out, force, quiet, threads)
    from ..training.interpolate import interpolate as run  # checks the models before it imports torch

    print(json.dumps(run(student, out, alpha, init=init, dtype=save_dtype.value if save_dtype else None)))


@app.command()
def route(
    known: Annotated[str, typer.Option(help="Encoder for the files in --languages: a model folder, a shipped model or "
                                            "a short name (not a routed model).")],
    others: Annotated[str, typer.Option(help="Encoder for every other file, trained into KNOWN's vector space (same "
                                             "choices).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for the routed model.")],
    languages: Annotated[Optional[str], typer.Option(
        help="Comma-separated codes KNOWN encodes (default: the languages its languages.json records).")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace the output folder if it exists.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Make a routed model: one encoder for the languages it is best at, another for the rest, one vector space
    (each file goes whole to the encoder of its identified language; model directories are copied in)."""
    setup_model_out(out, force, quiet, None)
    from ..route import write_routed

    codes = None if languages is None else [c for c in languages.split(",") if c.strip()]
    print(json.dumps({"out": out, **write_routed(out, known, others, codes)}))


@app.command()
def demo(
    encoder: EncoderOpt = "default",
    threshold: Annotated[str, typer.Option(metavar="default|auto|none|NUMBER", help="As mine's --threshold.")] = "default",
    quiet: QuietOpt = False,
) -> None:
    """Mine the small German-English sample shipped with mineshaft and print the pairs."""
    from ..data import sample_paths
    from ..mining.mine import MineOptions
    from ..mining.output import mine_to_file

    setup(quiet, None)
    mine_to_file(*sample_paths(), "-", MineOptions(threshold=threshold), encoder_name=encoder)


