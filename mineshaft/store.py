"""Sharded, resumable embedding storage on disk.

A store is a directory::

    manifest.json          what the shards hold (encoder, its digests, dtype, shard size)
    shard-000000.npy       rows of shard 0 (fp16 or fp32, memory-mapped on read)
    shard-000000.done      completion marker: JSON with row count, a hash of the shard's input and the
                           digest of the encoder that made it

A shard counts as finished only when its marker exists; the marker is written
(atomically) after the rows, so a killed job never leaves a shard that looks
complete but is not. Re-running the same job skips finished shards.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import InputError
from .outputs import write_atomic_bytes, write_atomic_npy


class EmbeddingStore:
    """A directory of embedding shards with completion markers."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- manifest and index ---------------------------------------------------------------------
    def open(self, meta: dict) -> EmbeddingStore:
        """Create the store, or reopen it if its manifest matches ``meta`` (else start afresh)."""
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / "manifest.json"
        if manifest.exists():
            if self.read_manifest() == meta:
                return self
            self.clear()
        write_atomic_bytes(manifest, json.dumps(meta, indent=1, sort_keys=True).encode())
        return self

    def read_manifest(self) -> dict | None:
        """The manifest, or None when there is none (or it is unreadable)."""
        return self._read_json("manifest.json")

    @property
    def meta(self) -> dict:
        """The manifest (an error when there is none)."""
        return self._require_json("manifest.json", f"{self.path}: not an embedding store (no readable manifest.json)")

    @property
    def index(self) -> dict:
        """Written when every shard is done: shard count, rows, dim, rows per shard and first rows."""
        return self._require_json("index.json",
                                  f"{self.path}: embedding store is incomplete (no index.json); re-run the job to finish it")

    def _read_json(self, name: str) -> dict | None:
        """The JSON object in file ``name``, or None when it is missing or unreadable."""
        try:
            data = json.loads((self.path / name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _require_json(self, name: str, missing: str) -> dict:
        data = self._read_json(name)
        if data is None:
            raise InputError(missing)
        return data

    def write_index(self, shard_rows: list[int]) -> None:
        """Mark the store complete: ``index.json`` for shards ``0..len(shard_rows)-1`` of these row counts."""
        index = {"n_shards": len(shard_rows), "rows": int(sum(shard_rows)), "dim": int(self.shard(0).shape[1]),
                 "shard_rows": shard_rows, "first_row": np.cumsum([0] + shard_rows[:-1]).tolist()}
        write_atomic_bytes(self.path / "index.json", json.dumps(index).encode())

    def clear(self) -> None:
        for p in [*self.path.glob("shard-*"), self.path / "index.json"]:
            p.unlink(missing_ok=True)

    # -- shards -----------------------------------------------------------------------------------
    def shard_path(self, i: int) -> Path:
        return self.path / f"shard-{i:06d}.npy"

    def marker_path(self, i: int) -> Path:
        return self.path / f"shard-{i:06d}.done"

    def is_done(self, i: int, fingerprint: str | None = None, encoder: str | None = None) -> bool:
        """Shard ``i`` finished (and, if given, was made from input with this fingerprint by this encoder digest)."""
        marker = self.marker_path(i)
        if not marker.exists() or not self.shard_path(i).exists():
            return False
        if fingerprint is None and encoder is None:
            return True
        try:
            done = json.loads(marker.read_text())
        except ValueError:
            return False
        return ((fingerprint is None or done.get("fingerprint") == fingerprint)
                and (encoder is None or done.get("encoder") == encoder))

    def write_shard(self, i: int, rows: np.ndarray, fingerprint: str = "", encoder: str | None = None) -> None:
        write_atomic_npy(self.shard_path(i), rows)
        marker = {"rows": int(rows.shape[0]), "fingerprint": fingerprint}
        if encoder is not None:
            marker["encoder"] = encoder
        write_atomic_bytes(self.marker_path(i), json.dumps(marker).encode())

    def shard(self, i: int) -> np.ndarray:
        return np.load(self.shard_path(i), mmap_mode="r")

    def shards(self) -> Iterator[np.ndarray]:
        """The shards in order, memory-mapped."""
        for i in range(self.index["n_shards"]):
            if not self.is_done(i):
                raise InputError(f"{self.path}: shard {i} is missing or unfinished")
            yield self.shard(i)

    def digest(self) -> str:
        """Identifies the store's content (the fingerprints of all its shards)."""
        parts = [self.marker_path(i).read_text() for i in range(self.index["n_shards"])]
        return hashlib.blake2b("".join(parts).encode(), digest_size=16).hexdigest()

    def load(self, dtype=np.float32) -> np.ndarray:
        """All rows in one array (only for stores that fit in memory)."""
        return np.concatenate([np.asarray(s, dtype=dtype) for s in self.shards()])

    @staticmethod
    def is_store(path: str | os.PathLike) -> bool:
        return (Path(path) / "manifest.json").is_file()
