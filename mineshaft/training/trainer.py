"""Distill a frozen (English) teacher into a multilingual student from translation pairs.

``train(TrainConfig(...))`` reads ``english<TAB>other`` pair files, holds out a seeded dev slice
of each (by English sentence: no dev sentence occurs in training), draws each step's batch (uniform
over pairs, or languages sampled ∝ n^(1/T), mixed or one language a batch), caches the teacher's embeddings of the English side once, and trains the student with
one of :mod:`mineshaft.training.losses` (AdamW, linear warmup and decay, gradient clipping, autocast on
GPU). Every ``checkpoint_every`` steps it writes ``OUT/checkpoint/`` (weights, optimizer,
scheduler, RNG states: one :class:`TrainState`); ``resume=True`` continues from there and
reproduces the uninterrupted run. The model with the best dev accuracy (mean over languages of xx→en
retrieval on the held-out pairs; ``patience`` stops on it) is written to ``OUT`` as a model directory that :func:`mineshaft.load_encoder`
reads back. :class:`Trainer` holds one run's parts: the step loop, evaluation and checkpointing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from .sampling import BatchSampler, NeighbourBatches, batch_indices, language_probabilities, neighbour_table
from ..encoders import Encoder, load_encoder
from ..errors import InputError, UsageError
from ..io import atomic_dir, iter_tsv, write_atomic_bytes, write_atomic_npy
from .losses import PairLoss, build_loss
from ..metrics import retrieval_accuracy
from ..progress import info, task
from .config import SAVE_DTYPES, TrainConfig, flag_name, option_fields, recipe, to_args

CHECKPOINT = "checkpoint"
STATE_FILE = "state.pt"
TEACHER_CACHE = "teacher-cache"
LOG_FILE = "train_log.jsonl"


# ----------------------------------------------------------------------------- data
@dataclass
class PairSet:
    """Translation pairs: ``a`` is the teacher's (priority) side, ``b`` the other; ``lang`` indexes ``langs``."""

    a: list[str]
    b: list[str]
    lang: np.ndarray
    langs: list[str]
    #: True for the rows that came from --extra-pairs files (training only); empty: none
    extra: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.a)


def _read_rows(path: str) -> tuple[list[str], list[str]]:
    a, b = [], []
    for row in iter_tsv(path, min_columns=2):
        x, y = row[0].strip(), row[1].strip()
        if x and y:
            a.append(x)
            b.append(y)
    return a, b


def read_pair_files(paths: list[str], dev_size: int, max_pairs: int | None, seed: int,
                    split: str = "sentence", extra: list[str] = ()) -> tuple[PairSet, PairSet]:
    """Train and dev pairs; each file's pairs in a seeded order (the training order before sampling).

    ``split="sentence"``: about ``dev_size`` English sentences per file are held out, and with them every row,
    in any file, that shares an English or an other-side sentence with a held-out row (casefolded; see
    :func:`sentence_split`), so that no dev sentence occurs in training. Dev keeps one pair per English and per
    other sentence (retrieval needs distinct candidates). ``split="row"``: the first ``dev_size`` rows of each
    shuffled file (the old split: an English sentence with several translations lands on both sides).

    ``extra``: training-only files, each joined to the ``paths`` file of the same name (its language): they never
    change the dev split, and their rows sharing a casefolded sentence with any dev row are dropped."""
    rows = [_read_rows(p) for p in paths]
    orders = [np.random.default_rng([seed, li]).permutation(len(a)) for li, (a, _) in enumerate(rows)]
    if split == "row" or dev_size == 0:
        for path, (a, _) in zip(paths, rows):
            if len(a) <= dev_size + 1:
                raise InputError(f"{path}: {len(a)} usable pairs, need more than --dev-size {dev_size}")
        dev_idx = [o[:dev_size] for o in orders]
        train_idx = [o[dev_size:] for o in orders]
    elif split == "sentence":
        for path, (a, _) in zip(paths, rows):
            n = len({x.casefold() for x in a})
            if n <= dev_size + 1:
                raise InputError(f"{path}: {n} distinct English sentences, need more than --dev-size {dev_size}")
        held = sentence_split([(a, b) for a, b in rows], dev_size, seed)
        dev_idx, train_idx = [], []
        for (a, b), o, h in zip(rows, orders, held):
            out = h[o]
            train_idx.append(o[~out])
            seen_a, seen_b, keep = set(), set(), []
            held_rows = np.flatnonzero(h)
            for i in held_rows[np.argsort(_row_keys([a[j] for j in held_rows], [b[j] for j in held_rows], seed),
                                          kind="stable")]:
                ka, kb = a[i].casefold(), b[i].casefold()
                if ka not in seen_a and kb not in seen_b:
                    seen_a.add(ka)
                    seen_b.add(kb)
                    keep.append(i)
            dev_idx.append(np.array(keep, np.int64))
    else:
        raise UsageError(f"--dev-split must be sentence or row, got {split!r}")
    train, dev = PairSet([], [], np.zeros(0, np.int64), []), PairSet([], [], np.zeros(0, np.int64), [])
    tr_lang, dv_lang = [], []
    for li, (path, (a, b)) in enumerate(zip(paths, rows)):
        tr, dv = train_idx[li], dev_idx[li]
        if max_pairs:
            tr = tr[:max_pairs]
        for idx, ps, ll in ((tr, train, tr_lang), (dv, dev, dv_lang)):
            ps.a += [a[i] for i in idx]
            ps.b += [b[i] for i in idx]
            ll += [li] * len(idx)
        name = Path(path).name.split(".")[0]
        train.langs.append(name)
        dev.langs.append(name)
    n_own = len(train.a)
    _join_extra(train, tr_lang, dev, [Path(p).name for p in paths], extra)
    train.lang, dev.lang = np.array(tr_lang, np.int64), np.array(dv_lang, np.int64)
    train.extra = np.arange(len(train.a)) >= n_own
    dev.extra = np.zeros(len(dev.a), bool)
    return train, dev


def dev_digest(dev: PairSet) -> str:
    """A digest of the held-out pairs (casefolded, order-free): equal for the same dev split whatever the order
    of the files; ``extend-vocab`` records it so that ``train`` can tell its lexicon never read these pairs."""
    h = hashlib.blake2b(digest_size=16)
    for line in sorted(f"{x.casefold()}\t{y.casefold()}" for x, y in zip(dev.a, dev.b)):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def _join_extra(train: PairSet, tr_lang: list[int], dev: PairSet, names: list[str], extra: list[str]) -> None:
    """Append the rows of the training-only ``extra`` files to ``train`` under the language of the pair file of
    the same name, without any row that shares a (casefolded) sentence with ``dev``."""
    held = {x.casefold() for x in dev.a} | {x.casefold() for x in dev.b}
    for path in extra:
        name = Path(path).name
        if name not in names:
            raise InputError(f"--extra-pairs {path}: no --pairs file named {name} to join")
        kept = [(x, y) for x, y in zip(*_read_rows(path)) if x.casefold() not in held and y.casefold() not in held]
        if not kept:
            raise InputError(f"--extra-pairs {path}: no usable pairs")
        train.a += [x for x, _ in kept]
        train.b += [y for _, y in kept]
        tr_lang += [names.index(name)] * len(kept)


def _row_keys(a: list[str], b: list[str], seed: int) -> np.ndarray:
    """A seeded 64-bit key per row from its casefolded content: the order groups are held out in, the same
    whatever the order of the files or of their rows."""
    salt = f"{seed}\x00".encode()
    return np.array([int.from_bytes(hashlib.blake2b(salt + x.casefold().encode() + b"\t" + y.casefold().encode(),
                                                    digest_size=8).digest(), "little") for x, y in zip(a, b)],
                    dtype=np.uint64)


def sentence_split(files: list[tuple[list[str], list[str]]], dev_size: int, seed: int) -> list[np.ndarray]:
    """Which rows of each file are held out (boolean masks), by sentence across all files.

    Rows are linked when they share their English or their other side (casefolded, in any file); a linked group
    is held out whole or not at all. Groups are taken in the order of a seeded hash of their content (the smallest
    key of their rows, :func:`_row_keys`) as long as no file they touch would hold more than ``dev_size`` English
    sentences, so a dev sentence never occurs in training anywhere and the split does not depend on the order of
    the files or of their rows."""
    offsets = np.cumsum([0] + [len(a) for a, _ in files])
    n_rows = int(offsets[-1])
    parent = list(range(n_rows))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple[str, str], int] = {}
    for li, (a, b) in enumerate(files):
        for i in range(len(a)):
            r = int(offsets[li] + i)
            for key in (("a", a[i].casefold()), ("b", b[i].casefold())):
                j = first.setdefault(key, r)
                if j != r:
                    rj, rr = find(j), find(r)
                    if rj != rr:
                        parent[max(rj, rr)] = min(rj, rr)
    root = np.array([find(r) for r in range(n_rows)], np.int64)
    file_of = np.repeat(np.arange(len(files)), np.diff(offsets))
    english = [x.casefold() for a, _ in files for x in a]
    keys = np.concatenate([_row_keys(a, b, seed) for a, b in files]) if n_rows else np.zeros(0, np.uint64)
    group_key = np.full(n_rows, np.iinfo(np.uint64).max, np.uint64)
    np.minimum.at(group_key, root, keys)
    by_group = np.lexsort((np.arange(n_rows), group_key[root]))
    bounds = np.flatnonzero(np.diff(group_key[root][by_group])) + 1
    count = np.zeros(len(files), np.int64)
    held = np.zeros(n_rows, bool)
    for group in np.split(by_group, bounds):
        if (count >= dev_size).all():
            break
        need: dict[int, set[str]] = {}
        for r in group:
            need.setdefault(int(file_of[r]), set()).add(english[r])
        if all(count[f] + len(s) <= dev_size for f, s in need.items()):
            held[group] = True
            for f, s in need.items():
                count[f] += len(s)
    return [held[offsets[i]:offsets[i + 1]] for i in range(len(files))]


# ----------------------------------------------------------------------------- teacher cache
def teacher_embeddings(teacher_name: str, texts: list[str], cache_dir: Path, device: str, batch_size: int) -> np.ndarray:
    """The frozen teacher's unit vectors for ``texts``, cached per sentence (:mod:`mineshaft.sentence_cache`,
    under the digest of the teacher's files and precision): another run encodes only the sentences it adds."""
    from ..encoders.digest import encoder_digest
    from ..encoders.spec import EncoderSpec
    from ..sentence_cache import cached_vectors

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


def teacher_targets(cfg: TrainConfig, loss_fn: PairLoss, data: PairSet,
                    student: Student) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The teacher's embeddings of each side the loss reads (else None); gives the student a head to
    the teacher's dimension when the loss compares the two directly."""
    if not loss_fn.needs_teacher:
        return None, None
    cache = teacher_cache_dir(cfg)
    if loss_fn.needs_same_dim:  # the teacher's dimension from one sentence: a student that cannot match fails fast
        dim = int(teacher_embeddings(cfg.teacher, data.a[:1], cache, cfg.device, 1).shape[1])
        if dim != student.dim:
            student.add_head(dim, cfg.seed)
    t_a = teacher_embeddings(cfg.teacher, data.a, cache, cfg.device, cfg.teacher_batch_size)
    t_b = None
    if loss_fn.needs_teacher_b:
        t_b = teacher_embeddings(cfg.teacher, data.b, cache, cfg.device, cfg.teacher_batch_size)
    return t_a, t_b


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
    from ..languages import encoder_languages, pair_file_languages

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


# ----------------------------------------------------------------------------- student
class TrainableEncoder(Protocol):
    """What the trainer needs from an encoder (:class:`~mineshaft.encoders.hf.HFEncoder` and
    :class:`~mineshaft.encoders.use.USEEncoder` have it; ``add_head(dim, seed)`` is optional)."""

    model: torch.nn.Module
    dim: int
    max_length: int
    #: whether the token table stays frozen unless asked otherwise
    default_freeze_embeddings: bool

    def forward_train(self, texts: list[str]) -> torch.Tensor: ...

    def token_embedding(self) -> torch.nn.Parameter: ...

    def save_pretrained(self, directory: Path, dtype: torch.dtype | None = None,
                        frozen_table: bool = False) -> Path: ...


class Student:
    """A trainable encoder: ``embed(texts)`` gives unit vectors with gradients; ``save(dir)`` a model directory;
    ``state_dict()``/``load_state_dict()`` the trained weights (for checkpoints)."""

    def __init__(self, encoder: Encoder, freeze_embeddings: bool | None, max_length: int,
                 new_rows_from: int | None = None, old_rows: np.ndarray | None = None,
                 freeze_network: bool = False):
        if not hasattr(encoder, "forward_train"):
            raise InputError(f"encoder {encoder.name!r} cannot be trained (use a transformer or 'use')")
        self.encoder: TrainableEncoder = encoder
        self.module: torch.nn.Module = encoder.model
        self.inference_max_length = int(encoder.max_length)  # what the saved model reads at inference
        encoder.max_length = min(int(encoder.max_length), int(max_length))
        if freeze_embeddings is None:
            freeze_embeddings = encoder.default_freeze_embeddings
        self.freeze_embeddings = freeze_embeddings
        #: trained token rows (AdamW leaves them undecayed: old rows only stay put without decay; their own lr)
        self.token_rows: list[torch.nn.Parameter] = []
        extra = getattr(self.module, "embedding_extra", None)
        if old_rows is not None:
            if not hasattr(self.module, "override_rows") or extra is None:
                raise UsageError("--train-old-rows needs a 'use' student from extend-vocab")
            self.module.override_rows(torch.from_numpy(np.asarray(old_rows, dtype=np.int64)))
        own = getattr(self.module, "embedding_override", None)
        if new_rows_from is not None and extra is not None and new_rows_from == encoder.token_embedding().shape[0]:
            # the new rows (and any retrained copies of old ones) are their own parameters (USE port):
            # the base table stays frozen and out of Adam
            encoder.token_embedding().requires_grad_(False)
            self.token_rows = [p for p in (extra, own) if p is not None]
            self.freeze_embeddings = True
        elif new_rows_from is not None:
            from .vocab import freeze_rows_below

            table = encoder.token_embedding()
            if not 0 < new_rows_from < table.shape[0]:
                raise InputError(f"first_new_id {new_rows_from} is outside the token table ({table.shape[0]} rows)")
            freeze_rows_below(table, new_rows_from)
            self.token_rows = [table]
            self.freeze_embeddings = False
        elif freeze_embeddings:
            encoder.token_embedding().requires_grad_(False)
            for p in (extra, own):
                if p is not None:
                    p.requires_grad_(False)
        self.freeze_network = freeze_network
        if freeze_network:  # only the added rows learn: not the network, not a student's earlier old-row copies
            if not self.token_rows:
                raise UsageError("--freeze-network needs a student from extend-vocab and --train-new-rows-only")
            self.token_rows = [p for p in self.token_rows if p is not own]
            self.module.requires_grad_(False)
        for p in self.token_rows:
            p.requires_grad_(True)

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    def add_head(self, dim: int, seed: int) -> None:
        if self.freeze_network:
            raise UsageError(f"--freeze-network with --loss mse needs a student with the teacher's dimension {dim} "
                             f"(student: {self.dim}): its head would be new weights")
        if not hasattr(self.encoder, "add_head"):
            raise UsageError(f"--loss mse needs a student with the teacher's dimension {dim} (student: {self.dim})")
        self.encoder.add_head(dim, seed)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def named_trainable(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.module.named_parameters() if v.requires_grad}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.named_trainable().items()}

    @torch.no_grad()
    def load_state_dict(self, weights: dict[str, torch.Tensor]) -> None:
        current = self.named_trainable()
        for k, v in weights.items():
            current[k].copy_(v)

    def embed(self, texts: list[str]) -> torch.Tensor:
        return self.encoder.forward_train(texts)

    def save(self, directory: Path, dtype: torch.dtype | None = None) -> None:
        train_max, self.encoder.max_length = self.encoder.max_length, self.inference_max_length
        try:
            self.encoder.save_pretrained(directory, dtype=dtype, frozen_table=self.freeze_embeddings)
        finally:
            self.encoder.max_length = train_max


# ----------------------------------------------------------------------------- evaluation on dev
@torch.no_grad()
def dev_accuracy(encoder: Encoder, dev: PairSet, batch_size: int = 128) -> dict:
    """Top-1 retrieval accuracy xx→en and en→xx on each language's held-out pairs, and their means."""
    res: dict = {}
    if len(dev) == 0:
        return res
    ea = encoder.encode(dev.a, batch_size=batch_size)
    eb = encoder.encode(dev.b, batch_size=batch_size)
    for li, name in enumerate(dev.langs):
        m = dev.lang == li
        if m.any():
            xx2en, en2xx = retrieval_accuracy(eb[m], ea[m])
            res[name] = {"xx2en": xx2en, "en2xx": en2xx}
    res["mean_xx2en"] = float(np.mean([v["xx2en"] for k, v in res.items() if isinstance(v, dict)]))
    res["mean_en2xx"] = float(np.mean([v["en2xx"] for k, v in res.items() if isinstance(v, dict)]))
    return res


def dev_summary(step: int, res: dict, show: int = 5) -> str:
    """One stderr line: the dev means and, with more than ``show`` + 3 languages, only the ``show`` worst
    xx→en (all of them are in ``train_log.jsonl``)."""
    langs = sorted(((v["xx2en"], k) for k, v in res.items() if isinstance(v, dict)))
    shown = langs if len(langs) <= show + 3 else langs[:show]
    head = f"step {step}: dev mean xx→en {100 * res['mean_xx2en']:.2f} en→xx {100 * res['mean_en2xx']:.2f}"
    tail = " ".join(f"{k} {100 * v:.1f}" for v, k in shown)
    return f"{head}; {'worst: ' if len(shown) < len(langs) else ''}{tail}"


# ----------------------------------------------------------------------------- checkpoint state
class GlobalRNG:
    """The global RNGs (torch, numpy, python, CUDA) as one object with ``state_dict``/``load_state_dict``."""

    @staticmethod
    def state_dict() -> dict:
        return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    @staticmethod
    def load_state_dict(state: dict) -> None:
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
        state = {"total": self.total, "n_train": self.n_train, "data_key": self.data_key, **{k: getattr(self, k) for k in self.PROGRESS},
                 **{name: part.state_dict() for name, part in self.parts.items()}}
        with atomic_dir(directory) as tmp:
            torch.save(state, tmp / STATE_FILE)

    def load(self, directory: Path, device: torch.device) -> None:
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


def recipe_command(cfg: TrainConfig) -> str:
    """``mineshaft train ...`` that reruns ``cfg``'s recipe (generated from the options, so none is left out)."""
    import shlex

    return "mineshaft train " + " ".join(shlex.quote(a) for a in to_args(cfg)) + f" --out {shlex.quote(Path(cfg.out).name)}"


def check_lexicon_heldout(cfg: TrainConfig, dev: PairSet) -> None:
    """Refuse a student whose extend-vocab lexicon was learned on pairs this run holds out for dev (its record's
    held-out digest differs from this run's dev split); warn where the record predates the digest."""
    from .vocab import EXTENSION_FILE

    path = Path(cfg.student) / EXTENSION_FILE
    if not len(dev) or not path.is_file():
        return  # not a model folder from extend-vocab (a short name or a hub id included)
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


# ----------------------------------------------------------------------------- the run
def _check_claimable(out: Path, resume: bool) -> None:
    """Refuse an ``out`` that may not be written: not empty without ``resume``, nothing to resume with it."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not resume:
        raise InputError(f"{out} exists and is not empty (use --resume to continue a run, or another --out)")
    if resume and not (out / CHECKPOINT / STATE_FILE).exists() and not (out / "train_config.json").exists():
        raise InputError(f"nothing to resume in {out}")


def _claim(out: Path, resume: bool):
    """Check that ``out`` may be written (new, or resumable), create it and lock it for this run."""
    _check_claimable(out, resume)
    out.mkdir(parents=True, exist_ok=True)
    return _lock(out)


def _lock(out: Path):
    """An exclusive lock on ``OUT/.lock``: two runs never write one model directory at once."""
    import fcntl

    fh = open(out / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise InputError(f"another mineshaft train is running in {out}") from None
    return fh


@contextmanager
def _stop_requests():
    """Turn the first SIGINT/SIGTERM into a request honoured between steps (so a checkpoint is always
    written); a second one interrupts at once. Outside the main thread signals are left alone."""
    requested: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)
        info("stopping after this step (send again to stop at once)")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        if device.type != "cuda":
            return None  # fp32 training on CPU
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _write_config(out: Path, cfg: TrainConfig, run: dict | None = None) -> None:
    write_atomic_bytes(out / "train_config.json", (json.dumps({**asdict(cfg), **(run or {})}, indent=2) + "\n").encode())


def _optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float,
               token_rows: list[torch.nn.Parameter] = (), rows_lr: float | None = None) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases and norms); ``token_rows`` undecayed, at ``rows_lr``."""
    rows = {id(p) for p in token_rows}
    net = [p for p in params if id(p) not in rows]
    groups = [{"params": [p for p in net if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in net if p.ndim < 2], "weight_decay": 0.0},
              {"params": [p for p in params if id(p) in rows], "weight_decay": 0.0, "lr": rows_lr or lr}]
    return torch.optim.AdamW(groups, lr=lr)


def new_language_files(student: str, data: PairSet) -> np.ndarray | None:
    """Per pair file of ``data``: True where its language is new to the model extend-vocab extended to make
    ``student`` (:func:`extended_model`; a trained student, continued, still counts the languages it was
    taught as new), False where that model knows it. None when the model records no languages; a file not
    named by language (``en-cs.tsv``) counts as new."""
    from ..languages import encoder_languages, pair_file_languages

    record = encoder_languages(extended_model(student))
    if not record:
        return None
    known = set(record["languages"]) | {"en"}
    codes = [pair_file_languages([name]) for name in data.langs]
    return np.array([c is None or not set(c) <= known for c in codes], dtype=bool)


def sampling_probabilities(cfg: TrainConfig, data: PairSet) -> tuple[np.ndarray | None, float | None]:
    """The ``known`` mask and share that :class:`BatchSampler` splits the draws by (``--known-share``), or
    (None, None) without the option."""
    if cfg.known_share is None:
        return None, None
    new = new_language_files(cfg.student, data)
    if new is None:
        raise UsageError(f"--known-share: {extended_model(cfg.student)} records no languages, so none is known")
    if new.all() or not new.any():
        raise UsageError(f"--known-share needs pair files in languages {extended_model(cfg.student)} knows and in "
                         f"languages it does not; all {len(new)} are {'new' if new.all() else 'known'}")
    return ~new, cfg.known_share


def most_used_rows(encoder: Encoder, data: PairSet, cfg: TrainConfig) -> np.ndarray:
    """The ``cfg.train_old_rows`` ids of a USE student's base table that the other side of the training pairs
    uses most, counted as the batches will draw them (each language weighted by its sampling probability);
    only the files in languages new to the student count (:func:`new_language_files`; all of them when the
    model records no languages). Special pieces (unknown, bos, eos) are never chosen."""
    if not hasattr(getattr(encoder, "model", None), "override_rows"):
        raise UsageError("--train-old-rows needs a 'use' student from extend-vocab")
    base = int(encoder.model.embedding.shape[0])
    new = new_language_files(cfg.student, data)
    sizes = np.bincount(data.lang, minlength=len(data.langs))
    # --known-share scales the new languages' draws by one factor, which leaves the ranking of rows as it is
    p = language_probabilities(sizes, cfg.sampling_temperature)
    counts = np.zeros(base, dtype=np.float64)
    for li in range(len(data.langs)):
        if new is not None and not new[li]:
            continue  # a language the student knows: its rows stay as they are
        texts = [data.b[i] for i in np.flatnonzero(data.lang == li)]
        ids = np.concatenate([np.asarray(r, dtype=np.int64) for r in encoder.tokenizer.encode(texts)] or [[]])
        ids = ids[(ids >= 3) & (ids < base)]
        counts += np.bincount(ids, minlength=base) * (p[li] / max(1, sizes[li]))
    order = np.argsort(-counts, kind="stable")[: cfg.train_old_rows]
    chosen = np.sort(order[counts[order] > 0])
    if not len(chosen):
        raise UsageError(f"--train-old-rows: no pair file is in a language new to {extended_model(cfg.student)}, "
                         "so there is no old row to choose")
    info(f"training {len(chosen)} of the base table's rows (the most used by "
         f"{'the languages new to the student' if new is not None else 'the training text'})")
    return chosen


def extension_file(model: str) -> Path | None:
    """The ``vocab_extension.json`` of a model made (or trained from one made) by ``mineshaft extend-vocab``."""
    from .vocab import EXTENSION_FILE, resolve_model

    _, directory = resolve_model(model)
    path = None if directory is None else Path(directory) / EXTENSION_FILE
    return path if path is not None and path.exists() else None


def extended_model(model: str) -> str:
    """The model extend-vocab extended to make ``model`` (its record's ``model``), else ``model`` itself."""
    path = extension_file(model)
    base = json.loads(path.read_text()).get("model") if path else None
    return base if base and (base == "use" or Path(base).is_dir()) else model


def first_new_id(model: str) -> int:
    """The first id ``mineshaft extend-vocab`` added to ``model`` (from its ``vocab_extension.json``)."""
    from .vocab import EXTENSION_FILE

    path = extension_file(model)
    if path is None:
        raise UsageError(f"--train-new-rows-only needs a model from mineshaft extend-vocab ({model} has no {EXTENSION_FILE})")
    return int(json.loads(path.read_text())["first_new_id"])


@dataclass
class TrainResult:
    out: Path
    steps: int
    best_step: int | None
    best_dev: dict | None
    history: list[dict]


#: losses whose labels are the identity: a batch holding one sentence twice would contradict itself
IDENTITY_LABELS = ("hard",)


def sentence_ids(data: PairSet) -> tuple[np.ndarray, np.ndarray]:
    """An integer id per pair for its English and for its other sentence (equal casefolded text, equal id)."""
    return tuple(np.unique(np.array([x.casefold() for x in side], dtype=object), return_inverse=True)[1]
                 for side in (data.a, data.b))


def batch_sampler(cfg: TrainConfig, data: PairSet, teacher_a: np.ndarray | None) -> BatchSampler | NeighbourBatches:
    """The run's batches: :class:`BatchSampler`, or with ``--neighbour-groups N`` its draws as seeds of
    :class:`NeighbourBatches` over the teacher's nearest English neighbours (each seed's 2(N-1) nearest)."""
    g = cfg.neighbour_groups
    distinct = sentence_ids(data) if cfg.loss in IDENTITY_LABELS else None
    seeds = BatchSampler(data.lang, len(data.langs), cfg.batch_size // max(g, 1), cfg.seed,
                         cfg.sampling_temperature, cfg.batch_languages, *sampling_probabilities(cfg, data),
                         extra=data.extra, extra_share=cfg.extra_share, distinct=distinct)
    if not g:
        return seeds
    cache = teacher_cache_dir(cfg)
    if teacher_a is None:  # a loss without the teacher (hard): the neighbours still come from it
        teacher_a = teacher_embeddings(cfg.teacher, data.a, cache, cfg.device, cfg.teacher_batch_size)
    table = cached_neighbour_table(teacher_a, data.lang, 2 * (g - 1), cache)
    return NeighbourBatches(seeds, table, g, cfg.seed)


def cached_neighbour_table(vectors: np.ndarray, lang: np.ndarray, k: int, cache: Path) -> np.ndarray:
    """:func:`neighbour_table`, kept in ``cache`` under the digest of the vectors, languages and ``k`` (the search
    takes minutes on a few hundred thousand pairs; another run on the same data reads it back)."""
    h = hashlib.blake2b(digest_size=12)
    for part in (np.ascontiguousarray(vectors, np.float32), np.asarray(lang, np.int64), np.int64(k)):
        h.update(memoryview(np.ascontiguousarray(part)).cast("B"))
    path = cache / f"neighbours-{h.hexdigest()}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.time()
    table = neighbour_table(vectors, lang, k)
    info(f"nearest English neighbours of {len(lang)} pairs ({k} each) in {time.time() - t0:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    write_atomic_npy(path, table)
    return table


class Trainer:
    """One run's parts: :meth:`fit` is the step loop (one :meth:`step` at a time); :meth:`evaluate` and
    :meth:`checkpoint` run between steps; :meth:`save_model` writes the kept model to ``OUT``."""

    def __init__(self, cfg: TrainConfig, out: Path, student: Student, loss_fn: PairLoss, data: PairSet,
                 dev: PairSet, teacher: tuple[np.ndarray | None, np.ndarray | None],
                 anchor: AnchorTargets | None = None):
        from transformers import get_linear_schedule_with_warmup

        self.cfg, self.out, self.student, self.loss_fn = cfg, out, student, loss_fn
        self.data, self.dev, self.teacher, self.anchor = data, dev, teacher, anchor
        self.device = torch.device(getattr(student.encoder, "device", "cpu"))
        total = cfg.steps or max(1, int(round(cfg.epochs * (len(data) // cfg.batch_size))))
        self.params = student.parameters()
        self.opt = _optimizer(self.params, cfg.lr, cfg.weight_decay, student.token_rows, cfg.embedding_lr)
        self.sampler = batch_sampler(cfg, data, teacher[0])
        self.sched = get_linear_schedule_with_warmup(self.opt, int(cfg.warmup * total), total)
        self.amp = _autocast_dtype(cfg.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.state = TrainState({"weights": student, "optimizer": self.opt, "scheduler": self.sched,
                                 "scaler": self.scaler, "rng": GlobalRNG}, total, len(data),
                                data_key=f"{cfg.dev_split}|{cfg.sampling_temperature}|{cfg.batch_languages}"
                                         + (f"|{cfg.neighbour_groups}" if cfg.neighbour_groups else "")
                                         + (f"|known{cfg.known_share}" if cfg.known_share is not None else ""))
        self.checkpointed = -1  # the step of the last checkpoint written by this process
        self.in_update = False  # between backward() and the end of the optimizer step
        self.started = (time.time(), 0)  # (time, step) this process started stepping

    @property
    def run_info(self) -> dict:
        """What this run does, not what was asked for ("auto"): precision and device resolved."""
        return {"precision": {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp],
                "device": str(self.device), "out": str(self.out)}

    def resume(self) -> None:
        if not (self.out / CHECKPOINT / STATE_FILE).exists():
            info(f"{self.out}: no checkpoint, starting from step 0")
            return
        self.state.load(self.out / CHECKPOINT, self.device)
        info(f"resuming at step {self.state.step} of {self.state.total}")

    def checkpoint(self) -> None:
        self.state.save(self.out / CHECKPOINT)
        self.checkpointed = self.state.step

    def log(self, record: dict) -> None:
        with open(self.out / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save_model(self) -> None:
        """The student as a model directory in ``OUT``, replacing the files of an earlier one."""
        tmp = self.out / ".model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.student.save(tmp, dtype=getattr(torch, SAVE_DTYPES[self.cfg.save_dtype]))
        record = extension_file(self.cfg.student) if self.cfg.train_new_rows_only else None
        if record is not None:  # still a model from extend-vocab: it can be trained on again
            shutil.copy(record, tmp / record.name)
        for f in tmp.iterdir():
            dst = self.out / f.name
            if dst.is_dir():
                shutil.rmtree(dst)
            os.replace(f, dst)
        tmp.rmdir()

    def evaluate(self) -> bool:
        """Dev accuracy, recorded; the model is saved when it is the best so far. True: stop early."""
        st, cfg = self.state, self.cfg
        self.student.module.eval()
        res = dev_accuracy(self.student.encoder, self.dev)
        self.student.module.train()
        st.history.append({"step": st.step, "dev": res})
        self.log({"step": st.step, "dev": res})
        if not res:
            return False
        info(dev_summary(st.step, res))
        if st.best is None or res["mean_xx2en"] > st.best["mean_xx2en"]:
            st.best, st.best_step, st.bad_evals = res, st.step, 0
            if cfg.select == "best":
                self.save_model()
        else:
            st.bad_evals += 1
        return cfg.patience is not None and st.bad_evals >= cfg.patience

    def step(self) -> None:
        """One optimizer step on the batch of step ``state.step``, logged as one JSON line."""
        st, cfg, device = self.state, self.cfg, self.device
        idx = self.sampler(st.step)
        a, b = [self.data.a[i] for i in idx], [self.data.b[i] for i in idx]
        ta, tb = (None if t is None else torch.from_numpy(np.asarray(t[idx], np.float32)).to(device)
                  for t in self.teacher)
        with torch.autocast(device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            sa, sb = self.student.embed(a), self.student.embed(b)
            loss = self.loss_fn(sa.float(), sb.float(), ta, tb)
            if self.anchor is not None:
                loss = loss + self.anchor_term(idx, sa.float(), sb.float())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {st.step} (try a lower --lr)")
        self.scaler.scale(loss).backward()
        self.in_update = True
        self.scaler.unscale_(self.opt)
        gnorm = torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        st.step += 1
        self.in_update = False
        t0, done0 = self.started
        self.log({"step": st.step, "loss": loss.item(), "lr": self.sched.get_last_lr()[0], "grad_norm": float(gnorm),
                  "steps_per_s": round((st.step - done0) / max(time.time() - t0, 1e-9), 3)})

    def anchor_term(self, idx: np.ndarray, sa: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
        """``weight · (mean(1 − cos(S(a), A(a))) + mean(1 − cos(S(b), A(b))))``, the second over the batch's pairs
        in the anchor's languages."""
        an, device = self.anchor, sa.device
        ua = torch.from_numpy(np.asarray(an.a[idx], np.float32)).to(device)
        term = (1 - (sa * ua).sum(-1)).mean()
        rows = an.b_row[idx]
        known = rows >= 0
        if known.any():
            ub = torch.from_numpy(np.asarray(an.b[rows[known]], np.float32)).to(device)
            term = term + (1 - (sb[torch.from_numpy(known).to(device)] * ub).sum(-1)).mean()
        return an.weight * term

    def _due(self, every: int) -> bool:
        return bool(every) and self.state.step % every == 0 and self.state.step < self.state.total

    def fit(self) -> bool:
        """Step until the run is done, ``stop_after`` steps are taken or dev stops improving (True).

        A first SIGINT/SIGTERM stops at the next step boundary with a checkpoint; any interrupt that
        lands between steps leaves the state after the last completed step (then KeyboardInterrupt)."""
        st, cfg = self.state, self.cfg
        if st.step == 0 and not st.history and len(self.dev) and (cfg.select == "best" or cfg.eval_every):
            self.evaluate()  # the starting point, so the best model is never worse than the init on dev
        self.student.module.train()
        stop_at = st.total if cfg.stop_after is None else min(st.total, st.step + cfg.stop_after)
        self.started = (time.time(), st.step)
        try:
            with _stop_requests() as stop_requested, \
                    task(f"training ({cfg.loss}{'+tcm' if cfg.tcm else ''})", st.total) as advance:
                advance(st.step)
                while st.step < stop_at:
                    if stop_requested:
                        self.checkpoint()
                        info(f"interrupted after step {st.step} of {st.total}; continue with --resume")
                        raise KeyboardInterrupt
                    self.step()
                    advance(1)
                    if self._due(cfg.eval_every) and self.evaluate():
                        info(f"early stop at step {st.step}: no dev improvement in {cfg.patience} evaluations")
                        return True
                    if self._due(cfg.checkpoint_every):
                        self.checkpoint()
        except KeyboardInterrupt:
            if not self.in_update and st.step > 0 and self.checkpointed != st.step:
                self.checkpoint()  # the state after the last completed step: resume loses nothing
            raise
        return False

    def kept(self) -> tuple[int | None, dict | None]:
        """Step and dev results of the model in ``OUT``: the best one, else the last step's."""
        st = self.state
        if self.cfg.select == "best" and len(self.dev):
            return st.best_step, st.best
        return st.step, st.history[-1]["dev"] if st.history and st.history[-1]["step"] == st.step else None

    def result(self) -> TrainResult:
        st = self.state
        return TrainResult(self.out, st.step, st.best_step, st.best, st.history)


def train(cfg: TrainConfig) -> TrainResult:
    """Run (or resume) one training job; returns where the model went and the dev history.

    Everything that can be checked is checked before ``OUT`` is claimed (options, data, student, a resumed run's
    recipe and data against the run's own); a fresh run that fails its setup leaves no ``OUT`` behind."""
    cfg.check()
    out = Path(cfg.out)
    _check_claimable(out, cfg.resume)
    identity = run_identity(cfg)
    if cfg.resume:
        check_same_run(out, cfg, identity)
    _seed(cfg.seed)
    train_set, dev_set = read_pair_files(cfg.pairs, cfg.dev_size, cfg.max_pairs, cfg.seed, cfg.dev_split,
                                         cfg.extra_pairs)
    if len(train_set) < cfg.batch_size:
        raise InputError(f"{len(train_set)} training pairs, fewer than one batch of {cfg.batch_size}")
    check_lexicon_heldout(cfg, dev_set)
    info(f"{len(train_set)} training pairs, {len(dev_set)} dev pairs ({', '.join(train_set.langs)})")

    loss_fn = build_loss(cfg.loss, cfg.temperature, cfg.labels, cfg.tcm, cfg.cross_weight)
    new_rows = first_new_id(cfg.student) if cfg.train_new_rows_only else None
    encoder = load_encoder(cfg.student, device=cfg.device, precision="fp32")
    old_rows = most_used_rows(encoder, train_set, cfg) if cfg.train_old_rows else None
    student = Student(encoder, cfg.freeze_embeddings, cfg.max_length, new_rows, old_rows, cfg.freeze_network)
    if cfg.anchor is not None:
        anchor_files(cfg, train_set)  # an anchor without a language record fails here, before OUT is claimed
    existed = out.exists()
    lock = _claim(out, cfg.resume)  # held until the run ends (or the process does)
    try:
        _write_config(out, cfg, {"identity": identity})
        teacher = teacher_targets(cfg, loss_fn, train_set, student)
        anchor = anchor_targets(cfg, train_set, teacher[0])
        trainer = Trainer(cfg, out, student, loss_fn, train_set, dev_set, teacher, anchor)
    except (InputError, UsageError):
        lock.close()
        if not cfg.resume:  # a setup that fails claims nothing: the corrected command finds OUT as it was
            if existed:
                for name in ("train_config.json", ".lock"):
                    (out / name).unlink(missing_ok=True)
            else:
                shutil.rmtree(out, ignore_errors=True)
        raise
    trainer.state.data_key = identity["digest"]
    _write_config(out, cfg, {**trainer.run_info, "identity": identity})
    if cfg.resume:
        trainer.resume()

    stopped_early = trainer.fit()
    steps, total = trainer.state.step, trainer.state.total
    if steps < total and not stopped_early:
        trainer.checkpoint()
        info(f"stopped after step {steps} of {total}; continue with --resume")
        return trainer.result()
    if len(dev_set) and not stopped_early:
        trainer.evaluate()
    if cfg.select == "last" or not len(dev_set):
        trainer.save_model()
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    write_model_card(out, cfg, train_set, *trainer.kept(), steps, trainer.run_info)
    record_languages(out, cfg)
    (out / ".lock").unlink(missing_ok=True)
    lock.close()
    info(f"best dev at step {trainer.state.best_step}; model of "
         f"{'that' if cfg.select == 'best' and len(dev_set) else 'the last'} step in {out}")
    return trainer.result()


def record_languages(out: Path, cfg: TrainConfig) -> None:
    """``OUT/languages.json``: the student's languages plus those of the pair files (``en-de.tsv`` ...), so that
    ``encode`` and ``mine`` stop warning on them; nothing when either is unknown (no check, no false warning)."""
    from ..languages import pair_file_languages, write_languages

    names = [Path(p).name for p in cfg.pairs]
    added = pair_file_languages(names)
    files = ", ".join(names) if len(names) <= 8 else f"{len(names)} files ({names[0]} ... {names[-1]})"
    if write_languages(out, cfg.student, added, f"{cfg.student}'s languages + trained on {files}") is None:
        info(f"{out}: no {'language codes in the pair file names' if added is None else 'language record of the student'}"
             "; languages.json not written (inputs will not be checked)")


def write_model_card(out: Path, cfg: TrainConfig, train_set: PairSet, kept_step: int | None, kept_dev: dict | None,
                     steps: int, run: dict | None = None) -> None:
    """A README.md next to the weights: recipe, data and dev results (held-out training pairs).

    ``run``: what the run actually used (resolved precision and device), as in ``train_config.json``.
    """
    loss = cfg.loss + ("+TCM" if cfg.tcm else "")
    run = run or {"precision": cfg.precision, "device": cfg.device}
    lines = [
        f"# {out.name}", "",
        f"Student `{cfg.student}` distilled from teacher `{cfg.teacher}` with mineshaft's `{loss}` loss "
        f"(τ={cfg.temperature}, labels={cfg.labels}, λ={cfg.cross_weight}).", "",
        "## Training recipe", "",
        f"- pairs: {len(train_set)} ({', '.join(train_set.langs)}), files: {', '.join(Path(p).name for p in cfg.pairs)}"
        + (f"; training-only: {', '.join(cfg.extra_pairs)}" if cfg.extra_pairs else ""),
        f"- batch {cfg.batch_size}, {steps} steps, AdamW lr {cfg.lr} (warmup {cfg.warmup}, linear decay), "
        f"weight decay {cfg.weight_decay}, grad clip {cfg.max_grad_norm}, seed {cfg.seed}, max length {cfg.max_length}",
        f"- embeddings frozen: {cfg.freeze_embeddings if cfg.freeze_embeddings is not None else 'auto'}"
        + ("; only the rows added by extend-vocab trained (no weight decay)" if cfg.train_new_rows_only else "")
        + (f", and copies of the {cfg.train_old_rows} old rows the new languages use most" if cfg.train_old_rows else "")
        + ("; the rest of the network frozen" if cfg.freeze_network else "")
        + (f"; token rows at lr {cfg.embedding_lr}" if cfg.embedding_lr else ""),
        f"- dev: {cfg.dev_size} English sentences per file held out by {cfg.dev_split}; language sampling "
        f"T={cfg.sampling_temperature}, {cfg.batch_languages}-language batches"
        + (f" of neighbour groups of {cfg.neighbour_groups}" if cfg.neighbour_groups else "")
        + (f"; {cfg.known_share} of the draws for the languages the student knew" if cfg.known_share is not None else ""),
        *([f"- anchored to `{cfg.anchor}` (weight {cfg.anchor_weight}): its vectors of the English side and of the "
           "other side in its languages"] if cfg.anchor else []),
        *([f"- {cfg.extra_share} of each language's draws from its training-only pairs"]
          if cfg.extra_share is not None else []),
        f"- trained in {run['precision']} on {run['device']}; weights saved as {cfg.save_dtype}; written to {out}",
        f"- model kept: step {kept_step} ({'best dev accuracy' if cfg.select == 'best' else 'last step'})", "",
        f"## Dev at step {kept_step} (held-out training pairs, top-1 retrieval)", "",
    ]
    if kept_dev:
        lines += ["| pairs | xx→en | en→xx |", "|---|---|---|"]
        lines += [f"| {k} | {100 * v['xx2en']:.1f} | {100 * v['en2xx']:.1f} |" for k, v in kept_dev.items() if isinstance(v, dict)]
    lines += ["", f"Reproduce (or `mineshaft train --config train_config.json --out NEW`): `{recipe_command(cfg)}`", ""]
    card = out / "README.md"
    if not card.exists() or "<!-- generated -->" in card.read_text():
        card.write_text("<!-- generated -->\n" + "\n".join(lines))
