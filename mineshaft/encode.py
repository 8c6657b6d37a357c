"""The ``encode`` pipeline: a text stream of any length to a .npy matrix, chunk by chunk."""

from __future__ import annotations

import itertools
import os

import numpy as np

from . import progress
from .embed import punct_normalizer
from .encoders import Encoder
from .errors import InputError
from .io import NpyStreamWriter, atomic_output, iter_lines


def encode_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    encoder: Encoder,
    dtype: str = "float32",
    batch_size: int = 64,
    chunk_size: int = 16384,
    punct_lang: str | None = None,
    errors: str = "strict",
    force: bool = False,
) -> int:
    """Encode every line of ``path`` into ``out`` (.npy); returns the number of rows.

    Only ``chunk_size`` lines are held at a time. Empty lines are not encoded:
    their rows are zero vectors, so row i is always line i.
    """
    norm = punct_normalizer(punct_lang)
    lines = iter_lines(path, errors=errors)
    rows = 0
    with atomic_output(out, mode="wb", force=force) as fh, progress.task("encoding", total=None) as advance:
        writer = NpyStreamWriter(fh, encoder.dim, dtype=dtype)
        while chunk := list(itertools.islice(lines, chunk_size)):
            block = np.zeros((len(chunk), encoder.dim), dtype=dtype)
            keep = [i for i, t in enumerate(chunk) if t.strip()]
            texts = [chunk[i] for i in keep]
            if norm is not None:
                texts = [norm(t) for t in texts]
            if texts:
                block[keep] = encoder.encode(texts, batch_size=batch_size, dtype=dtype)
            writer.write(block)
            rows += len(chunk)
            advance(len(chunk))
        if rows == 0:
            raise InputError(f"{'<stdin>' if str(path) == '-' else path}: empty input")
        writer.close()
    progress.info(f"{rows} rows of dimension {encoder.dim} ({dtype}) written")
    return rows
