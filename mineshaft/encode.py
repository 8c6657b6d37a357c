"""Encoding pipelines: a text stream of any length to a ``.npy`` matrix or to a sharded, resumable store."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from . import progress
from .encoders import Encoder
from .engines import LocalEngine
from .errors import InputError
from .io import NpyStreamWriter, atomic_output, iter_lines, remove_sidecar, write_sidecar
from .store import EmbeddingStore, write_atomic_bytes
from .tasks import EncodeJob, EncoderSpec, encode_job


def fingerprint(texts: list[str]) -> str:
    """A digest of a shard's input, so a resumed job notices changed input."""
    h = hashlib.blake2b(digest_size=16)
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def encode_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    encoder: Encoder,
    spec: EncoderSpec | None = None,
    chunk_size: int = 16384,
    errors: str = "strict",
    force: bool = False,
) -> int:
    """Encode every line of ``path`` into one ``.npy`` file ``out``; returns the number of rows.

    Only ``chunk_size`` lines are held at a time. Empty lines are not encoded:
    their rows are zero vectors, so row i is always line i. Beside a file
    ``X.npy`` goes ``X.npy.mineshaft.json``: which encoder (and its digest) made it.
    """
    from .encoders.digest import encoder_record

    spec = spec or EncoderSpec(encoder.name, dtype="float32")
    record = encoder_record(spec)
    rows = 0
    with atomic_output(out, mode="wb", force=force) as fh, progress.task("encoding", total=None) as advance:
        writer = NpyStreamWriter(fh, encoder.dim, dtype=spec.dtype)
        for i, chunk in enumerate(_chunks(iter_lines(path, errors=errors), chunk_size)):
            writer.write(encode_job(encoder, EncodeJob(i, chunk, ""), spec))
            rows += len(chunk)
            advance(len(chunk))
        if rows == 0:
            raise InputError(f"{'<stdin>' if str(path) == '-' else path}: empty input")
        writer.close()
        if str(out) != "-":
            remove_sidecar(out)  # the old record must never describe the new rows, even if killed right here
    if str(out) != "-":
        write_sidecar(out, {**record, "normalized": True})
    progress.info(f"{rows} rows of dimension {encoder.dim} ({spec.dtype}) written to {out}")
    return rows


def encode_to_store(
    texts: Iterable[str],
    store_dir: str | os.PathLike,
    spec: EncoderSpec,
    n_rows: int | None = None,
    shard_size: int = 100_000,
    engine=None,
    encoder: Encoder | None = None,
    label: str = "encoding",
) -> EmbeddingStore:
    """Encode ``texts`` into shards of ``shard_size`` rows under ``store_dir``, skipping finished shards.

    A shard is skipped when its completion marker matches the fingerprint of
    the same texts and the digest of the same encoder (model files, precision,
    max length, normalization, dtype), so an interrupted job resumes where it
    stopped and a changed input or encoder is re-encoded. Works with any engine (local, ray).
    """
    from .encoders.digest import encoder_record

    engine = engine or LocalEngine()
    record = encoder_record(spec)
    meta = {**record, "shard_size": shard_size, "format": 2}
    store = EmbeddingStore(store_dir)
    old = store.read_manifest()
    if old is not None and old != meta and store.finished_shards():
        if old.get("digest") is None:
            progress.warn(f"{store_dir}: these shards carry no encoder digest (older mineshaft): re-encoding")
        elif old.get("digest") != meta["digest"]:
            progress.warn(f"{store_dir}: encoder changed since these shards were written: re-encoding")
    store.open(meta)
    digest = meta["digest"]
    fps: dict[int, str] = {}
    counts: list[int] = []
    skipped = 0

    with progress.task(label, total=n_rows) as advance:
        def jobs() -> Iterator[EncodeJob]:
            nonlocal skipped
            for i, chunk in enumerate(_chunks(texts, shard_size)):
                fp = fingerprint(chunk)
                fps[i] = fp
                counts.append(len(chunk))
                if store.is_done(i, fp, digest):
                    skipped += 1
                    advance(len(chunk))
                    continue
                yield EncodeJob(i, chunk, fp)

        for shard, rows in engine.encode(spec, jobs(), encoder=encoder):
            store.write_shard(shard, rows, fps[shard], digest)
            advance(rows.shape[0])
    if not counts:
        raise InputError("nothing to encode: empty input")
    dim = store.shard(0).shape[1]
    index = {"n_shards": len(counts), "rows": int(sum(counts)), "dim": int(dim),
             "shard_rows": counts, "first_row": np.cumsum([0] + counts[:-1]).tolist()}
    write_atomic_bytes(Path(store_dir) / "index.json", json.dumps(index).encode())
    if skipped:
        progress.info(f"{label}: resumed, {skipped} of {len(counts)} shards were already done")
    return store
