"""Run shard jobs one after another in this process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ..embed import embed_shard

if TYPE_CHECKING:
    import numpy as np

    from ..encoders import Encoder, EncoderSpec
    from ..mining.search import Searcher
    from .base import EncodeJob


class LocalEngine:
    """The default engine; it loads each spec's encoder once, on its first job, and keeps it until closed."""

    name = "local"

    def __init__(self) -> None:
        self._encoders: dict[EncoderSpec, Encoder] = {}

    def encode(self, spec: EncoderSpec, jobs: Iterable[EncodeJob], encoder: Encoder | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(shard, rows)`` for each job."""
        for job in jobs:
            if encoder is None:
                encoder = self._encoders.get(spec) or self._encoders.setdefault(spec, spec.load())
            yield job.shard, embed_shard(encoder, job.texts, spec)

    def search(self, searcher: Searcher, jobs: Iterable[tuple[int, np.ndarray]], k: int
               ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        """Yield ``(shard, (sims, ids))`` for each ``(shard, query_block)``."""
        for shard, queries in jobs:
            yield shard, searcher.search(queries, k)

    def close(self) -> None:
        """Drop the loaded encoders."""
        self._encoders.clear()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
