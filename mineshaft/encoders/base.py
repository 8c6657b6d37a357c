"""The one interface every sentence encoder in mineshaft implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Encoder(ABC):
    """Texts in, L2-normalized float32 vectors out.

    Subclasses implement :meth:`_encode_batch` for one batch of texts; sorting by
    length, batching, normalization and dtype handling live here, once.
    """

    #: short name shown in logs and model cards
    name: str = "encoder"
    #: embedding dimension
    dim: int
    #: longest input in tokens the model reads (longer inputs are truncated)
    max_length: int = 512
    #: how many inputs were truncated to ``max_length`` so far (subclasses count them)
    truncated: int = 0

    @abstractmethod
    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed one batch (already sorted by length); rows need not be normalized."""

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Cheap length proxy used to group similar lengths in one batch."""
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        dtype: np.dtype | str = np.float32,
        progress=None,
    ) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` array of unit vectors.

        Texts are processed longest first in batches of ``batch_size`` so each
        batch pads to similar lengths; the output keeps the input order.
        ``progress`` is an optional callable taking the number of texts done.
        """
        n = len(texts)
        out = np.empty((n, self.dim), dtype=dtype)
        if n == 0:
            return out
        before = self.truncated
        order = np.argsort(-self.token_lengths(texts), kind="stable")
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            emb = np.asarray(self._encode_batch([texts[i] for i in idx]), dtype=np.float32)
            out[idx] = normalize(emb)
            if progress is not None:
                progress(len(idx))
        if self.truncated > before:
            from ..progress import warn

            warn(f"{self.truncated - before} of {n} inputs were longer than {self.max_length} tokens and were truncated")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms
