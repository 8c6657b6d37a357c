"""Run shard tasks one after another in this process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..tasks import EncodeJob, EncoderSpec, encode_job, search_job


class LocalEngine:
    name = "local"

    def __init__(self) -> None:
        self._encoders: dict[EncoderSpec, Any] = {}

    def encode(self, spec: EncoderSpec, jobs: Iterable[EncodeJob], encoder=None) -> Iterator[tuple[int, Any]]:
        """Yield ``(shard, rows)`` for each job; the encoder is loaded on the first job, once per engine."""
        for job in jobs:
            if encoder is None:
                encoder = self._encoders.get(spec) or self._encoders.setdefault(spec, spec.load())
            yield job.shard, encode_job(encoder, job, spec)

    def search(self, searcher, jobs: Iterable[tuple[int, Any]], k: int) -> Iterator[tuple[int, Any]]:
        """Yield ``(shard, (sims, ids))`` for each ``(shard, query_block)``."""
        for shard, queries in jobs:
            yield shard, search_job(searcher, queries, k)

    def close(self) -> None:
        pass

