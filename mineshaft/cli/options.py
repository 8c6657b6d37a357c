"""The command line's shared options, declared once: choice types from the library's names, the encoder options
every encoding command takes (:func:`encoder_options`), a config dataclass's fields as options (:func:`config_options`),
and the setup each command does first (quiet, threads)."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import progress
from ..encoders import EncoderSpec, encoder_names_help
from ..encoders.precision import check_device, check_precision
from ..encoders.spec import DTYPES
from ..engines import ENGINES
from ..errors import InputError, UsageError
from ..io import ERROR_MODES
from ..outputs import check_folder
from ..mining.margin import K_MAX, MARGINS, MODES
from ..mining.score import METRICS
from ..training.config import INITS, INTERPOLATE_DTYPES, RESOLVED_OPTIONS, SAVE_DTYPES, option_fields


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
MaxLenOpt = Annotated[Optional[int], typer.Option(help="Truncate inputs to this many tokens, the start and end tokens included (default: the model's).", min=2, max=100_000)]
PunctOpt = Annotated[Optional[str], typer.Option("--normalize-punct", metavar="LANG", help="Moses punctuation normalization for language LANG before encoding.")]
PrecisionOpt = Annotated[str, typer.Option(help="Arithmetic: auto (USE-based encoders: fp32 on CPU, fp16 on GPU; transformers: bf16 on CPUs with native bf16, fp16 on GPU), fp32, bf16, fp16.")]
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


def plain(value: Any) -> Any:
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
            kwargs = {key: plain(value) for key, value in kwargs.items()}
            setup(kwargs["quiet"], kwargs["threads"])
            spec = EncoderSpec(kwargs.pop("encoder"), device=kwargs.pop("device"), max_length=kwargs.pop("max_length"),
                               threads=kwargs["threads"], batch_size=kwargs.pop("batch_size"),
                               punct_lang=kwargs.pop("normalize_punct", None), precision=kwargs.pop("precision"),
                               **({"dtype": kwargs[dtype]} if dtype else {}))
            return command(spec=spec, **{key: v for key, v in kwargs.items() if key in signature.parameters})

        return _with_parameters(run, params)

    return decorate


def setup(quiet: bool, threads: Optional[int]) -> None:
    """What every command does first: ``--quiet``, and ``--threads`` for torch and faiss without importing either
    (2 s): their OpenMP reads ``OMP_NUM_THREADS`` when they load, so a bad input is still refused at once; one
    already loaded is told directly (and :meth:`EncoderSpec.load` sets torch's threads again)."""
    progress.set_quiet(quiet)
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch, faiss = sys.modules.get("torch"), sys.modules.get("faiss")
        if torch is not None:
            torch.set_num_threads(threads)
        if faiss is not None:
            faiss.omp_set_num_threads(threads)


def config_options(config: type) -> Callable[[Callable], Callable]:
    """Build a command's options from a config dataclass whose fields declare them once
    (:func:`mineshaft.training.config.option`: help, flags, limits, choices), plus ``--config FILE``: a JSON file of
    the same fields (a run's ``train_config.json``) whose recipe replaces the defaults (read first, as the defaults
    click falls back on, so a field without a default is required unless the file gives it); options given on the
    command line win. They replace the command's first parameter, which receives ``config(**values)`` (choices
    as plain strings); its other parameters follow. Switches show no value type in the help. Values are
    validated by the config (``check()``), not here."""
    from dataclasses import MISSING
    from typing import get_type_hints

    hints = get_type_hints(config)
    fields_ = option_fields(config)
    recipe = [f.name for f in fields_ if f.metadata.get("recipe", True)]

    def option(f: Any) -> inspect.Parameter:
        meta = f.metadata
        kind = _choices(f.name.title().replace("_", ""), meta["choices"]) if meta["choices"] else hints[f.name]
        if f.default_factory is not MISSING:  # a repeatable option with a default (a fresh list)
            default = f.default_factory()
        elif f.default is MISSING:
            default = inspect.Parameter.empty  # required: on the command line or from --config
        else:
            default = kind(f.default) if meta["choices"] else f.default
        decls = meta["flags"] or ("--" + f.name.replace("_", "-"),)
        switch = kind in (bool, Optional[bool])
        info = typer.Option(*decls, help=meta["help"], min=meta["min"], max=meta["max"],
                            **({"metavar": ""} if switch else {}))
        return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, info], default=default)

    def read_recipe(ctx: typer.Context, path: Optional[str]) -> Optional[str]:
        """``--config``'s recipe as the defaults of this run's options (it is read before them: eager)."""
        if path is not None and not ctx.resilient_parsing:
            ctx.default_map = {**(ctx.default_map or {}), **_read_config(path, recipe)}
        return path

    config_file = inspect.Parameter(
        "config_file", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[Optional[str], typer.Option("--config", is_eager=True, callback=read_recipe,
                             help="JSON of these options (a run's train_config.json): its recipe replaces the "
                             "defaults (not --out, --resume, --device...); options given here win.")])

    def decorate(command: Callable) -> Callable:
        names = [f.name for f in fields_]
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
        params = ([option(f) for f in fields_] + [config_file]
                  + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own])

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            kwargs.pop("config_file")
            values = {n: plain(kwargs.pop(n)) for n in names}
            if "device" in values:  # checked without torch: a typo is refused before any data is read
                check_device(values["device"])
                if "precision" in values:
                    check_precision(values["precision"], values["device"])
            return command(config(**values), **kwargs)

        return _with_parameters(run, params)

    return decorate


def _read_config(path: str, names: list[str]) -> dict:
    """The values of the options ``names`` in a JSON config file (other keys ignored). A run's
    ``train_config.json`` records the options it resolves (``--precision auto`` as ``fp32``...) as resolved: those
    are read from its ``identity``, the recipe it was started with, so that ``--resume`` finds the same run."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"--config {path}: not a JSON config ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: not a JSON object of options")
    started = data.get("identity", {}).get("recipe") if isinstance(data.get("identity"), dict) else None
    if isinstance(started, dict):
        data.update({k: started[k] for k in RESOLVED_OPTIONS if k in started})
    return {k: v for k, v in data.items() if k in names}


def setup_model_out(out: str, force: bool, quiet: bool, threads: Optional[int]) -> None:
    """Common start of the commands that write a model directory, before anything slow: refuse an output that
    cannot be a folder (a file, a folder inside a file, no name), and replacing a folder without --force; then
    :func:`setup`, and under ``--quiet`` the progress bars of transformers and huggingface_hub off too."""
    path = Path(out)
    if not out.strip() or path.name in ("", ".", ".."):
        raise UsageError(f"{out!r}: give the name of the folder to write the model to")
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise UsageError(f"{out} is a file; a model is written as a folder (give another name, or remove the file)")
        if not force:
            raise UsageError(f"{out} exists (use --force to replace it)")
    check_folder(path.parent, f"{out}: its folder {path.parent}")  # not a file, and written in (a probe)
    setup(quiet, threads)
    if quiet:  # transformers' and huggingface_hub's bars too (weights loading, shards written, downloads)
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when they load; told directly where loaded already
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        if "huggingface_hub" in sys.modules:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        if "transformers" in sys.modules:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
