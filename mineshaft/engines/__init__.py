"""Where shard jobs run: in this process (``local``) or on a Ray cluster (``ray``).

Every engine runs the same jobs over the same shards (:func:`~mineshaft.embed.embed_shard` for an
:class:`EncodeJob`, :meth:`~mineshaft.mining.search.Searcher.search` for a block of queries) and hands the
results back to the caller, which writes them; so the files and the final output do not depend on
the engine. Engines are context managers: ``with get_engine("ray") as engine: ...`` closes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import UsageError
from .local import LocalEngine

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


def get_engine(name: str = "local", **options) -> Engine:
    """The engine called ``name`` (``options`` go to the Ray engine); use it as a context manager."""
    if name == "local":
        return LocalEngine()
    if name == "ray":
        from .ray import RayEngine

        return RayEngine(**options)
    raise UsageError(f"unknown --engine {name!r} (use one of {', '.join(ENGINES)})")


__all__ = ["get_engine", "ENGINES", "Engine", "EncodeJob", "LocalEngine"]
