"""Texts to embeddings with optional Moses punctuation normalization: the step every command shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import progress
from .encoders import Encoder


def punct_normalizer(lang: str | None):
    """A ``str -> str`` Moses punctuation normalizer for ``lang``, or None for no normalization."""
    if not lang:
        return None
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang).normalize


def embed(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    punct_lang: str | None = None,
    label: str = "encoding",
    dtype: np.dtype | str = np.float32,
) -> np.ndarray:
    """Embed ``texts`` with a progress bar on stderr; rows are unit vectors."""
    norm = punct_normalizer(punct_lang)
    if norm is not None:
        texts = [norm(t) for t in texts]
    with progress.task(label, total=len(texts)) as advance:
        return encoder.encode(texts, batch_size=batch_size, dtype=dtype, progress=advance)
