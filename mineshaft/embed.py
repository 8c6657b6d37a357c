"""Texts to vectors: the one step every command shares (encode, mine, score, eval, the engines' jobs).

:func:`embed` applies optional Moses punctuation normalization (``punct_lang``), gives empty lines
zero rows when asked (so row i stays line i and an empty line is never paired), batches by length
(:meth:`~mineshaft.encoders.Encoder.encode`) and shows a progress bar. :func:`embed_shard` is the same
step as an :class:`~mineshaft.encoders.EncoderSpec` describes it, without a bar (engines may run it
in another process).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import progress
from .io import is_blank

if TYPE_CHECKING:
    from .encoders import Encoder, EncoderSpec


@functools.lru_cache(maxsize=None)
def punct_normalizer(lang: str | None) -> Callable[[str], str] | None:
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
    label: str | None = "encoding",
    dtype: np.dtype | str = np.float32,
    zero_empty: bool = False,
) -> np.ndarray:
    """Embed ``texts`` into an ``(n, dim)`` array of unit vectors, with a progress bar named ``label``
    on stderr (None: no bar).

    ``zero_empty``: empty (whitespace-only) texts are not encoded and get zero rows (encode, mine and score
    do this; eval encodes every text as it is).
    """
    keep = [i for i, t in enumerate(texts) if not is_blank(t)] if zero_empty else None
    todo = texts if keep is None else [texts[i] for i in keep]
    norm = punct_normalizer(punct_lang)
    if norm is not None:
        todo = [norm(t) for t in todo]
    bar = progress.task(label, total=len(texts)) if label is not None else contextlib.nullcontext(_ignore)
    with bar as advance:
        advance(len(texts) - len(todo))
        rows = encoder.encode(todo, batch_size=batch_size, dtype=dtype, progress=advance)
    if keep is None:
        return rows
    out = np.zeros((len(texts), encoder.dim), dtype=dtype)
    out[keep] = rows
    return out


def _ignore(n: int) -> None:
    """A progress callback that reports nowhere."""


def embed_shard(encoder: Encoder, texts: Sequence[str], spec: EncoderSpec) -> np.ndarray:
    """Embed one shard of lines as ``spec`` says (batch size, punctuation, dtype); empty lines are
    zero rows; no progress bar."""
    return embed(encoder, texts, spec.batch_size, spec.punct_lang, label=None, dtype=spec.dtype, zero_empty=True)
