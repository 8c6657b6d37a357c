"""Where shard jobs run: in this process (``local``) or on a Ray cluster (``ray``).

Every engine runs the same jobs over the same shards (:func:`~mineshaft.embed.embed_shard` for an
:class:`EncodeJob`, :meth:`~mineshaft.mining.search.Searcher.search` for a block of queries) and hands the
results back to the caller, which writes them; so the files and the final output do not depend on
the engine. Engines are context managers: ``with get_engine("ray") as engine: ...`` closes them.
"""

from __future__ import annotations

from ..errors import UsageError
from .base import ENGINES, EncodeJob, Engine
from .local import LocalEngine
from .ray import RayEngine


def get_engine(name: str = "local", **options) -> Engine:
    """The engine called ``name`` (``options`` go to the Ray engine); use it as a context manager."""
    if name == "local":
        return LocalEngine()
    if name == "ray":
        return RayEngine(**options)
    raise UsageError(f"unknown --engine {name!r} (use one of {', '.join(ENGINES)})")


__all__ = ["get_engine", "ENGINES", "Engine", "EncodeJob", "LocalEngine", "RayEngine"]
