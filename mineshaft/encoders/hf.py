"""Transformer sentence encoders loaded with Hugging Face ``transformers``.

Pooling follows the model's own sentence-transformers files when present
(``modules.json`` and ``1_Pooling/config.json``: mean, CLS or max), else mean
pooling over non-padding tokens; outputs are L2-normalized by the base class.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .base import Encoder

POOLING_MODES = ("mean", "cls", "max")


def read_pooling(model_dir: Path) -> tuple[str, int | None]:
    """Pooling mode and max sequence length from a sentence-transformers model directory."""
    mode, max_len = "mean", None
    modules = model_dir / "modules.json"
    pool_dir = None
    if modules.exists():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("Pooling"):
                pool_dir = model_dir / module.get("path", "1_Pooling")
    elif (model_dir / "1_Pooling").is_dir():
        pool_dir = model_dir / "1_Pooling"
    if pool_dir is not None and (pool_dir / "config.json").exists():
        cfg = json.loads((pool_dir / "config.json").read_text())
        if cfg.get("pooling_mode_cls_token"):
            mode = "cls"
        elif cfg.get("pooling_mode_max_tokens"):
            mode = "max"
    sbert = model_dir / "sentence_bert_config.json"
    if sbert.exists():
        max_len = json.loads(sbert.read_text()).get("max_seq_length")
    return mode, max_len


def pick_device(device: str | None) -> torch.device:
    """``auto``/None → cuda when available, else cpu; anything else is passed to torch."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but no CUDA GPU is available")
    return dev


class HFEncoder(Encoder):
    """Any Hugging Face encoder model (local directory or hub id) as a sentence encoder."""

    def __init__(
        self,
        model: str | os.PathLike,
        device: str | None = "auto",
        max_length: int | None = None,
        pooling: str | None = None,
        prefix: str = "",
        precision: str = "auto",
        name: str | None = None,
    ):
        from transformers import AutoModel, AutoTokenizer

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        self.path = str(model)
        self.name = name or (Path(self.path).name if Path(self.path).exists() else self.path)
        self.device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.model = AutoModel.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"cannot load model {self.path!r}: {first}") from None
        self.model.eval().to(self.device)
        self.precision = resolve_precision(precision, self.device)
        if self.precision == "fp16":
            self.model.half()
        local = Path(self.path)
        st_pooling, st_max = read_pooling(local) if local.is_dir() else ("mean", None)
        self.pooling = pooling or st_pooling
        if self.pooling not in POOLING_MODES:
            raise InputError(f"unknown pooling {self.pooling!r} (use one of {', '.join(POOLING_MODES)})")
        model_max = getattr(self.model.config, "max_position_embeddings", 512) or 512
        self.max_length = int(max_length or st_max or min(model_max, 512))
        self.dim = int(self.model.config.hidden_size)
        self.prefix = prefix
        self.truncated = 0

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        # characters are a close enough proxy to group batches, at no tokenization cost
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        if self.prefix:
            texts = [self.prefix + t for t in texts]
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        if batch["input_ids"].shape[1] == self.max_length:
            # count inputs that hit the cap (cheap: the padded batch is already at the limit)
            self.truncated += int((batch["attention_mask"].sum(1) == self.max_length).sum())
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            hidden = self.model(**batch).last_hidden_state
            return pool(hidden, batch["attention_mask"], self.pooling).float().cpu().numpy()

    def forward_train(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled, normalized embeddings with gradients (for training a student)."""
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        return torch.nn.functional.normalize(pool(hidden, batch["attention_mask"], self.pooling), dim=-1)

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """A transformers model directory plus the sentence-transformers files (Transformer, Pooling,
        Normalize), so that ``SentenceTransformer(directory)`` loads it too."""
        directory = Path(directory)
        model = self.model
        if dtype is not None:
            import copy

            model = copy.deepcopy(model).to(dtype)
        model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        save_sentence_transformers_files(directory, self.dim, self.pooling, self.max_length)
        return directory


def save_sentence_transformers_files(directory: Path, dim: int, pooling: str, max_length: int) -> None:
    """``modules.json``, ``1_Pooling/``, ``2_Normalize/`` and ``sentence_bert_config.json``."""
    pool_cfg = {"word_embedding_dimension": int(dim), "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
                "pooling_mode_mean_sqrt_len_tokens": False}
    (directory / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(pool_cfg, indent=2) + "\n")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (directory / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (directory / "2_Normalize").mkdir(exist_ok=True)
    (directory / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": int(max_length), "do_lower_case": False}, indent=2) + "\n")


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: fp16 weights on GPU; bf16 autocast on CPUs with native bf16 (AVX512-BF16/AMX), else fp32.

    bf16 autocast doubles CPU throughput of MiniLM here with cosine >= 0.9999 to fp32.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r} (use one of {', '.join(PRECISIONS)})")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(
        torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return "bf16" if native else "fp32"


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool token states ``(B, L, H)`` to sentence vectors ``(B, H)``, ignoring padding."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
