"""Sharded, resumable embedding storage on disk.

A store is a directory::

    manifest.json          what the shards hold (encoder, its digests, dtype, shard size)
    shard-000000.npy       rows of shard 0 (fp16 or fp32, memory-mapped on read)
    shard-000000.done      completion marker: JSON with row count, a hash of the shard's input and the
                           digest of the encoder that made it

A shard counts as finished only when its marker exists; the marker is written
(atomically) after the rows, so a killed job never leaves a shard that looks
complete but is not. Re-running the same job skips finished shards whose file still
holds the marker's rows. One run writes a store at a time (an advisory lock on the
directory), and reading checks that every shard was made by the manifest's encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import progress
from .errors import InputError
from .outputs import write_atomic_bytes, write_atomic_npy

try:
    import fcntl
except ImportError:  # Windows: stores are written unguarded
    fcntl = None


def say_kept(path: str | os.PathLike) -> None:
    """After an interrupt: that the finished shards under ``path`` are kept, where there are any."""
    if any(Path(path).rglob("shard-*.done")):
        progress.info(f"interrupted: finished shards are kept in {path}; run the same command again to resume")


def lock_folder(path: Path, busy: str) -> int | None:
    """Hold folder ``path`` for this run: an advisory lock on it (None where the system has none), released by
    :func:`unlock` or when the process ends, killed or not; another run holding it is an :class:`InputError`
    saying ``busy``."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened for reading: unguarded
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(busy) from None
    except OSError:  # a file system without locks (some network mounts): unguarded
        os.close(fd)
        return None
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


class EmbeddingStore:
    """A directory of embedding shards with completion markers."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock: int | None = None

    # -- manifest and index ---------------------------------------------------------------------
    def open(self, meta: dict) -> EmbeddingStore:
        """Create the store, or reopen it if its manifest matches ``meta`` (else start afresh), for this run alone
        (until :meth:`release`): another run writing it is an error."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock()
        manifest = self.path / "manifest.json"
        if manifest.exists():
            if self.read_manifest() == meta:
                return self
            self.clear()
        write_atomic_bytes(manifest, json.dumps(meta, indent=1, sort_keys=True).encode())
        return self

    def lock(self) -> None:
        """Hold the store for writing: an advisory lock on its directory, released by :meth:`release` or when the
        process ends (also when it is killed). Two runs into one store made a store of two encoders."""
        if self._lock is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = lock_folder(self.path, f"{self.path}: another mineshaft run is writing this store; wait for it "
                                            "to end, or write to another folder")

    def release(self) -> None:
        """Let other runs write the store again."""
        unlock(self._lock)
        self._lock = None

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self.release()

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
        for p in self.path.glob("shard-*"):  # shards of a longer input written here before: not part of it now
            number = p.name[len("shard-"):].partition(".")[0]
            if number.isdigit() and int(number) >= len(shard_rows):
                p.unlink(missing_ok=True)

    def clear(self) -> None:
        for p in [*self.path.glob("shard-*"), self.path / "index.json"]:
            p.unlink(missing_ok=True)

    # -- shards -----------------------------------------------------------------------------------
    def shard_path(self, i: int) -> Path:
        return self.path / f"shard-{i:06d}.npy"

    def marker_path(self, i: int) -> Path:
        return self.path / f"shard-{i:06d}.done"

    def is_done(self, i: int, fingerprint: str | None = None, encoder: str | None = None) -> bool:
        """Shard ``i`` finished (and, if given, was made from input with this fingerprint by this encoder digest,
        and its file still holds the marker's rows: a shard cut short or overwritten is not done)."""
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
                and (encoder is None or done.get("encoder") == encoder)
                and self._readable(i, done.get("rows")))

    def _readable(self, i: int, rows) -> bool:
        try:
            return self.shard(i).shape[0] == rows
        except (OSError, ValueError):
            return False

    def write_shard(self, i: int, rows: np.ndarray, fingerprint: str = "", encoder: str | None = None) -> None:
        write_atomic_npy(self.shard_path(i), rows)
        marker = {"rows": int(rows.shape[0]), "fingerprint": fingerprint}
        if encoder is not None:
            marker["encoder"] = encoder
        write_atomic_bytes(self.marker_path(i), json.dumps(marker).encode())

    def shard(self, i: int) -> np.ndarray:
        return np.load(self.shard_path(i), mmap_mode="r")

    def shards(self) -> Iterator[np.ndarray]:
        """The shards in order, memory-mapped; each checked against its marker and the manifest's encoder."""
        encoder = (self.read_manifest() or {}).get("digest")
        for i, rows in enumerate(self.index.get("shard_rows") or [None] * self.index["n_shards"]):
            if not self.is_done(i):
                raise InputError(f"{self.path}: shard {i} is missing or unfinished")
            marker = self._read_json(self.marker_path(i).name) or {}
            if encoder is not None and marker.get("encoder") not in (None, encoder):
                raise InputError(f"{self.path}: shard {i} was made by another encoder than the store's manifest "
                                 "names (two runs wrote into it at once?); encode it again")
            try:
                shard = self.shard(i)
            except (OSError, ValueError):
                raise InputError(f"{self.shard_path(i)}: cannot read this shard (cut short, or not a .npy matrix); "
                                 "encode the store again") from None
            if rows is not None and (shard.ndim != 2 or shard.shape[0] != rows):
                raise InputError(f"{self.shard_path(i)}: holds {shard.shape[0]} rows where the store's index says "
                                 f"{rows}; encode the store again")
            yield shard

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
