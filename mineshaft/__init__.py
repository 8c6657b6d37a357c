"""mineshaft: multilingual sentence alignment and margin-based mining of parallel sentences.

Library use mirrors the command line::

    import mineshaft
    opts = mineshaft.MineOptions(threshold=1.3)
    result = mineshaft.mine("src.txt", "tgt.txt", work_dir="job.work", encoder="use", options=opts)

Heavy modules (torch, faiss, transformers) load on first use, not at import.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load_encoder": ("mineshaft.encoders", "load_encoder"),
    "Encoder": ("mineshaft.encoders", "Encoder"),
    "mine": ("mineshaft.mine", "mine"),
    "mine_embeddings": ("mineshaft.mine", "mine_embeddings"),
    "MineOptions": ("mineshaft.mine", "MineOptions"),
    "Corpus": ("mineshaft.corpus", "Corpus"),
    "EmbeddingStore": ("mineshaft.store", "EmbeddingStore"),
    "encode_to_store": ("mineshaft.encode", "encode_to_store"),
    "score_pairs": ("mineshaft.score", "score_pairs"),
    "pair_scores": ("mineshaft.score", "pair_scores"),
    "read_pairs": ("mineshaft.score", "read_pairs"),
    "encode_file": ("mineshaft.encode", "encode_file"),
    "knn": ("mineshaft.search", "knn"),
    "margin": ("mineshaft.margin", "margin"),
    "select_pairs": ("mineshaft.margin", "select_pairs"),
    "pair_texts": ("mineshaft.mine", "pair_texts"),
    "format_pairs": ("mineshaft.mine", "format_pairs"),
    "train": ("mineshaft.train", "train"),
    "TrainConfig": ("mineshaft.train", "TrainConfig"),
    "build_loss": ("mineshaft.losses", "build_loss"),
    "SoftContrastiveLoss": ("mineshaft.losses", "SoftContrastiveLoss"),
    "HardContrastiveLoss": ("mineshaft.losses", "HardContrastiveLoss"),
    "MSEDistillationLoss": ("mineshaft.losses", "MSEDistillationLoss"),
    "MineshaftError": ("mineshaft.errors", "MineshaftError"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mineshaft' has no attribute {name!r}")
