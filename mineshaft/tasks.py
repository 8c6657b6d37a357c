"""The unit tasks that engines run: encode one shard of texts, search one block of queries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EncoderSpec:
    """What is needed to load the same encoder in another process."""

    name: str
    device: str = "auto"
    max_length: int | None = None
    threads: int | None = None
    batch_size: int = 64
    punct_lang: str | None = None
    dtype: str = "float16"
    precision: str = "auto"

    def __post_init__(self) -> None:
        from .encoders import check_name, resolve_default

        object.__setattr__(self, "name", resolve_default(self.name))  # fingerprints name the concrete model
        check_name(self.name)

    def load(self):
        from .encoders import load_encoder
        from .progress import info

        enc = load_encoder(self.name, device=self.device, max_length=self.max_length, threads=self.threads,
                           precision=self.precision)
        info(f"encoder: {enc.name} (dim {enc.dim})")
        return enc


@dataclass
class EncodeJob:
    shard: int
    texts: list[str]
    fingerprint: str


def encode_job(encoder, job: EncodeJob, spec: EncoderSpec) -> np.ndarray:
    from .embed import punct_normalizer

    """Embed one shard; empty texts are not encoded and get zero rows."""
    norm = punct_normalizer(spec.punct_lang)
    keep = [i for i, t in enumerate(job.texts) if t.strip()]
    out = np.zeros((len(job.texts), encoder.dim), dtype=spec.dtype)
    if keep:
        texts = [job.texts[i] for i in keep]
        if norm is not None:
            texts = [norm(t) for t in texts]
        out[keep] = encoder.encode(texts, batch_size=spec.batch_size, dtype=spec.dtype)
    return out


def search_job(searcher, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    return searcher.search(np.asarray(queries, dtype=np.float32), k)
