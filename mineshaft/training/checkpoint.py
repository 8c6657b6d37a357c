"""What makes a run resumable and its output its own: the checkpoint state (:class:`TrainState`, the global RNGs),
the run's identity (its recipe and the content of its data files) and the lock on its output folder.

Imports no torch nor numpy until a state is saved or loaded: :func:`check_start` runs before the trainer is
imported, so a run that cannot start says why at once."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InputError
from ..outputs import atomic_dir
from .config import TrainConfig, check_encoder_names, flag_name, option_fields, recipe

if TYPE_CHECKING:
    import torch

CHECKPOINT = "checkpoint"
STATE_FILE = "state.pt"


class GlobalRNG:
    """The global RNGs (torch, numpy, python, CUDA) as one object with ``state_dict``/``load_state_dict``."""

    @staticmethod
    def state_dict() -> dict:
        import numpy as np
        import torch

        return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    @staticmethod
    def load_state_dict(state: dict) -> None:
        import numpy as np
        import torch

        torch.set_rng_state(state["torch"])
        np.random.set_state(state["numpy"])
        random.setstate(state["python"])
        if state.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainState:
    """A run's progress and its stateful parts (each with ``state_dict``/``load_state_dict``, by the name it
    has in the file): what ``OUT/checkpoint/state.pt`` holds, written and read back here only."""

    parts: dict[str, Any]
    total: int
    n_train: int
    #: what decides the data of each step besides the seed (dev split, sampling): resuming must not change it
    data_key: str = ""
    step: int = 0
    best: dict | None = None
    best_step: int | None = None
    bad_evals: int = 0
    history: list[dict] = field(default_factory=list)

    PROGRESS: ClassVar[tuple[str, ...]] = ("step", "best", "best_step", "bad_evals", "history")

    def save(self, directory: Path) -> None:
        import torch

        state = {"total": self.total, "n_train": self.n_train, "data_key": self.data_key, **{k: getattr(self, k) for k in self.PROGRESS},
                 **{name: part.state_dict() for name, part in self.parts.items()}}
        with atomic_dir(directory) as tmp:
            torch.save(state, tmp / STATE_FILE)

    def load(self, directory: Path, device: torch.device) -> None:
        import torch

        state = torch.load(directory / STATE_FILE, map_location=device, weights_only=False)
        if (state["total"] != self.total or state["n_train"] != self.n_train
                or state.get("data_key", self.data_key) != self.data_key):
            raise InputError(f"{directory} belongs to a different run (steps, data, dev split or sampling "
                             "changed); use a new --out")
        for name, part in self.parts.items():
            part.load_state_dict(state[name])
        for k in self.PROGRESS:
            setattr(self, k, state[k])


# ----------------------------------------------------------------------------- a run's identity
#: settings outside the options that change what a run computes
_LIBRARY_RECIPE = ("weight_decay", "max_grad_norm")
_DATA_FIELDS = ("pairs", "extra_pairs")


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (a data file's identity: its content, wherever it lies)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return h.hexdigest()


def run_identity(cfg: TrainConfig) -> dict:
    """What a run computes: its recipe (every option that changes the result) and the content of its data files,
    with one digest of both. Recorded in ``train_config.json``; ``--resume`` must match it."""
    values = {**recipe(cfg), **{k: getattr(cfg, k) for k in _LIBRARY_RECIPE}}
    data = {name: [file_digest(p) for p in values.pop(name)] for name in _DATA_FIELDS}
    digest = hashlib.blake2b(json.dumps([values, data], sort_keys=True).encode(), digest_size=16).hexdigest()
    return {"digest": digest, "recipe": values, "data": data}


def check_same_run(out: Path, cfg: TrainConfig, identity: dict) -> None:
    """Refuse ``--resume`` into a run of another recipe or other data: one line naming the first difference."""
    path = out / "train_config.json"
    try:
        started = json.loads(path.read_text()).get("identity") if path.exists() else None
    except (OSError, ValueError):
        raise InputError(f"{path}: unreadable; cannot check what the run in {out} was started with") from None
    if not started or started.get("digest") == identity["digest"]:
        return
    hint = f"resume with the run's own recipe (--config {path} --out {out} --resume) or start a new --out"
    flags = {f.name: flag_name(f) for f in option_fields(TrainConfig)}
    for name, value in identity["recipe"].items():
        old = started.get("recipe", {}).get(name, value)
        if old != value:
            raise InputError(f"--resume: {flags.get(name, name)} is {value!r} here but {old!r} in the run in {out}; "
                             + hint)
    for name, digests in identity["data"].items():
        old = started.get("data", {}).get(name, digests)
        files = getattr(cfg, name)
        if len(old) != len(digests):
            raise InputError(f"--resume: {len(digests)} {flags[name]} files here but {len(old)} in the run in {out}; "
                             + hint)
        for i, (a, b) in enumerate(zip(digests, old)):
            if a != b:
                raise InputError(f"--resume: {flags[name]} {files[i]} differs from the file the run in {out} was "
                                 f"started with (content changed); {hint}")
    raise InputError(f"--resume: the run in {out} was started with another recipe; {hint}")


class RunComplete(InputError):
    """``--resume`` into a run that has finished: nothing to do (``mineshaft train`` says so and exits 0)."""


#: written when a run ends, after its model and before its checkpoint is removed: a run with a card and no
#: checkpoint is complete
CARD = "README.md"


def run_complete(out: Path) -> bool:
    """Whether ``out`` holds a finished run: its config and model card, and no checkpoint left to resume."""
    return ((out / "train_config.json").is_file() and (out / CARD).is_file()
            and not (out / CHECKPOINT / STATE_FILE).exists())


def check_claimable(out: Path, resume: bool) -> None:
    """Refuse an ``out`` that may not be written: not empty without ``resume``; with it, nothing to resume, a run
    another process is running, or a finished run (:class:`RunComplete`)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not resume:
        raise InputError(f"{out} exists and is not empty (use --resume to continue a run, or another --out)")
    if resume and not (out / CHECKPOINT / STATE_FILE).exists() and not (out / "train_config.json").exists():
        raise InputError(f"nothing to resume in {out}")
    if resume and (out / ".lock").is_file():  # checked again when the run takes the lock (:func:`claim`)
        try:
            with open(out / ".lock") as fh:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"another mineshaft train is running in {out}") from None
    if resume and run_complete(out):
        raise RunComplete(f"the run in {out} is complete (its model and card are in {out}): nothing to resume; "
                          "train again into another --out")


def check_start(cfg: TrainConfig) -> dict:
    """Everything about a run that can be checked before torch loads and any pairs are read, cheapest first: its
    options and files (:meth:`TrainConfig.check`), its ``out`` (:func:`check_claimable`), for ``resume`` the
    recipe and data the run in ``out`` was started with (:func:`check_same_run`), then the names of its encoders
    (:func:`~mineshaft.training.config.check_encoder_names`). Returns the run's identity (:func:`run_identity`)."""
    cfg.check()
    out = Path(cfg.out)
    check_claimable(out, cfg.resume)
    identity = run_identity(cfg)
    if cfg.resume:
        check_same_run(out, cfg, identity)
    check_encoder_names(cfg)
    return identity


def claim(out: Path, resume: bool):
    """Check that ``out`` may be written (new, or resumable), create it and lock it for this run."""
    check_claimable(out, resume)
    out.mkdir(parents=True, exist_ok=True)
    return lock(out)


def lock(out: Path):
    """An exclusive lock on ``OUT/.lock``: two runs never write one model directory at once."""
    fh = open(out / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise InputError(f"another mineshaft train is running in {out}") from None
    return fh
