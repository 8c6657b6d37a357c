"""Token rows from a translation lexicon: a new language's pieces start as the English pieces they translate to.

A student that meets a language it was never trained on has token rows that mean nothing there: new pieces
(``extend-vocab``) start as averages of unrelated old rows, and old pieces (Latin-script words of Hungarian,
say) mean what they mean in other languages. The training pairs already say what these pieces mean:
IBM Model 1 (Brown et al. 1993), a few EM passes over the pairs, gives for each piece ``f`` of the other
side the expected number of times it aligns to each English piece ``e`` (or to nothing), and

    row(f) = sum_e p(e | f) * row(e),    p(e | f) ∝ expected count(f aligned to e),

rescaled to the mean norm of the rows it averages, is where ``f`` would sit if the student read it as
English. The student then starts out encoding a sentence of the new language near its English translation
(the DAN + CNN network of USE sees little but these rows), and training refines from there.

How far a row moves towards its lexicon row: ``n / (n + 1)`` for a piece seen ``n`` times in the new
languages (a piece seen once is half moved), times, for a row the student already had, the square of the
share of its uses that are in the new languages (English text and the languages the student knows use old
rows too; squared, a row shared half and half moves a quarter of the way: on the 50-language dev set, before
training, this kept 1.0 more points of USE's 14 languages than the plain share for 0.9 fewer on the new 36,
and trained from it the model held USE's languages at a larger WiSE-FT α).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..languages import encoder_languages, pair_file_languages
from .data import dev_digest, read_pair_files

#: EM passes of IBM Model 1 (the counts are those of the last E-step)
ITERATIONS = 6
#: an old row moves by ``share ** SHARE_POWER`` of the way its new-language uses alone would move it
SHARE_POWER = 2


@dataclass
class Lexicon:
    """Expected alignment counts ``count[k]`` of other-side piece ``f[k]`` to English piece ``e[k]``
    (alignments to nothing left out), and ``occurrences[f]``: how often each piece occurs on the other side."""

    f: np.ndarray
    e: np.ndarray
    count: np.ndarray
    occurrences: np.ndarray


def alignment_counts(other: Sequence[Sequence[int]], english: Sequence[Sequence[int]], vocab_size: int,
                     iterations: int = ITERATIONS) -> Lexicon:
    """IBM Model 1 (each other-side token aligns to one English token of its pair, or to nothing) by EM,
    vectorized over (token, candidate) pairs; ids must lie in ``[0, vocab_size)``. Memory grows with the sum
    over pairs of ``len(other) * (len(english) + 1)``: cut long pairs before."""
    if len(other) != len(english):
        raise ValueError(f"{len(other)} other sides but {len(english)} English sides")
    null = vocab_size
    f_len = np.fromiter(map(len, other), np.int64, len(other))
    n_tok = int(f_len.sum())
    if not n_tok:
        empty = np.zeros(0, np.int64)
        return Lexicon(empty, empty, np.zeros(0), np.zeros(vocab_size, np.int64))
    # every English side with the null word appended, end to end; its start per pair
    e_len = np.fromiter(map(len, english), np.int64, len(english)) + 1
    e_ends = np.cumsum(e_len)
    e_all = np.full(int(e_ends[-1]), null, np.int64)
    body = np.ones(len(e_all), bool)
    body[e_ends - 1] = False
    e_all[body] = np.concatenate([np.asarray(e, np.int64) for e in english])
    tok_f = np.concatenate([np.asarray(f, np.int64) for f in other])
    # candidates: each token of pair p against each of pair p's English tokens (+ null), token by token
    width = np.repeat(e_len, f_len)  # candidates per token
    pos = np.repeat(np.arange(n_tok), width)
    shift = np.repeat(e_ends - e_len, f_len) - (np.cumsum(width) - width)  # its English start - its first candidate
    index = np.repeat(shift, width)
    index += np.arange(len(pos))
    key = tok_f[pos] * (vocab_size + 1) + e_all[index]
    del index
    uniq, pair = np.unique(key, return_inverse=True)
    del key
    pf, pe = uniq // (vocab_size + 1), uniq % (vocab_size + 1)
    t = np.ones(len(uniq))  # t(f | e), uniform start
    count = t
    for _ in range(iterations):
        tv = t[pair]
        post = tv / np.bincount(pos, tv, minlength=n_tok)[pos]  # posterior of each candidate alignment
        count = np.bincount(pair, post, minlength=len(uniq))
        t = count / np.bincount(pe, count, minlength=vocab_size + 1)[pe]
    keep = pe != null
    return Lexicon(pf[keep], pe[keep], count[keep], np.bincount(tok_f, minlength=vocab_size))


def translation_rows(lex: Lexicon, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, rows)``: for each other-side piece with an English alignment, the ``p(e | f)``-weighted mean of
    the English pieces' rows of ``table``, rescaled to the weighted mean of their norms."""
    if not len(lex.f):
        return np.zeros(0, np.int64), np.zeros((0, table.shape[1]), table.dtype)
    rows = table.shape[0]
    total = np.bincount(lex.f, lex.count, minlength=rows)
    p = lex.count / total[lex.f]
    emb = table.astype(np.float64)
    norms = np.linalg.norm(emb, axis=1)
    with warnings.catch_warnings():  # torch calls its sparse CSR support beta
        warnings.simplefilter("ignore", UserWarning)
        mix = torch.sparse_coo_tensor(np.stack([lex.f, lex.e]), p, (rows, rows), check_invariants=True)
        out = (mix.to_sparse_csr() @ torch.from_numpy(emb)).numpy()
    ids = np.flatnonzero(total > 0)
    out = out[ids]
    size = np.linalg.norm(out, axis=1)
    target = np.bincount(lex.f, p * norms[lex.e], minlength=rows)[ids]
    ok = size > 0
    out[ok] *= (target[ok] / size[ok])[:, None]
    return ids[ok], out[ok]


def moved_rows(table: np.ndarray, ids: np.ndarray, rows: np.ndarray, occurrences: np.ndarray,
               other_uses: np.ndarray, first_new_id: int, share_power: float = SHARE_POWER) -> np.ndarray:
    """``table[ids]`` moved towards the lexicon ``rows`` by ``n / (n + 1)`` (``n``: occurrences in the new
    languages), and for old ids (``< first_new_id``) also by the share ``(n / (n + other_uses)) ** share_power``
    of their uses."""
    n = occurrences[ids].astype(np.float64)
    weight = n / (n + 1.0)
    old = ids < first_new_id
    weight[old] *= (n[old] / np.maximum(n[old] + other_uses[ids[old]], 1.0)) ** share_power
    start = table[ids].astype(np.float64)
    return start + weight[:, None] * (rows - start)


class LexiconInit:
    """Rows from a translation lexicon (this module) learned on the pairs of ``files`` that
    ``mineshaft train --dev-size dev_size --seed seed`` trains on (with the training-only ``extra`` files, as
    its ``--extra-pairs``); only the languages the model ``model`` does not know (by its ``languages.json`` and
    the files' names; all of them when either is missing) are aligned, and English plus the known languages count
    as the other uses of old rows."""

    def __init__(self, files: Sequence[str | os.PathLike], model: str, dev_size: int, seed: int,
                 extra: Sequence[str | os.PathLike] = ()):
        self.pairs, dev = read_pair_files([str(f) for f in files], dev_size, None, seed, "sentence",
                                          extra=[str(f) for f in extra])
        record = encoder_languages(model)
        known = set(record["languages"]) | {"en"} if record else None
        self.new = np.array([known is None or (codes := pair_file_languages([name])) is None
                             or not set(codes) <= known for name in self.pairs.langs], bool)
        self.stats: dict = {"dev_size": dev_size, "seed": seed, "heldout": dev_digest(dev), "iterations": ITERATIONS,
                            "share_power": SHARE_POWER,
                            "languages": [n for n, k in zip(self.pairs.langs, self.new) if k]}

    def rows(self, tokenize, specials: Sequence[int], table: np.ndarray, first_new_id: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, rows)`` to write into ``table`` (the extended one: new rows from :func:`init_rows`);
        ``tokenize(texts)`` gives the new tokenizer's ids, cut to :data:`~mineshaft.training.vocab.LEXICON_MAX_TOKENS` content tokens."""
        drop = np.asarray(sorted(set(specials)), np.int64)

        def ids(texts):
            return [row[~np.isin(row, drop)] for row in (np.asarray(r, np.int64) for r in tokenize(texts))]

        data, vocab = self.pairs, table.shape[0]
        new_rows = np.flatnonzero(self.new[data.lang])
        english = ids(data.a)  # every English side, tokenized once: the lexicon's and the old rows' other uses
        lex = alignment_counts(ids([data.b[i] for i in new_rows]), [english[i] for i in new_rows], vocab)
        known_other = ids([data.b[i] for i in np.flatnonzero(~self.new[data.lang])])
        uses = np.bincount(np.concatenate(english + known_other), minlength=vocab).astype(np.float64)
        moved, rows = translation_rows(lex, table)
        self.stats.update(pairs=len(new_rows), new_rows=int((moved >= first_new_id).sum()),
                          old_rows=int((moved < first_new_id).sum()))
        return moved, moved_rows(table, moved, rows, lex.occurrences, uses, first_new_id).astype(table.dtype)


__all__ = ["Lexicon", "alignment_counts", "translation_rows", "moved_rows", "ITERATIONS", "SHARE_POWER", "LexiconInit"]
