"""Vectors of sentences cached by content, shared by every run that asks for them.

A cache directory (one per encoder digest) holds append-only parts: ``part-<id>.npy`` (float32 rows) and
``part-<id>.keys.npy`` (the sentences' 64-bit BLAKE2b keys, written last: a part without keys is ignored).
A run looks its sentences up, encodes only the missing ones and adds them as a new part, so runs over other
pair files, another ``--max-pairs`` or ``--dev-size`` share the sentences they have in common. Parts are
named by their content, so two runs filling one cache at once never write the same file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .outputs import atomic_file

KEYS_SUFFIX = ".keys.npy"


def sentence_keys(texts: Sequence[str]) -> np.ndarray:
    """A uint64 key per sentence (BLAKE2b of its UTF-8 bytes; ~3e-8 odds of any collision among 1M sentences)."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
                        for t in texts), dtype=np.uint64, count=len(texts))


class SentenceCache:
    """The parts of one cache directory: :meth:`get` reads rows by key, :meth:`add` writes a new part."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.parts: list[np.ndarray] = []
        keys, where = [], []
        for i, kpath in enumerate(sorted(self.directory.glob(f"part-*{KEYS_SUFFIX}"))):
            k = np.load(kpath)
            self.parts.append(np.load(str(kpath)[: -len(KEYS_SUFFIX)] + ".npy", mmap_mode="r"))
            keys.append(k)
            where.append(np.stack([np.full(len(k), i), np.arange(len(k))], axis=1))
        self.keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        self.where = np.concatenate(where) if where else np.zeros((0, 2), np.int64)
        order = np.argsort(self.keys, kind="stable")
        self.keys, self.where = self.keys[order], self.where[order]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Index into the cache's sorted keys of each key, −1 where it is not cached."""
        if not len(self.keys):
            return np.full(len(keys), -1)
        pos = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, pos, -1)

    def get(self, found: np.ndarray) -> np.ndarray:
        """Rows ``(len(found), dim)`` for indices from :meth:`find` (all ≥ 0)."""
        out = np.empty((len(found), self.parts[0].shape[1]), np.float32)
        part, row = self.where[found, 0], self.where[found, 1]
        for i in np.unique(part):
            m = part == i
            out[m] = self.parts[i][row[m]]
        return out

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Write ``vectors`` (one row per key) as a new part."""
        name = hashlib.blake2b(keys.tobytes(), digest_size=8).hexdigest()
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.directory / f"part-{name}.npy") as fh:
            np.save(fh, np.ascontiguousarray(vectors, np.float32), allow_pickle=False)
        with atomic_file(self.directory / f"part-{name}{KEYS_SUFFIX}") as fh:
            np.save(fh, keys, allow_pickle=False)


def cached_vectors(texts: Sequence[str], directory: Path, encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """float32 rows for ``texts`` (distinct sentences): read from the cache in ``directory``, the missing
    ones computed by ``encode(list_of_texts)`` and added to it."""
    keys = sentence_keys(texts)
    cache = SentenceCache(directory)
    found = cache.find(keys)
    missing, hit = np.flatnonzero(found < 0), np.flatnonzero(found >= 0)
    out = None
    if len(missing):
        new = np.asarray(encode([texts[i] for i in missing]), np.float32)
        cache.add(keys[missing], new)
        out = np.empty((len(texts), new.shape[1]), np.float32)
        out[missing] = new
    if len(hit):
        have = cache.get(found[hit])
        out = np.empty((len(texts), have.shape[1]), np.float32) if out is None else out
        out[hit] = have
    return out if out is not None else np.zeros((0, 0), np.float32)


__all__ = ["SentenceCache", "cached_vectors", "sentence_keys"]
