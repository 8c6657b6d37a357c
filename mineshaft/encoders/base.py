"""The one interface every sentence encoder in mineshaft implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ..progress import warn


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
        """Embed one batch (already sorted by length); rows need not be normalized.

        An encoder that can tokenize ahead (:meth:`_prepare`) also accepts ``prepared=`` its result.
        """

    def _prepare(self, texts: Sequence[str]):
        """CPU-side work for one batch (tokenization) that may run in a worker thread while the
        previous batch is on the accelerator; None: this encoder does not tokenize ahead."""
        return None

    @property
    def tokenize_ahead(self) -> bool:
        """Whether :meth:`encode` tokenizes the next batch in a thread while this one runs (on a GPU)."""
        return False

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
        if isinstance(texts, str):
            raise TypeError("encode takes a list of sentences, not one string: encode([text])")
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"encode takes sentences as str; item {bad} is {type(texts[bad]).__name__}")
        n = len(texts)
        out = np.empty((n, self.dim), dtype=dtype)
        if n == 0:
            return out
        before = self.truncated
        order = np.argsort(-self.token_lengths(texts), kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, n, batch_size)]
        for idx, emb in zip(batches, self._batches([[texts[i] for i in idx] for idx in batches])):
            out[idx] = normalize(np.asarray(emb, dtype=np.float32))
            if progress is not None:
                progress(len(idx))
        if self.truncated > before:
            warn(f"{self.truncated - before} of {n} inputs were longer than {self.max_length} tokens and were truncated")
        return out

    def _batches(self, batches: list[list[str]]):
        """Each batch's embeddings, in order; with :attr:`tokenize_ahead`, batch i+1 is tokenized in a
        worker thread while batch i runs (the GPU otherwise waits for the tokenizer between batches)."""
        if not self.tokenize_ahead or len(batches) < 2:
            for texts in batches:
                yield self._encode_batch(texts)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(self._prepare, batches[0])
            for j, texts in enumerate(batches):
                prepared = ahead.result()
                if j + 1 < len(batches):
                    ahead = pool.submit(self._prepare, batches[j + 1])
                yield self._encode_batch(texts, prepared=prepared)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms
