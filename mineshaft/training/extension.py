"""The record ``mineshaft extend-vocab`` leaves in a model folder (``vocab_extension.json``), as training reads it:
the first added id, the model that was extended, and the dev split its lexicon kept out of."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..encoders import model_path
from ..errors import InputError, UsageError
from ..languages import encoder_languages, pair_file_languages
from ..progress import info
from .config import TrainConfig
from .data import PairSet, dev_digest

EXTENSION_FILE = "vocab_extension.json"


def extension_file(model: str) -> Path | None:
    """The ``vocab_extension.json`` of a model made (or trained from one made) by ``mineshaft extend-vocab``
    (the model's folder as :func:`mineshaft.encoders.model_path` finds it); None for any other model."""
    directory = model_path(model)
    path = None if directory is None else directory / EXTENSION_FILE
    return path if path is not None and path.is_file() else None


def extended_model(model: str) -> str:
    """The model extend-vocab extended to make ``model`` (its record's ``model``), else ``model`` itself."""
    path = extension_file(model)
    base = json.loads(path.read_text()).get("model") if path else None
    return base if base and (base == "use" or model_path(base) is not None) else model


def first_new_id(model: str) -> int:
    """The first id ``mineshaft extend-vocab`` added to ``model`` (from its ``vocab_extension.json``)."""
    path = extension_file(model)
    if path is None:
        raise UsageError(f"--train-new-rows-only needs a model from mineshaft extend-vocab ({model} has no {EXTENSION_FILE})")
    return int(json.loads(path.read_text())["first_new_id"])


def new_language_files(student: str, data: PairSet) -> np.ndarray | None:
    """Per pair file of ``data``: True where its language is new to the model extend-vocab extended to make
    ``student`` (:func:`extended_model`; a trained student, continued, still counts the languages it was
    taught as new), False where that model knows it. None when the model records no languages; a file not
    named by language (``en-cs.tsv``) counts as new."""
    record = encoder_languages(extended_model(student))
    if not record:
        return None
    known = set(record["languages"]) | {"en"}
    codes = [pair_file_languages([name]) for name in data.langs]
    return np.array([c is None or not set(c) <= known for c in codes], dtype=bool)


def check_lexicon_heldout(cfg: TrainConfig, dev: PairSet) -> None:
    """Refuse a student whose extend-vocab lexicon was learned on pairs this run holds out for dev (its record's
    held-out digest differs from this run's dev split); warn where the record predates the digest."""
    path = extension_file(cfg.student)
    if not len(dev) or path is None:
        return  # not a model from extend-vocab
    lexicon = json.loads(path.read_text()).get("lexicon")
    if not lexicon:
        return  # rows not learned from pairs
    recorded = lexicon.get("heldout")
    if recorded is None:
        info(f"{cfg.student}: its lexicon records no held-out digest, so it cannot be checked against this run's "
             f"dev split (extend-vocab --dev-size {lexicon.get('dev_size')} --seed {lexicon.get('seed')})")
    elif recorded != dev_digest(dev):
        raise InputError(f"{cfg.student}: its lexicon was learned on another split (extend-vocab --dev-size "
                         f"{lexicon.get('dev_size')} --seed {lexicon.get('seed')} on its own files) and may have read "
                         "this run's dev pairs; run extend-vocab with this run's --pairs, --dev-size and --seed")
