"""The frozen teacher's (and the ``--anchor`` encoder's) vectors of the training pairs, cached per sentence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..encoders import load_encoder, model_path
from ..encoders.digest import encoder_digest
from ..encoders.routed import refuse_routed
from ..encoders.spec import EncoderSpec
from ..errors import UsageError
from ..languages import encoder_languages, pair_file_languages
from ..progress import info, task
from ..sentence_cache import cached_vectors
from .config import TrainConfig
from .data import PairSet

TEACHER_CACHE = "teacher-cache"


def teacher_embeddings(teacher_name: str, texts: list[str], cache_dir: Path, device: str, batch_size: int) -> np.ndarray:
    """The frozen teacher's unit vectors for ``texts``, cached per sentence (:mod:`mineshaft.sentence_cache`,
    under the digest of the teacher's files and precision): another run encodes only the sentences it adds."""
    # one call of many languages would go whole to one part
    refuse_routed(model_path(teacher_name), teacher_name, "give one of its parts as --teacher or --anchor", UsageError)
    legacy = _list_cache(teacher_name, texts, cache_dir)  # a whole-list file of earlier versions
    if legacy.exists():
        return np.load(legacy, mmap_mode="r")
    uniq, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)

    def encode(missing: list[str]) -> np.ndarray:
        teacher = load_encoder(teacher_name, device=device)
        with task(f"teacher {teacher.name}: encoding {len(missing)} sentences", len(missing)) as advance:
            return teacher.encode(missing, batch_size=batch_size, progress=advance)

    digest = encoder_digest(EncoderSpec(teacher_name, device=device, dtype="float32"))
    return cached_vectors(list(uniq), cache_dir / f"{Path(teacher_name).name}-{digest}", encode)[inverse]


def _list_cache(teacher_name: str, texts: list[str], cache_dir: Path) -> Path:
    h = hashlib.blake2b(digest_size=12)
    h.update(teacher_name.encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return cache_dir / f"{h.hexdigest()}.npy"


def teacher_cache_dir(cfg: TrainConfig) -> Path:
    """Where the teacher's vectors (and the neighbour table) are cached: ``--cache-dir`` or OUT/teacher-cache."""
    return Path(cfg.cache_dir) if cfg.cache_dir else Path(cfg.out) / TEACHER_CACHE


@dataclass
class AnchorTargets:
    """The ``--anchor`` encoder's vectors: ``a`` of every English side, ``b`` of the other sides in languages it
    knows (``b_row[i]``: pair i's row of ``b``, -1 where its language is not the anchor's)."""

    a: np.ndarray
    b: np.ndarray
    b_row: np.ndarray
    weight: float


def anchor_files(cfg: TrainConfig, data: PairSet) -> np.ndarray:
    """Per pair file: whether the ``--anchor`` encoder knows its language (so its other side is anchored too)."""
    record = encoder_languages(cfg.anchor)
    if not record:
        raise UsageError(f"--anchor {cfg.anchor}: the encoder records no languages, so its vectors of the other "
                         "side cannot be told apart from noise (give a model with a language record, such as 'use')")
    known = set(record["languages"]) | {"en"}
    return np.array([(c := pair_file_languages([name])) is not None and set(c) <= known for name in data.langs], bool)


def anchor_targets(cfg: TrainConfig, data: PairSet, teacher_a: np.ndarray | None) -> AnchorTargets | None:
    """The anchor's vectors for the run (cached like the teacher's; the teacher's own when it is the anchor)."""
    if cfg.anchor is None or cfg.anchor_weight == 0:
        return None
    known = anchor_files(cfg, data)
    cache = teacher_cache_dir(cfg)
    a = teacher_a if cfg.anchor == cfg.teacher and teacher_a is not None else \
        teacher_embeddings(cfg.anchor, data.a, cache, cfg.device, cfg.teacher_batch_size)
    rows = np.flatnonzero(known[data.lang])
    b_row = np.full(len(data), -1, np.int64)
    b_row[rows] = np.arange(len(rows))
    b = teacher_embeddings(cfg.anchor, [data.b[i] for i in rows], cache, cfg.device, cfg.teacher_batch_size) \
        if len(rows) else np.zeros((0, a.shape[1]), np.float32)
    info(f"anchor {cfg.anchor}: every English side and the other side of {len(rows)} pairs "
         f"({int(known.sum())} of {len(known)} files), weight {cfg.anchor_weight}")
    return AnchorTargets(a, b, b_row, cfg.anchor_weight)
