"""What every engine is: the job it runs (:class:`EncodeJob`) and the interface the pipelines call (:class:`Engine`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ..encoders import Encoder, EncoderSpec
    from ..mining.search import Searcher

ENGINES = ("local", "ray")


@dataclass
class EncodeJob:
    """One shard to encode: its number, its texts, and their fingerprint (see :func:`mineshaft.encode.fingerprint`)."""

    shard: int
    texts: list[str]
    fingerprint: str


class Engine(Protocol):
    """What the pipelines need from an engine (results may come back in any shard order)."""

    name: str

    def encode(self, spec: EncoderSpec, jobs: Iterable[EncodeJob], encoder: Encoder | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """``(shard, rows)`` for each job; ``encoder``, if given, is used instead of loading ``spec``."""
        ...

    def search(self, searcher: Searcher, jobs: Iterable[tuple[int, np.ndarray]], k: int
               ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        """``(shard, (sims, ids))`` for each ``(shard, query_block)``."""
        ...

    def close(self) -> None:
        """Release workers and loaded models."""
        ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...


__all__ = ["ENGINES", "Engine", "EncodeJob"]
