"""Which training pairs go into each step's batch: a function of (seed, step) only, so a resumed run draws
exactly what the uninterrupted one did.

- :func:`batch_indices`: epochs of seeded permutations (uniform over pairs).
- :class:`BatchSampler`: languages drawn ∝ n_l^(1/T), mixed in one batch or one language a batch.
- :class:`NeighbourBatches`: groups of pairs of one language whose English sides are nearest neighbours under
  the teacher (:func:`neighbour_table`), so each batch holds hard negatives for one another.
- :func:`batch_sampler`: a run's batches, as its :class:`~mineshaft.training.config.TrainConfig` asks.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..outputs import write_atomic_npy
from ..progress import info
from .config import TrainConfig
from .data import PairSet, sentence_ids
from .extension import extended_model, new_language_files
from .teacher import teacher_cache_dir, teacher_embeddings


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> np.ndarray:
    """Pair indices of global step ``step``: a fresh seeded permutation every epoch, last partial batch dropped."""
    per_epoch = n // batch_size
    epoch, pos = divmod(step, per_epoch)
    order = np.random.default_rng([seed, 1_000_003, epoch]).permutation(n)
    return order[pos * batch_size : (pos + 1) * batch_size]


def language_probabilities(counts: np.ndarray, temperature: float, known: np.ndarray | None = None,
                           known_share: float | None = None) -> np.ndarray:
    """p_l ∝ n_l^(1/T): T=1 samples languages as often as their pairs, larger T flattens towards uniform.

    With ``known`` (a mask over languages) and ``known_share`` S, the known languages get S of the draws in all
    and the others 1 − S, each group shared ∝ n_l^(1/T) within itself."""
    w = np.where(np.asarray(counts) > 0, np.asarray(counts, np.float64) ** (1.0 / temperature), 0.0)
    if known_share is None:
        return w / w.sum()
    known = np.asarray(known, bool)
    if not w[known].sum() or not w[~known].sum():
        raise ValueError("known_share needs pairs in both groups, the known languages and the others")
    return np.where(known, known_share * w / w[known].sum(), (1.0 - known_share) * w / w[~known].sum())


class BatchSampler:
    """The pair indices of every step, a function of (seed, step) only, so a resumed run draws what the
    uninterrupted one did. ``temperature=1`` with mixed batches is :func:`batch_indices` (epochs of seeded
    permutations, uniform over pairs). Otherwise each step draws its languages with
    :func:`language_probabilities` (optionally a fixed share for the known languages; mixed: a language per pair,
    as a multinomial over the batch; single: one language for the whole batch) and, within a language, pairs
    without replacement.

    ``extra`` (a mask over pairs) with ``extra_share`` S: of a language's draws, S come from its extra rows and
    the rest from its own (binomially; all from one pool where the other is empty). ``distinct`` (two integer
    keys per pair, e.g. ids of its two sentences): no key occurs twice in a batch; a pair repeating one is
    replaced by another of its language (where the language has enough), so that a loss with the identity as its
    labels never holds one sentence twice."""

    def __init__(self, lang: np.ndarray, n_langs: int, batch_size: int, seed: int, temperature: float = 1.0,
                 mode: str = "mixed", known: np.ndarray | None = None, known_share: float | None = None,
                 extra: np.ndarray | None = None, extra_share: float | None = None,
                 distinct: tuple[np.ndarray, np.ndarray] | None = None):
        self.n, self.batch_size, self.seed, self.mode = len(lang), batch_size, seed, mode
        self.lang = np.asarray(lang)
        self.pools = [np.flatnonzero(self.lang == li) for li in range(n_langs)]
        counts = np.array([len(p) if len(p) >= 2 else 0 for p in self.pools])
        self.p = language_probabilities(counts, temperature, known, known_share)
        self.split = None
        if extra is not None and extra_share is not None and np.asarray(extra).any():
            extra = np.asarray(extra, bool)
            self.split = [(p[~extra[p]], p[extra[p]]) for p in self.pools]
            self.extra_share = float(extra_share)
        self.distinct = distinct
        self.uniform = temperature == 1.0 and mode == "mixed" and known_share is None and self.split is None

    def __call__(self, step: int) -> np.ndarray:
        if self.uniform:
            idx = batch_indices(step, self.n, self.batch_size, self.seed)
            return idx if self.distinct is None else self._distinct(idx, [np.arange(self.n)], step)
        rng = np.random.default_rng([self.seed, 2_000_003, step])
        if self.mode == "single":
            k = np.zeros(len(self.p), np.int64)
            k[rng.choice(len(self.p), p=self.p)] = self.batch_size
        else:
            k = rng.multinomial(self.batch_size, self.p)
        parts = []
        for li, m in enumerate(k):
            if not m:
                continue
            pools = [self.pools[li]] if self.split is None else [q for q in self.split[li] if len(q)]
            if len(pools) == 2:
                m_extra = rng.binomial(int(m), self.extra_share)
                counts = (int(m) - m_extra, m_extra)
            else:
                counts = (int(m),)
            parts += [pool[rng.choice(len(pool), min(c, len(pool)), replace=False)]
                      for pool, c in zip(pools, counts) if c]
        idx = rng.permutation(np.concatenate(parts))
        return idx if self.distinct is None else self._distinct(idx, self.pools, step)

    def _distinct(self, idx: np.ndarray, pools: list[np.ndarray], step: int) -> np.ndarray:
        """``idx`` with every pair that repeats a key replaced by a pair of its pool (language) that repeats none."""
        rng = np.random.default_rng([self.seed, 4_000_037, step])
        ka, kb = self.distinct
        pool_of = self.lang if len(pools) > 1 else np.zeros(self.n, np.int64)
        idx = idx.copy()
        used_a, used_b = set(), set()
        for pos, i in enumerate(idx):
            if ka[i] in used_a or kb[i] in used_b:
                pool = pools[pool_of[i]]
                for j in pool[rng.integers(len(pool), size=64)]:  # a bounded search: a tiny pool may keep a repeat
                    if ka[j] not in used_a and kb[j] not in used_b:
                        idx[pos] = i = j
                        break
            used_a.add(ka[i])
            used_b.add(kb[i])
        return idx


def neighbour_table(vectors: np.ndarray, lang: np.ndarray, k: int, same: float = 1e-4) -> np.ndarray:
    """``(n, k)`` indices: for each pair, the ``k`` pairs of its language whose (unit) vectors are nearest by
    inner product, best first, leaving out the pair itself and pairs with the same vector (within ``same`` of
    cosine 1: the same English sentence in another row). A language with too few other pairs fills the
    remaining slots with random pairs of that language (never the pair itself while there is another)."""
    import faiss

    lang = np.asarray(lang)
    table = np.empty((len(lang), k), np.int64)
    rng = np.random.default_rng(0)
    for li in np.unique(lang):
        rows = np.flatnonzero(lang == li)
        x = np.ascontiguousarray(vectors[rows], dtype=np.float32)
        want = min(len(rows), k + 16)
        sims, nn = faiss.knn(x, x, want, faiss.METRIC_INNER_PRODUCT)
        usable = (nn >= 0) & (nn != np.arange(len(rows))[:, None]) & (sims < 1.0 - same)
        # usable neighbours first (stable, so best first), then the rest; short rows get random fill
        order = np.argsort(~usable, axis=1, kind="stable")[:, :k]
        picked = np.full((len(rows), k), -1, np.int64)
        picked[:, : order.shape[1]] = np.where(np.take_along_axis(usable, order, 1),
                                               np.take_along_axis(nn, order, 1), -1)
        r, c = np.nonzero(picked < 0)
        if len(r):  # too few distinct neighbours: random other pairs of the language
            other = rng.integers(max(len(rows) - 1, 1), size=len(r))
            picked[r, c] = np.where(len(rows) > 1, other + (other >= r), r)
        table[rows] = rows[picked]
    return table


class NeighbourBatches:
    """Batches of ``batch_size // group`` groups: each group is a seed pair drawn by ``seeds`` (a
    :class:`BatchSampler` of that many pairs, so languages keep their sampling temperature) and ``group - 1``
    pairs drawn at random from the seed's ``table`` neighbours (:func:`neighbour_table`)."""

    def __init__(self, seeds: BatchSampler, table: np.ndarray, group: int, seed: int):
        if group < 2 or group - 1 > table.shape[1]:
            raise ValueError(f"a group of {group} needs 1 <= group - 1 <= {table.shape[1]} neighbours")
        self.seeds, self.table, self.group, self.seed = seeds, table, group, seed

    def __call__(self, step: int) -> np.ndarray:
        s = self.seeds(step)
        rng = np.random.default_rng([self.seed, 3_000_017, step])
        pick = rng.random((len(s), self.table.shape[1])).argsort(axis=1)[:, : self.group - 1]
        return np.concatenate([s[:, None], np.take_along_axis(self.table[s], pick, 1)], axis=1).ravel()


# ----------------------------------------------------------------------------- a run's batches
#: losses whose labels are the identity: a batch holding one sentence twice would contradict itself
IDENTITY_LABELS = ("hard",)


def batch_sampler(cfg: TrainConfig, data: PairSet, teacher_a: np.ndarray | None) -> BatchSampler | NeighbourBatches:
    """The run's batches: :class:`BatchSampler`, or with ``--neighbour-groups N`` its draws as seeds of
    :class:`NeighbourBatches` over the teacher's nearest English neighbours (each seed's 2(N-1) nearest)."""
    g = cfg.neighbour_groups
    distinct = sentence_ids(data) if cfg.loss in IDENTITY_LABELS else None
    seeds = BatchSampler(data.lang, len(data.langs), cfg.batch_size // max(g, 1), cfg.seed,
                         cfg.sampling_temperature, cfg.batch_languages, *sampling_probabilities(cfg, data),
                         extra=data.extra, extra_share=cfg.extra_share, distinct=distinct)
    if not g:
        return seeds
    cache = teacher_cache_dir(cfg)
    if teacher_a is None:  # a loss without the teacher (hard): the neighbours still come from it
        teacher_a = teacher_embeddings(cfg.teacher, data.a, cache, cfg.device, cfg.teacher_batch_size)
    table = cached_neighbour_table(teacher_a, data.lang, 2 * (g - 1), cache)
    return NeighbourBatches(seeds, table, g, cfg.seed)


def cached_neighbour_table(vectors: np.ndarray, lang: np.ndarray, k: int, cache: Path) -> np.ndarray:
    """:func:`neighbour_table`, kept in ``cache`` under the digest of the vectors, languages and ``k`` (the search
    takes minutes on a few hundred thousand pairs; another run on the same data reads it back)."""
    h = hashlib.blake2b(digest_size=12)
    for part in (np.ascontiguousarray(vectors, np.float32), np.asarray(lang, np.int64), np.int64(k)):
        h.update(memoryview(np.ascontiguousarray(part)).cast("B"))
    path = cache / f"neighbours-{h.hexdigest()}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.time()
    table = neighbour_table(vectors, lang, k)
    info(f"nearest English neighbours of {len(lang)} pairs ({k} each) in {time.time() - t0:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    write_atomic_npy(path, table)
    return table


def sampling_probabilities(cfg: TrainConfig, data: PairSet) -> tuple[np.ndarray | None, float | None]:
    """The ``known`` mask and share that :class:`BatchSampler` splits the draws by (``--known-share``), or
    (None, None) without the option."""
    if cfg.known_share is None:
        return None, None
    new = new_language_files(cfg.student, data)
    if new is None:
        raise UsageError(f"--known-share: {extended_model(cfg.student)} records no languages, so none is known")
    if new.all() or not new.any():
        raise UsageError(f"--known-share needs pair files in languages {extended_model(cfg.student)} knows and in "
                         f"languages it does not; all {len(new)} are {'new' if new.all() else 'known'}")
    return ~new, cfg.known_share


__all__ = ["batch_indices", "language_probabilities", "BatchSampler", "neighbour_table", "NeighbourBatches",
           "batch_sampler", "sampling_probabilities", "cached_neighbour_table", "IDENTITY_LABELS"]
