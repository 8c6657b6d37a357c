"""The ``mineshaft`` command line: parse, validate, delegate. Data goes to stdout, everything else to stderr."""

from __future__ import annotations

import functools
import inspect
import json
import shlex
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .encoders import EncoderSpec, encoder_names_help
from .encoders.spec import DTYPES
from .io import ERROR_MODES
from .engines import ENGINES
from .mining.margin import K_MAX, MARGINS, MODES
from .mining.score import METRICS
from .mining.search import DEFAULT_NPROBE
from .training.config import INTERPOLATE_DTYPES, SAVE_DTYPES, TrainConfig
from .training.config import DEFAULT_DEV_SIZE, INITS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Multilingual sentence encoders and margin-based mining of parallel sentences.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A choice option's type, from the library's tuple of names."""
    return Enum(name, {v: v for v in values}, type=str)


Margin = _choices("Margin", MARGINS)
Mode = _choices("Mode", MODES)
Metric = _choices("Metric", METRICS)
Engine = _choices("Engine", ENGINES)
DType = _choices("DType", DTYPES)
Errors = _choices("Errors", ERROR_MODES)
SaveDtype = _choices("SaveDtype", tuple(SAVE_DTYPES))
InterpolateDtype = _choices("InterpolateDtype", tuple(INTERPOLATE_DTYPES))
RowInit = _choices("RowInit", INITS)

# Options shared by several commands.
EncoderOpt = Annotated[str, typer.Option("--encoder", "-e", help=f"{encoder_names_help()}, a model directory or HF model id.")]
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
KOpt = Annotated[int, typer.Option("--k", "-k", help="Neighbours for the margin.", min=1, max=K_MAX)]
MarginOpt = Annotated[Margin, typer.Option(help="Margin function.")]

#: a command's ``spec`` parameter takes this default: :func:`encoder_options` puts ``--encoder`` there
ENCODER_OPTIONS: Any = None
#: the options of every command that encodes text, in the order the commands list them
_ENCODER_OPTIONS = (("encoder", EncoderOpt, "default"), ("batch_size", BatchOpt, 64), ("device", DeviceOpt, "auto"),
                    ("max_length", MaxLenOpt, None), ("precision", PrecisionOpt, "auto"),
                    ("normalize_punct", PunctOpt, None), ("gpu", GpuOpt, False), ("threads", ThreadsOpt, None),
                    ("errors", ErrorsOpt, Errors.strict), ("force", ForceOpt, False), ("quiet", QuietOpt, False))


def _plain(value: Any) -> Any:
    """A choice option's value as its plain string (other values as they are)."""
    return value.value if isinstance(value, Enum) else value


def _with_parameters(run: Callable, params: list[inspect.Parameter]) -> Callable:
    """Show typer ``params`` as ``run``'s parameters (its signature and annotations)."""
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def encoder_options(without: tuple[str, ...] = (), dtype: Optional[str] = None) -> Callable[[Callable], Callable]:
    """Declare the encoder options once (all of ``_ENCODER_OPTIONS`` but those named in ``without``).

    ``--encoder`` takes the place of the command's ``spec`` parameter, the others follow the command's own
    options. The command is called with one ready :class:`~mineshaft.encoders.EncoderSpec` as ``spec`` (its
    threads from ``--threads``, its dtype from the command's option named ``dtype``) after ``--quiet`` and
    ``--threads`` took effect, and with those of the options it names as keyword-only parameters (e.g.
    ``*, errors: str, force: bool``). Choice options arrive as their plain string values.
    """
    name, *rest = [inspect.Parameter(option, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=default)
                   for option, kind, default in _ENCODER_OPTIONS if option not in without]

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        params = [name if p.name == "spec" else p for p in own] + rest

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            kwargs = {key: _plain(value) for key, value in kwargs.items()}
            _setup(kwargs["quiet"], kwargs["threads"])
            spec = EncoderSpec(kwargs.pop("encoder"), device=kwargs.pop("device"), max_length=kwargs.pop("max_length"),
                               threads=kwargs["threads"], batch_size=kwargs.pop("batch_size"),
                               punct_lang=kwargs.pop("normalize_punct", None), precision=kwargs.pop("precision"),
                               **({"dtype": kwargs[dtype]} if dtype else {}))
            return command(spec=spec, **{key: v for key, v in kwargs.items() if key in signature.parameters})

        return _with_parameters(run, params)

    return decorate


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
    from .encode import encode_to_path

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
    threshold: Annotated[str, typer.Option(metavar="default|auto|none|NUMBER", help="Keep pairs whose margin is at least this (every mode). default: the model's calibrated threshold (k=4, ratio, max, made on its own weights), else auto; auto: the pairs, best first, while their estimated precision (a null model fitted to this run's runner-up candidates) is at least --min-precision; none: keep every sentence's best match.")] = "default",
    min_precision: Annotated[float, typer.Option("--min-precision", help="Target of --threshold auto: the estimated precision of the pairs kept.", min=0.0, max=1.0)] = 0.9,
    dedup: Annotated[bool, typer.Option("--dedup", help="Search each distinct sentence once (ids of first occurrences).")] = False,
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
    src_lang: Annotated[Optional[str], typer.Option(help="Keep pairs whose source is identified as this language (needs the 'lid' extra: py3langid).", rich_help_panel="Filters")] = None,
    tgt_lang: Annotated[Optional[str], typer.Option(help="Keep pairs whose target is identified as this language (needs the 'lid' extra: py3langid).", rich_help_panel="Filters")] = None,
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
    from .engines import get_engine
    from .mining.filters import PairFilter
    from .mining.mine import MineOptions, mine_to_file

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
    margin: MarginOpt = Margin.ratio,
    k: KOpt = 4,
    min_score: Annotated[Optional[float], typer.Option(help="Only write pairs scoring at least this (a filter).")] = None,
    spec: EncoderSpec = ENCODER_OPTIONS,
    *, gpu: bool, errors: str, force: bool,
) -> None:
    """Score existing pairs by margin or cosine, appended as the last column; --min-score filters. Reads mine's output as it is (its text columns)."""
    from .mining.score import ScoreOptions, score_to_file

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
    from .evaluate import run_eval

    print(run_eval(spec, bucc, tatoeba, flores, sts, k=k, json_out=json_out, force=force))


@app.command()
def models(
    name: Annotated[Optional[str], typer.Argument(help="A model (shipped or short name, cached hub id, folder): print its card.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the facts as JSON instead.")] = False,
) -> None:
    """List the shipped encoders and those in the local Hugging Face hub cache (no network), or print a model's card."""
    from .catalog import card_text, find_model, format_table, list_models

    if name is not None:
        entry = find_model(name)
        sys.stdout.write(json.dumps(entry.as_dict(), ensure_ascii=False, indent=2) + "\n" if json_out else card_text(entry))
    elif json_out:
        print(json.dumps([e.as_dict() for e in list_models()], ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_table(list_models()))


def config_options(config: type) -> Callable[[Callable], Callable]:
    """Build a command's options from a config dataclass whose fields declare them once
    (:func:`mineshaft.training.config.option`: help, flags, limits, choices), plus ``--config FILE``: a JSON file of
    the same fields (a run's ``train_config.json``) whose values replace the defaults; options given on the
    command line win. They replace the command's first parameter, which receives ``config(**values)`` (choices
    as plain strings); its other parameters follow. Values are validated by the config (``check()``), not here."""
    from dataclasses import MISSING
    from typing import get_type_hints

    from .training.config import option_fields

    hints = get_type_hints(config)

    def option(f: Any) -> inspect.Parameter:
        meta = f.metadata
        kind = _choices(f.name.title().replace("_", ""), meta["choices"]) if meta["choices"] else hints[f.name]
        if f.default_factory is not MISSING:  # a repeatable option with a default (a fresh list)
            default = f.default_factory()
        elif f.default is MISSING:
            default = None  # required unless --config gives it (checked below)
            kind = Optional[kind]
        else:
            default = kind(f.default) if meta["choices"] else f.default
        decls = meta["flags"] or ("--" + f.name.replace("_", "-"),)
        info = typer.Option(*decls, help=meta["help"] + (" [required]" if f.default is MISSING
                                                         and f.default_factory is MISSING else ""),
                            min=meta["min"], max=meta["max"])
        return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, info], default=default)

    config_file = inspect.Parameter(
        "config_file", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[Optional[str], typer.Option("--config", help="JSON of these options (a run's "
                             "train_config.json): its recipe replaces the defaults (not --out, --resume, --device...); "
                             "options given here win.")])

    context = inspect.Parameter("cli_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

    def decorate(command: Callable) -> Callable:
        fields_ = option_fields(config)
        names = [f.name for f in fields_]
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
        params = ([context] + [option(f) for f in fields_] + [config_file]
                  + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own])

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            from .errors import UsageError

            ctx, path = kwargs.pop("cli_context"), kwargs.pop("config_file")
            values = {n: _plain(kwargs.pop(n)) for n in names}
            if path is not None:  # the recipe from the file; where and how this run goes from the command line
                given = _given_on_command_line(ctx, names)
                recipe = [f.name for f in fields_ if f.metadata.get("recipe", True)]
                values.update({n: v for n, v in _read_config(path, recipe).items() if n not in given})
            for f in fields_:
                if f.default is MISSING and f.default_factory is MISSING and values[f.name] is None:
                    raise UsageError(f"missing option {(f.metadata['flags'] or ('--' + f.name,))[0]}")
            return command(config(**values), **kwargs)

        return _with_parameters(run, params)

    return decorate


def _given_on_command_line(ctx: typer.Context, names: list[str]) -> set[str]:
    """The parameters of the running command that the user typed (not defaults)."""
    return {n for n in names if getattr(ctx.get_parameter_source(n), "name", "DEFAULT") not in ("DEFAULT",)}


def _read_config(path: str, names: list[str]) -> dict:
    """The values of the options ``names`` in a JSON config file (other keys, such as a run's identity, ignored)."""
    from .errors import InputError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"--config {path}: not a JSON config ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: not a JSON object of options")
    return {k: v for k, v in data.items() if k in names}


@app.command()
@config_options(TrainConfig)
def train(cfg: TrainConfig, threads: ThreadsOpt = None, quiet: QuietOpt = False) -> None:
    """Distill a teacher into a multilingual student from translation pairs (soft contrastive learning)."""
    from .training.trainer import train as run_train

    _setup(quiet, threads)
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
    from .training.transplant import transplant_vocabulary

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
    from .training.vocab import expand_files, extend_vocabulary, read_texts

    _setup_model_out(out, force, quiet, threads)
    check_texts = read_texts(expand_files(check or []), column=None, per_file=None)
    stats = extend_vocabulary(model, expand_files(pairs, "*.tsv"), out, vocab_size=pieces, per_language=per_language,
                              column=column, seed=seed, check=check_texts or None,
                              init=init.value, dev_size=dev_size, word_pieces=word_pieces)
    if not quiet:
        from .training.vocab import format_table

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
    save_dtype: Annotated[Optional[InterpolateDtype], typer.Option(
        help="Store the weights as fp32 or fp16 (default: the student's dtype); int8rows: fp16, and a USE "
             "student's own token rows 8-bit with a scale per row (half the size of fp16 rows).")] = None,
    force: ForceOpt = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Interpolate a student's weights with its starting model's (WiSE-FT): (1 - alpha)*init + alpha*student."""
    from .training.interpolate import interpolate as run

    _setup_model_out(out, force, quiet, threads)
    print(json.dumps(run(student, out, alpha, init=init, dtype=save_dtype.value if save_dtype else None)))


@app.command()
def demo(
    encoder: EncoderOpt = "default",
    threshold: Annotated[float, typer.Option(help="Minimum ratio margin.")] = 1.17,
    quiet: QuietOpt = False,
) -> None:
    """Mine the small German-English sample shipped with mineshaft and print the pairs."""
    from .data import sample_paths
    from .mining.mine import MineOptions, mine_to_file

    _setup(quiet, None)
    mine_to_file(*sample_paths(), "-", MineOptions(threshold=threshold), encoder_name=encoder)


#: the exit status when the reader of stdout went away (``| head``): 128 + SIGPIPE, a shell's status for a
#: process that SIGPIPE ended
EXIT_CLOSED_PIPE = 141


def _closed_pipe(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is, or was raised while handling, a write to a closed pipe (rich, printing help,
    turns one into ``SystemExit(1)``)."""
    while exc is not None:
        if isinstance(exc, BrokenPipeError):
            return True
        exc = exc.__context__
    return False


def _exit_closed_pipe() -> None:
    """End quietly with :data:`EXIT_CLOSED_PIPE`: stdout's reader is gone, so it points at /dev/null from
    here on (the interpreter's last flush must not fail). Cleanup already ran as the error unwound."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(EXIT_CLOSED_PIPE)


def main() -> None:
    """Entry point: one-line errors and conventional exit codes, never a traceback for bad input; a closed
    stdout ends quietly with :data:`EXIT_CLOSED_PIPE`."""
    try:
        _main()
    except SystemExit as exc:
        if _closed_pipe(exc):
            _exit_closed_pipe()
        code = exc.code
    else:
        code = 0
    try:
        sys.stdout.flush()  # a closed stdout shows here, not as a message at interpreter exit
    except BrokenPipeError:
        _exit_closed_pipe()
    sys.exit(code)


def _main() -> None:
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
    except BrokenPipeError:  # downstream closed the pipe (e.g. `| head`): not an error to report
        _exit_closed_pipe()
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
