"""mineshaft: multilingual sentence alignment and margin-based mining of parallel sentences.

Library use mirrors the command line::

    import mineshaft
    opts = mineshaft.MineOptions(threshold=1.3)
    result = mineshaft.mine("src.txt", "tgt.txt", work_dir="job.work", encoder_name="use", options=opts)
    mineshaft.mine_to_file("src.txt", "tgt.txt", "pairs.tsv", opts, encoder_name="use")  # as `mineshaft mine`

Heavy modules (torch, faiss, transformers) load on first use, not at import.
"""

from __future__ import annotations

import os
import sys
import types

__version__ = "0.1.0"

# MKL (torch's CPU BLAS) may pick kernels by the memory alignment of its arguments, which differs from run to
# run: the same encoding then differed in the last bits once in ~20 runs, and a resumed job was not
# byte-identical. Its conditional numerical reproducibility mode fixes that; read when MKL first runs, so set
# here, before torch loads (a user's own setting wins). STRICT also makes ?gemm independent of the thread
# count: with plain AUTO a CI run once still got other bits in a resumed shard (most likely MKL ran with
# other threads), while with STRICT a shard encodes bit for bit the same on 1 and 2 threads
# (tests/test_resume.py); same speed measured.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
# MKL's default MKL_DYNAMIC=TRUE lets it take fewer threads than asked; keep the count fixed as well.
os.environ.setdefault("MKL_DYNAMIC", "FALSE")

_LAZY = {
    "load_encoder": ("mineshaft.encoders", "load_encoder"),
    "Encoder": ("mineshaft.encoders", "Encoder"),
    "mine": ("mineshaft.mining.mine", "mine"),
    "mine_embeddings": ("mineshaft.mining.mine", "mine_embeddings"),
    "MineOptions": ("mineshaft.mining.mine", "MineOptions"),
    "mine_to_file": ("mineshaft.mining.output", "mine_to_file"),
    "write_pairs": ("mineshaft.mining.output", "write_pairs"),
    "work_directory": ("mineshaft.mining.output", "work_directory"),
    "filter_pairs": ("mineshaft.mining.output", "filter_pairs"),
    "PairFilter": ("mineshaft.mining.filters", "PairFilter"),
    "EncoderSpec": ("mineshaft.encoders", "EncoderSpec"),
    "Corpus": ("mineshaft.mining.corpus", "Corpus"),
    "EmbeddingStore": ("mineshaft.store", "EmbeddingStore"),
    "encode_to_store": ("mineshaft.encode", "encode_to_store"),
    "score_pairs": ("mineshaft.mining.score", "score_pairs"),
    "pair_scores": ("mineshaft.mining.score", "pair_scores"),
    "read_pairs": ("mineshaft.mining.score", "read_pairs"),
    "ScoreOptions": ("mineshaft.mining.score", "ScoreOptions"),
    "score_to_file": ("mineshaft.mining.score", "score_to_file"),
    "write_scored": ("mineshaft.mining.score", "write_scored"),
    "evaluate_sets": ("mineshaft.evaluate", "evaluate_sets"),
    "run_eval": ("mineshaft.evaluate", "run_eval"),
    "encode_file": ("mineshaft.encode", "encode_file"),
    "encode_to_path": ("mineshaft.encode", "encode_to_path"),
    "embed": ("mineshaft.embed", "embed"),
    "retrieval_accuracy": ("mineshaft.metrics", "retrieval_accuracy"),
    "knn": ("mineshaft.mining.search", "knn"),
    "margin": ("mineshaft.mining.margin", "margin"),
    "select_pairs": ("mineshaft.mining.margin", "select_pairs"),
    "pair_texts": ("mineshaft.mining.output", "pair_texts"),
    "format_pairs": ("mineshaft.mining.output", "format_pairs"),
    "train": ("mineshaft.training.trainer", "train"),
    "TrainConfig": ("mineshaft.training.config", "TrainConfig"),
    "build_loss": ("mineshaft.training.losses", "build_loss"),
    "SoftContrastiveLoss": ("mineshaft.training.losses", "SoftContrastiveLoss"),
    "HardContrastiveLoss": ("mineshaft.training.losses", "HardContrastiveLoss"),
    "MSEDistillationLoss": ("mineshaft.training.losses", "MSEDistillationLoss"),
    "MineshaftError": ("mineshaft.errors", "MineshaftError"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mineshaft' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """A submodule named like its main function (``embed``): calling it calls that function."""

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    """``mineshaft``: importing ``mineshaft.embed`` sets the package attribute ``embed`` to the module, hiding
    the lazy function of that name; such a module is made callable, so ``mineshaft.embed(...)`` always works."""

    def __setattr__(self, name: str, value) -> None:
        if _LAZY.get(name) == (f"{__name__}.{name}", name) and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
