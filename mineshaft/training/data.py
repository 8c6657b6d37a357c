"""Translation pairs for training: reading the pair files, the dev split held out by sentence, its digest.

:func:`read_pair_files` reads ``english<TAB>other`` files and holds out a seeded dev slice of each (by English
sentence, :func:`sentence_split`: no dev sentence occurs in training); ``--extra-pairs`` files join the training
side only. :func:`dev_digest` names a dev split (``extend-vocab`` records it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..io import iter_tsv


@dataclass
class PairSet:
    """Translation pairs: ``a`` is the teacher's (priority) side, ``b`` the other; ``lang`` indexes ``langs``."""

    a: list[str]
    b: list[str]
    lang: np.ndarray
    langs: list[str]
    #: True for the rows that came from --extra-pairs files (training only); empty: none
    extra: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.a)


def _read_rows(path: str) -> tuple[list[str], list[str]]:
    a, b = [], []
    for row in iter_tsv(path, min_columns=2):
        x, y = row[0].strip(), row[1].strip()
        if x and y:
            a.append(x)
            b.append(y)
    return a, b


def read_pair_files(paths: list[str], dev_size: int, max_pairs: int | None, seed: int,
                    split: str = "sentence", extra: list[str] = ()) -> tuple[PairSet, PairSet]:
    """Train and dev pairs; each file's pairs in a seeded order (the training order before sampling).

    ``split="sentence"``: about ``dev_size`` English sentences per file are held out, and with them every row,
    in any file, that shares an English or an other-side sentence with a held-out row (casefolded; see
    :func:`sentence_split`), so that no dev sentence occurs in training. Dev keeps one pair per English and per
    other sentence (retrieval needs distinct candidates). ``split="row"``: the first ``dev_size`` rows of each
    shuffled file (the old split: an English sentence with several translations lands on both sides).

    ``extra``: training-only files, each joined to the ``paths`` file of the same name (its language): they never
    change the dev split, and their rows sharing a casefolded sentence with any dev row are dropped."""
    rows = [_read_rows(p) for p in paths]
    orders = [np.random.default_rng([seed, li]).permutation(len(a)) for li, (a, _) in enumerate(rows)]
    if split == "row" or dev_size == 0:
        for path, (a, _) in zip(paths, rows):
            if len(a) <= dev_size + 1:
                raise InputError(f"{path}: {len(a)} usable pairs, need more than --dev-size {dev_size}")
        dev_idx = [o[:dev_size] for o in orders]
        train_idx = [o[dev_size:] for o in orders]
    elif split == "sentence":
        for path, (a, _) in zip(paths, rows):
            n = len({x.casefold() for x in a})
            if n <= dev_size + 1:
                raise InputError(f"{path}: {n} distinct English sentences, need more than --dev-size {dev_size}")
        held = sentence_split([(a, b) for a, b in rows], dev_size, seed)
        dev_idx, train_idx = [], []
        for (a, b), o, h in zip(rows, orders, held):
            out = h[o]
            train_idx.append(o[~out])
            seen_a, seen_b, keep = set(), set(), []
            held_rows = np.flatnonzero(h)
            for i in held_rows[np.argsort(_row_keys([a[j] for j in held_rows], [b[j] for j in held_rows], seed),
                                          kind="stable")]:
                ka, kb = a[i].casefold(), b[i].casefold()
                if ka not in seen_a and kb not in seen_b:
                    seen_a.add(ka)
                    seen_b.add(kb)
                    keep.append(i)
            dev_idx.append(np.array(keep, np.int64))
    else:
        raise UsageError(f"--dev-split must be sentence or row, got {split!r}")
    train, dev = PairSet([], [], np.zeros(0, np.int64), []), PairSet([], [], np.zeros(0, np.int64), [])
    tr_lang, dv_lang = [], []
    for li, (path, (a, b)) in enumerate(zip(paths, rows)):
        tr, dv = train_idx[li], dev_idx[li]
        if max_pairs:
            tr = tr[:max_pairs]
        for idx, ps, ll in ((tr, train, tr_lang), (dv, dev, dv_lang)):
            ps.a += [a[i] for i in idx]
            ps.b += [b[i] for i in idx]
            ll += [li] * len(idx)
        name = Path(path).name.split(".")[0]
        train.langs.append(name)
        dev.langs.append(name)
    n_own = len(train.a)
    _join_extra(train, tr_lang, dev, [Path(p).name for p in paths], extra)
    train.lang, dev.lang = np.array(tr_lang, np.int64), np.array(dv_lang, np.int64)
    train.extra = np.arange(len(train.a)) >= n_own
    dev.extra = np.zeros(len(dev.a), bool)
    return train, dev


def dev_digest(dev: PairSet) -> str:
    """A digest of the held-out pairs (casefolded, order-free): equal for the same dev split whatever the order
    of the files; ``extend-vocab`` records it so that ``train`` can tell its lexicon never read these pairs."""
    h = hashlib.blake2b(digest_size=16)
    for line in sorted(f"{x.casefold()}\t{y.casefold()}" for x, y in zip(dev.a, dev.b)):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def check_extra_names(files: Sequence[str | Path], extra: Sequence[str | Path]) -> None:
    """Each training-only ``extra`` file must share its name (``en-XX.tsv``: its language) with one of ``files``."""
    names = {Path(f).name for f in files}
    for path in extra:
        if Path(path).name not in names:
            raise InputError(f"--extra-pairs {path}: no --pairs file named {Path(path).name} (the language it adds to)")


def _join_extra(train: PairSet, tr_lang: list[int], dev: PairSet, names: list[str], extra: list[str]) -> None:
    """Append the rows of the training-only ``extra`` files to ``train`` under the language of the pair file of
    the same name, without any row that shares a (casefolded) sentence with ``dev``."""
    check_extra_names(names, extra)
    held = {x.casefold() for x in dev.a} | {x.casefold() for x in dev.b}
    for path in extra:
        name = Path(path).name
        kept = [(x, y) for x, y in zip(*_read_rows(path)) if x.casefold() not in held and y.casefold() not in held]
        if not kept:
            raise InputError(f"--extra-pairs {path}: no usable pairs")
        train.a += [x for x, _ in kept]
        train.b += [y for _, y in kept]
        tr_lang += [names.index(name)] * len(kept)


def _row_keys(a: list[str], b: list[str], seed: int) -> np.ndarray:
    """A seeded 64-bit key per row from its casefolded content: the order groups are held out in, the same
    whatever the order of the files or of their rows."""
    salt = f"{seed}\x00".encode()
    return np.array([int.from_bytes(hashlib.blake2b(salt + x.casefold().encode() + b"\t" + y.casefold().encode(),
                                                    digest_size=8).digest(), "little") for x, y in zip(a, b)],
                    dtype=np.uint64)


def sentence_split(files: list[tuple[list[str], list[str]]], dev_size: int, seed: int) -> list[np.ndarray]:
    """Which rows of each file are held out (boolean masks), by sentence across all files.

    Rows are linked when they share their English or their other side (casefolded, in any file); a linked group
    is held out whole or not at all. Groups are taken in the order of a seeded hash of their content (the smallest
    key of their rows, :func:`_row_keys`) as long as no file they touch would hold more than ``dev_size`` English
    sentences, so a dev sentence never occurs in training anywhere and the split does not depend on the order of
    the files or of their rows."""
    offsets = np.cumsum([0] + [len(a) for a, _ in files])
    n_rows = int(offsets[-1])
    parent = list(range(n_rows))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple[str, str], int] = {}
    for li, (a, b) in enumerate(files):
        for i in range(len(a)):
            r = int(offsets[li] + i)
            for key in (("a", a[i].casefold()), ("b", b[i].casefold())):
                j = first.setdefault(key, r)
                if j != r:
                    rj, rr = find(j), find(r)
                    if rj != rr:
                        parent[max(rj, rr)] = min(rj, rr)
    root = np.array([find(r) for r in range(n_rows)], np.int64)
    file_of = np.repeat(np.arange(len(files)), np.diff(offsets))
    english = [x.casefold() for a, _ in files for x in a]
    keys = np.concatenate([_row_keys(a, b, seed) for a, b in files]) if n_rows else np.zeros(0, np.uint64)
    group_key = np.full(n_rows, np.iinfo(np.uint64).max, np.uint64)
    np.minimum.at(group_key, root, keys)
    by_group = np.lexsort((np.arange(n_rows), group_key[root]))
    bounds = np.flatnonzero(np.diff(group_key[root][by_group])) + 1
    count = np.zeros(len(files), np.int64)
    held = np.zeros(n_rows, bool)
    for group in np.split(by_group, bounds):
        if (count >= dev_size).all():
            break
        need: dict[int, set[str]] = {}
        for r in group:
            need.setdefault(int(file_of[r]), set()).add(english[r])
        if all(count[f] + len(s) <= dev_size for f, s in need.items()):
            held[group] = True
            for f, s in need.items():
                count[f] += len(s)
    return [held[offsets[i]:offsets[i + 1]] for i in range(len(files))]


def sentence_ids(data: PairSet) -> tuple[np.ndarray, np.ndarray]:
    """An integer id per pair for its English and for its other sentence (equal casefolded text, equal id)."""
    return tuple(np.unique(np.array([x.casefold() for x in side], dtype=object), return_inverse=True)[1]
                 for side in (data.a, data.b))
