"""What is needed to load the same encoder again, in this process or another one."""

from __future__ import annotations

from dataclasses import dataclass

from ..progress import info
from .base import Encoder
from .loading import load_encoder
from .names import check_name, resolve_default

#: precisions in which vectors are stored
DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder by name plus how to load and run it; hashable, picklable, cheap to send to workers.

    ``name`` is resolved at once (``default`` becomes the concrete shipped model, so fingerprints
    name it) and checked (a path to nothing or an unknown hub id fails before any input is read).
    ``batch_size``, ``punct_lang`` and ``dtype`` say how texts become vectors (see :mod:`mineshaft.embed`).
    """

    name: str
    device: str = "auto"
    max_length: int | None = None
    threads: int | None = None
    batch_size: int = 64
    punct_lang: str | None = None
    dtype: str = "float16"
    precision: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", resolve_default(self.name))
        check_name(self.name)

    def load(self) -> Encoder:
        """The loaded encoder (logs its name and dimension)."""
        encoder = load_encoder(self.name, device=self.device, max_length=self.max_length, threads=self.threads,
                               precision=self.precision)
        info(f"encoder: {encoder.name} (dim {encoder.dim})")
        return encoder
