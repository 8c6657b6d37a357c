"""The options of a training run, each declared once: type, default, help text, limits and CLI flag.

:class:`TrainConfig` is what :func:`mineshaft.training.trainer.train` takes; ``mineshaft train`` builds its
options from the same fields (their ``metadata``, see :func:`option`), and :meth:`TrainConfig.check`
validates a config however it was made. Standard library only, so the CLI can read it without torch.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from ..errors import InputError, UsageError

#: the losses of :mod:`mineshaft.training.losses`, by name (this order)
LOSS_NAMES = ("soft", "hard", "mse", "mmse")
#: soft labels: the teacher reads the priority side only, or the average of both sides
LABEL_STRATEGIES = ("priority", "average")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: how trained or interpolated weights may be stored (name -> torch dtype name)
SAVE_DTYPES = {"fp32": "float32", "fp16": "float16"}
#: what ``mineshaft interpolate --save-dtype`` may also write: fp16 with a USE student's token rows 8-bit
INTERPOLATE_DTYPES = {**SAVE_DTYPES, "int8rows": "float16"}
#: how the dev pairs are held out of training
DEV_SPLITS = ("sentence", "row")
#: whether one batch mixes languages
BATCH_LANGUAGES = ("mixed", "single")


def option(default: Any = MISSING, help: str = "", *, flags: tuple[str, ...] = (), min: float | None = None,
           max: float | None = None, choices: tuple[str, ...] | None = None, recipe: bool = True) -> Any:
    """A dataclass field that is also a command-line option: ``flags`` (default ``--field-name``;
    ``"--on/--off"`` for a two-way switch), inclusive limits ``min``/``max`` and allowed ``choices``.
    ``recipe=False``: the option says where or how a run goes (output, cache, device, resuming), not what it
    computes, so it is left out of the run's identity (:func:`recipe`) and of its command (:func:`to_args`)."""
    meta = {"help": help, "flags": flags, "min": min, "max": max, "choices": choices, "recipe": recipe}
    if isinstance(default, list):  # a repeatable option with a default: each config gets its own list
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def option_fields(config: type) -> list[Field]:
    """The fields of a dataclass that are command-line options, in declaration order."""
    return [f for f in fields(config) if "help" in f.metadata]


def flag_name(f: Field) -> str:
    """The option's long flag as users type it (``--lambda`` for ``cross_weight``)."""
    flags = f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),)
    return flags[0].split("/")[0]


def recipe(config: Any) -> dict[str, Any]:
    """The options that decide what a run computes (every option but those declared ``recipe=False``)."""
    return {f.name: getattr(config, f.name) for f in option_fields(type(config)) if f.metadata.get("recipe", True)}


def to_args(config: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """The command-line arguments that rebuild ``config``'s recipe: each option whose value differs from its
    default (lists repeated, switches as their flag), in declaration order; ``skip`` leaves options out."""
    args: list[str] = []
    for f in option_fields(type(config)):
        if not f.metadata.get("recipe", True) or f.name in skip:
            continue
        value = getattr(config, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if value == default and default is not MISSING:
            continue
        flags = f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),)
        if isinstance(value, bool):
            on, _, off = flags[0].partition("/")
            if value or off:
                args.append(on if value else off)
        elif isinstance(value, list):
            for v in value:
                args += [flags[0], str(v)]
        elif value is not None:
            args += [flags[0], str(value)]
    return args


def check_options(config: Any) -> None:
    """Finite floats, limits and choices of every option field; one-line :class:`UsageError` otherwise."""
    for f in option_fields(type(config)):
        value, meta, name = getattr(config, f.name), f.metadata, flag_name(f)
        if value is None or isinstance(value, (bool, list)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{name} must be a finite number, got {value}")
        if meta["choices"] and value not in meta["choices"]:
            raise UsageError(f"{name} must be one of {', '.join(meta['choices'])}, got {value!r}")
        if meta["min"] is not None and value < meta["min"]:
            raise UsageError(f"{name} must be at least {meta['min']}, got {value}")
        if meta["max"] is not None and value > meta["max"]:
            raise UsageError(f"{name} must be at most {meta['max']}, got {value}")


@dataclass
class TrainConfig:
    """Everything that defines a training run (written to ``OUT/train_config.json``)."""

    pairs: list[str] = option(help="TSV of pairs: english<TAB>other (repeat for more languages).", flags=("--pairs",))
    out: str = option(help="Model directory to write (checkpoints go in OUT/checkpoint).", flags=("--out", "-o"), recipe=False)
    extra_pairs: list[str] = option([], "Training-only TSV (en-XX.tsv: e.g. out-of-domain pairs): joins the "
                                    "training side of the --pairs file of the same name, never its dev set (rows "
                                    "sharing a sentence with any dev row are dropped). Repeatable.",
                                    flags=("--extra-pairs",))
    extra_share: float | None = option(None, "Share of a language's draws taken from its --extra-pairs rows (the "
                                       "rest from its own training rows; default: in proportion to their counts).",
                                       min=0.0, max=1.0)
    teacher: str = option("minilm", "Frozen teacher: short name, model directory or HF id (reads column 1).")
    student: str = option("use", "Student to train: 'use', a transformer directory or HF id.")
    loss: str = option("soft", "soft (Park et al. 2024), hard (InfoNCE), mse (Reimers & Gurevych 2020), mmse (matrix MSE).",
                       choices=LOSS_NAMES)
    temperature: float = option(0.1, "τ of the student's softmax and of the soft labels.")
    labels: str = option("priority", "Soft labels: priority (teacher reads column 1) or average (both columns).",
                         choices=LABEL_STRATEGIES)
    anchor: str | None = option(None, "Keep the student near this frozen encoder (e.g. 'use', the start of a USE "
                                "student): its vectors of the English side and of the other side in the languages "
                                "it knows (its language record) are targets, 1 − cosine weighted by --anchor-weight.")
    anchor_weight: float = option(1.0, "Weight of the --anchor term.", min=0.0)
    tcm: bool = option(False, "Also train the student's mono-lingual similarities (L = λ·L_cross + L_mono).")
    cross_weight: float = option(1.0, "λ, the weight of the cross-lingual term.", flags=("--lambda",), min=0.0)
    batch_size: int = option(32, "Pairs per batch (the soft labels are a softmax over the batch).", min=2, max=65536)
    lr: float = option(3e-5, "Peak AdamW learning rate.")
    epochs: float = option(1.0, "Passes over the training pairs (ignored with --steps).")
    steps: int | None = option(None, "Optimizer steps in all.", min=1)
    warmup: float = option(0.1, "Fraction of steps with linear warmup.")
    max_pairs: int | None = option(None, "Use at most this many training pairs per file.", min=1)
    dev_size: int = option(500, "English sentences per file held out for dev accuracy (model selection).", min=0)
    dev_split: str = option("sentence", "Hold out by sentence (every row sharing a dev row's English or other side "
                            "leaves training, in all files) or by row (the old split: dev sentences recur in training).",
                            choices=DEV_SPLITS)
    sampling_temperature: float = option(1.0, "Language sampling: a batch draws language l with probability "
                                         "∝ n_l^(1/T) (1: uniform over pairs; 5: XLM-R/LaBSE style).", min=1.0)
    known_share: float | None = option(None, "Share of the draws for the pair files in languages the student's "
                                       "extend-vocab start already knows (its language record); the new languages "
                                       "get the rest. Each group samples by --sampling-temperature (default: one "
                                       "group).", min=0.0, max=0.99)
    batch_languages: str = option("mixed", "mixed (a batch draws each pair's language) or single (one language "
                                  "per batch: soft labels over one language).", choices=BATCH_LANGUAGES)
    neighbour_groups: int = option(0, "Build each batch from groups of N pairs of one language whose English sides "
                                   "are nearest neighbours under the teacher, hard negatives for one another (0: off; "
                                   "--batch-size must be a multiple of N).", min=0, max=1024)
    eval_every: int = option(500, "Dev evaluation every N steps (0: only at the end).", min=0)
    checkpoint_every: int = option(500, "Resumable checkpoint every N steps (0: only on interrupt).", min=0, recipe=False)
    patience: int | None = option(None, "Stop after this many dev evaluations without improvement.", min=1)
    select: str = option("best", "Model written to OUT: best (dev accuracy) or last (final step).",
                         choices=("best", "last"))
    keep_last: bool = option(False, "With --select best, also write the final step's model to OUT/last when an "
                             "earlier step is the one kept.")
    max_length: int = option(128, "Truncate training inputs to this many tokens.", min=2, max=100_000)
    freeze_embeddings: bool | None = option(None, "Freeze the token embeddings (default: frozen for 'use').",
                                            flags=("--freeze-embeddings/--train-embeddings",))
    train_new_rows_only: bool = option(False, "For a model from extend-vocab: train only the token rows >= its "
                                       "first_new_id (no weight decay on the table) and the rest of the network.")
    train_old_rows: int = option(0, "With --train-new-rows-only on a 'use' student: also train the N existing token "
                                 "rows that the languages new to the student use most (trainable copies; the table "
                                 "stays frozen).", min=0, max=1_000_000)
    freeze_network: bool = option(False, "With --train-new-rows-only: train only the token rows extend-vocab added "
                                  "(no other weight, no copy of an old row), so text without a new piece encodes "
                                  "exactly as before: new languages taught without moving the known ones. Takes --loss "
                                  "mse only for a student of the teacher's dimension: the head mse adds otherwise would "
                                  "be new weights.")
    embedding_lr: float | None = option(None, "Peak learning rate of the trained token rows (default: --lr).")
    seed: int = option(0, "Seed for data order, dev split and initialization.")
    save_dtype: str = option("fp32", "Weights written as fp32 or fp16.", choices=tuple(SAVE_DTYPES))
    resume: bool = option(False, "Continue an interrupted run in OUT from its checkpoint.", recipe=False)
    stop_after: int | None = option(None, "Stop this run after N steps, leaving a checkpoint to --resume.", min=1, recipe=False)
    cache_dir: str | None = option(None, "Teacher embedding cache (default OUT/teacher-cache; share it across runs).", recipe=False)
    device: str = option("auto", "auto, cpu, cuda or cuda:N.", recipe=False)
    precision: str = option("auto", "auto (bf16/fp16 autocast on GPU, fp32 on CPU), fp32, bf16, fp16.",
                            choices=PRECISIONS)
    # library-only settings (no command-line option)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    teacher_batch_size: int = 128
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        """Validate every value (the CLI and the library both end here); raises :class:`UsageError`."""
        if not self.pairs:
            raise UsageError("give at least one --pairs file")
        check_options(self)
        for name in ("temperature", "lr", "epochs"):
            if getattr(self, name) <= 0:
                raise UsageError(f"--{name} must be a positive number, got {getattr(self, name)}")
        if self.embedding_lr is not None and not self.embedding_lr > 0:
            raise UsageError(f"--embedding-lr must be a positive number, got {self.embedding_lr}")
        if self.train_new_rows_only and self.freeze_embeddings:
            raise UsageError("--train-new-rows-only trains the new token rows: drop --freeze-embeddings")
        if self.freeze_network and (not self.train_new_rows_only or self.train_old_rows):
            raise UsageError("--freeze-network trains only the new token rows: it goes with --train-new-rows-only, "
                             "without --train-old-rows")
        if self.train_old_rows and not self.train_new_rows_only:
            raise UsageError("--train-old-rows goes with --train-new-rows-only (the rest of the table stays frozen)")
        if self.neighbour_groups == 1 or (self.neighbour_groups and self.batch_size % self.neighbour_groups):
            raise UsageError(f"--neighbour-groups must be 0 or at least 2 and divide --batch-size "
                             f"({self.batch_size}), got {self.neighbour_groups}")
        if self.extra_share is not None and not self.extra_pairs:
            raise UsageError("--extra-share divides the draws between --pairs and --extra-pairs rows: give --extra-pairs")
        if self.keep_last and (self.select == "last" or self.dev_size == 0):
            raise UsageError("--keep-last goes with --select best and a dev split: without them OUT holds the final "
                             "step's model already")
        if not 0 <= self.warmup < 1:
            raise UsageError(f"--warmup must be at least 0 and below 1 (a fraction of the steps), got {self.warmup}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):  # a library setting, no option
            raise UsageError(f"TrainConfig.weight_decay must be a finite number >= 0, got {self.weight_decay}")
        for path in [*self.pairs, *self.extra_pairs]:
            try:
                with open(path, "rb") as fh:
                    st = os.fstat(fh.fileno())
            except OSError as exc:
                raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
            if stat.S_ISREG(st.st_mode) and st.st_size == 0:  # (a pipe has no size to tell)
                raise InputError(f"{path}: empty input")


#: recipe options a run records in ``train_config.json`` as it resolved them (``auto`` → ``fp32``); the value it
#: was started with is in the file's ``identity``, which ``--config`` reads back (``--device`` is no recipe option:
#: ``--config`` never reads it)
RESOLVED_OPTIONS = ("precision",)


def check_encoder_names(cfg: TrainConfig) -> None:
    """Refuse an encoder the run would load (``--student``, ``--anchor``, and ``--teacher`` unless nothing reads it:
    ``--loss hard`` without ``--neighbour-groups``) whose name resolves to nothing, as loading it would, but before
    any pairs are read (:func:`mineshaft.encoders.check_name`: a path to nothing; a hub id neither cached nor on
    the hub)."""
    from ..encoders.names import check_name, resolve_default

    names = [cfg.student, cfg.anchor]
    if cfg.loss != "hard" or cfg.neighbour_groups:
        names.insert(0, cfg.teacher)
    for name in names:
        if name is not None:
            check_name(resolve_default(name))


#: dev sentences per file that ``mineshaft train`` holds out by default (``extend-vocab --dev-size``: its lexicon
#: never reads them)
DEFAULT_DEV_SIZE: int = next(f.default for f in fields(TrainConfig) if f.name == "dev_size")
#: how ``extend-vocab`` starts new and much-used rows: ``lexicon`` (from the pairs' translations) or ``pieces``
#: (from the old pieces)
INITS = ("lexicon", "pieces")


__all__ = ["TrainConfig", "option", "option_fields", "flag_name", "check_options", "recipe", "to_args", "LOSS_NAMES", "LABEL_STRATEGIES",
           "RESOLVED_OPTIONS", "check_encoder_names",
           "DEV_SPLITS", "BATCH_LANGUAGES", "DEFAULT_DEV_SIZE", "INITS"]
