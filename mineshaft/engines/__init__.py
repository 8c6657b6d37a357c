"""Where shard tasks run: in this process (``local``) or on a Ray cluster (``ray``).

Both engines run the same task functions from :mod:`mineshaft.tasks` over the
same shards and hand results back to the caller, which writes them; so the
files and the final output do not depend on the engine.
"""

from __future__ import annotations

from ..errors import UsageError
from .local import LocalEngine

ENGINES = ("local", "ray")


def get_engine(name: str = "local", **options):
    if name == "local":
        return LocalEngine()
    if name == "ray":
        from .ray import RayEngine

        return RayEngine(**options)
    raise UsageError(f"unknown --engine {name!r} (use one of {', '.join(ENGINES)})")


__all__ = ["get_engine", "ENGINES", "LocalEngine"]
