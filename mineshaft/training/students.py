"""The student being trained: a trainable encoder (:class:`TrainableEncoder`) behind one interface
(:class:`Student`): which parameters learn (the network, the token table, only the rows extend-vocab added, or
copies of the old rows the new languages use most), its vectors with gradients, its weights for checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from ..encoders.routed import refuse_routed
from ..errors import InputError, UsageError
from ..progress import info
from .config import TrainConfig
from .data import PairSet
from .extension import extended_model, new_language_files
from .sampling import language_probabilities

if TYPE_CHECKING:
    from ..encoders import Encoder


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
        refuse_routed(encoder, encoder.name, "train one of its parts instead")
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


def freeze_rows_below(weight, first_new_id: int):
    """Zero the gradient of rows ``< first_new_id`` of an embedding ``weight`` (a torch Parameter):
    only the new rows learn. Give the parameter weight_decay=0 too. Returns the hook handle."""

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[:first_new_id] = 0
        return grad

    return weight.register_hook(hook)


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
