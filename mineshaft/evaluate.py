"""Held-out evaluation of any encoder: BUCC-style mining F1, Tatoeba and FLORES retrieval, cross-lingual STS.

Each task takes files by path in the layouts of the shared evaluation sets
(see the README); nothing here downloads anything.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embed import embed
from .errors import InputError, UsageError
from .io import is_blank, read_lines, split_ids
from .outputs import atomic_output, check_output_path
from .languages import pair_file_language
from .metrics import bootstrap_means, interval, retrieval_hits, spearman, spearman_replicates
from .mining.margin import check_k_fits
from .mining.mine import mine_with_fit, text_clues
from .mining.threshold import auto_threshold

if TYPE_CHECKING:
    from .encoders import EncoderSpec

#: what each input option of ``mineshaft eval`` takes, for the messages that refuse one
EXPECTS = {
    "bucc": "--bucc takes a BUCC-style prefix such as bucc-style/de-en, "
            "reading PREFIX.de and PREFIX.en ('ID<TAB>sentence' lines) and PREFIX.gold ('de-id<TAB>en-id' lines)",
    "tatoeba": "--tatoeba takes a Tatoeba prefix such as tatoeba/tatoeba.deu-eng, "
               "reading the line-aligned PREFIX.deu and PREFIX.eng",
    "flores": "--flores takes a FLORES-200 file such as flores200/deu_Latn.devtest, "
              "with the line-aligned English eng_Latn.devtest beside it",
    "sts": "--sts takes an STS-b CSV of 'sentence1,sentence2,score' rows named like stsb/stsb-de-test.csv, "
           "with the row-aligned English one, named with 'en' for the language (stsb-en-test.csv), beside it",
}
_ERRORS_HINT = re.compile(r" \(use --errors replace[^)]*\)")


def _read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of an evaluation file (UTF-8: ``eval`` has no ``--errors`` option to replace invalid bytes)."""
    try:
        return read_lines(path)
    except InputError as exc:
        raise InputError(_ERRORS_HINT.sub(" (evaluation files must be UTF-8 text)", str(exc))) from None


# ----------------------------------------------------------------------------- BUCC-style mining
@dataclass
class F1Point:
    threshold: float
    precision: float
    recall: float
    f1: float


def best_threshold(scores: np.ndarray, correct: np.ndarray, n_gold: int) -> F1Point:
    """The margin threshold (keep ``score >= t``) that maximizes F1 of the candidates against gold."""
    if len(scores) == 0 or n_gold == 0:
        return F1Point(float("inf"), 0.0, 0.0, 0.0)
    order = np.argsort(-scores, kind="stable")
    s, c = scores[order], correct[order].astype(np.int64)
    tp = np.cumsum(c)
    kept = np.arange(1, len(s) + 1)
    # a threshold can only sit where the score changes: use the last index of each run of ties
    last = np.r_[s[1:] != s[:-1], True]
    prec, rec = tp / kept, tp / n_gold
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
    f1 = np.where(last, f1, -1.0)
    i = int(f1.argmax())
    return F1Point(float(s[i]), float(prec[i]), float(rec[i]), float(f1[i]))


def f1_at(scores: np.ndarray, correct: np.ndarray, n_gold: int, threshold: float) -> F1Point:
    keep = scores >= threshold
    tp = int(correct[keep].sum())
    prec = tp / max(int(keep.sum()), 1)
    rec = tp / max(n_gold, 1)
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return F1Point(float(threshold), prec, rec, f1)


def _half(ident: str) -> int:
    """A stable, seedless split of sentence ids into two halves."""
    return hashlib.blake2b(ident.encode(), digest_size=1).digest()[0] & 1


def two_fold_halves(task: BuccTask, pairs) -> tuple[np.ndarray, np.ndarray]:
    """The halves of :func:`two_fold`: of each candidate pair and of each gold pair, by source id."""
    half = np.array([_half(task.src_ids[s]) for s in pairs.src.tolist()], dtype=np.int8)
    gold_half = np.array([_half(a) for a, _ in task.gold], dtype=np.int8)
    return half, gold_half


def two_fold(scores: np.ndarray, correct: np.ndarray, half: np.ndarray, gold_half: np.ndarray) -> list[F1Point]:
    """The BUCC protocol: for each half, F1 at the threshold tuned on the OTHER half's gold.

    ``half[i]`` is the half (0/1) of candidate i, ``gold_half[j]`` that of gold pair j (both by source id).
    Returns the two points, evaluated on half 0 then half 1; ``threshold`` is the one applied.
    """
    folds = []
    for test in (0, 1):
        tune = 1 - test
        t = best_threshold(scores[half == tune], correct[half == tune], int((gold_half == tune).sum()))
        folds.append(f1_at(scores[half == test], correct[half == test], int((gold_half == test).sum()), t.threshold))
    return folds


@dataclass
class BuccTask:
    """A BUCC-style task: both sides' ids and texts, and the gold (src-id, en-id) pairs."""

    src_ids: list[str]
    src_texts: list[str]
    tgt_ids: list[str]
    tgt_texts: list[str]
    gold: set

    def correct(self, pairs) -> np.ndarray:
        """Whether each mined pair (rows into the two sides) is a gold pair."""
        return np.array([(self.src_ids[s], self.tgt_ids[t]) in self.gold
                         for s, t in zip(pairs.src.tolist(), pairs.tgt.tolist())], dtype=bool)


def bucc_language(prefix: str | os.PathLike) -> str:
    """The other language of a BUCC-style prefix, as its files spell it (``de-en`` and ``en-de`` → ``de``:
    :func:`mineshaft.languages.pair_file_language`), else the first part of its name (``xx-en`` → ``xx``)."""
    name = Path(str(prefix)).name
    return pair_file_language(name, spelled=True) or name.split("-")[0]


def bucc_files(prefix: str | os.PathLike, lang: str | None = None) -> list[str]:
    """The files of a BUCC-style prefix: ``PREFIX.xx``, ``PREFIX.en``, ``PREFIX.gold``."""
    lang = lang or bucc_language(prefix)
    return [f"{prefix}.{lang}", f"{prefix}.en", f"{prefix}.gold"]


def read_bucc(prefix: str | os.PathLike, lang: str | None = None) -> BuccTask:
    """Read ``PREFIX.{xx,en,gold}``; every gold line must pair an id of ``PREFIX.xx`` with one of ``PREFIX.en``."""
    src_path, tgt_path, gold_path = bucc_files(prefix, lang)
    src_ids, src_texts = split_ids(_read_lines(src_path), src_path)
    tgt_ids, tgt_texts = split_ids(_read_lines(tgt_path), tgt_path)
    known_src, known_tgt = set(src_ids), set(tgt_ids)
    for ids, path in ((src_ids, src_path), (tgt_ids, tgt_path)):  # gold pairs name sentences by id: one each
        if len(set(ids)) != len(ids):
            twice = next(i for i, count in Counter(ids).items() if count > 1)
            raise InputError(f"{path}: id {twice!r} names more than one sentence; ids must be unique")
    gold = set()
    for lineno, line in enumerate(_read_lines(gold_path), 1):
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != 2 or not all(fields):
            raise InputError(f"{gold_path}:{lineno}: expected 'src-id<TAB>en-id' (2 tab-separated columns), "
                             f"found {len(fields)} column{'s' * (len(fields) != 1)}"
                             + (" with an empty one" if len(fields) == 2 else ""))
        a, b = fields
        for ident, known, where in ((a, known_src, src_path), (b, known_tgt, tgt_path)):
            if ident not in known:
                raise InputError(f"{gold_path}:{lineno}: id {ident!r} is not an id of {where}")
        gold.add((a, b))
    halves = np.bincount([_half(a) for a, _ in gold], minlength=2)
    if halves.min() == 0:  # the two-fold protocol tunes on one half's gold and scores the other
        raise InputError(f"{gold_path}: {len(gold)} gold pairs, all in one half of the source ids: the two-fold "
                         "protocol needs gold in both (a few dozen pairs at least)")
    return BuccTask(src_ids, src_texts, tgt_ids, tgt_texts, gold)


def bucc_eval(prefix: str | os.PathLike, encoder, lang: str | None = None, k: int = 4, margin: str = "ratio",
              mode: str = "max", batch_size: int = 64) -> dict:
    """BUCC-style F1 for ``PREFIX.{xx,en,gold}`` (e.g. ``eval/bucc-style/de-en``).

    Candidates are mined over both whole files; the source ids are split into
    two fixed halves; the threshold that maximizes F1 on one half's gold is
    applied to the other half, in both directions, and the two F1 are averaged.
    The F1 at the threshold tuned on all gold ("oracle") and at ``--threshold auto``
    (no gold) are given for reference.
    """
    lang = lang or bucc_language(prefix)
    return _bucc_result(encoder, read_bucc(prefix, lang), lang, k, margin, mode, batch_size)


def _bucc_result(encoder, task: BuccTask, lang: str, k: int = 4, margin: str = "ratio", mode: str = "max",
                 batch_size: int = 64) -> dict:
    x = embed(encoder, task.src_texts, batch_size=batch_size, label=f"encoding {lang}")
    y = embed(encoder, task.tgt_texts, batch_size=batch_size, label="encoding en")
    pairs, fit = mine_with_fit(x, y, k=k, margin=margin, mode=mode, **text_clues(task.src_texts, task.tgt_texts))
    correct = task.correct(pairs)
    folds = two_fold(pairs.score, correct, *two_fold_halves(task, pairs))
    oracle = best_threshold(pairs.score, correct, len(task.gold))
    auto = f1_at(pairs.score, correct, len(task.gold), auto_threshold(pairs.score, fit))
    return {
        "task": "bucc-style", "pair": f"{lang}-en", "n_src": len(task.src_ids), "n_tgt": len(task.tgt_ids),
        "n_gold": len(task.gold), "f1": float(np.mean([f.f1 for f in folds])),
        "precision": float(np.mean([f.precision for f in folds])),
        "recall": float(np.mean([f.recall for f in folds])), "thresholds": [f.threshold for f in folds],
        "oracle": asdict(oracle), "auto": asdict(auto), "k": k, "margin": margin, "mode": mode,
    }


# ----------------------------------------------------------------------------- retrieval (Tatoeba, FLORES)
def _aligned(path_a: str, path_b: str) -> tuple[list[str], list[str]]:
    a, b = _read_lines(path_a), _read_lines(path_b)
    if len(a) != len(b):
        raise InputError(f"{path_a} and {path_b} must be line-aligned, but have {len(a)} and {len(b)} lines")
    for path, lines in ((path_a, a), (path_b, b)):  # a blank line would be scored as a sentence (and could hit)
        blank = next((i for i, line in enumerate(lines, 1) if is_blank(line)), None)
        if blank is not None:
            raise InputError(f"{path}:{blank}: blank line; evaluation files hold one sentence a line, none empty")
    return a, b


def retrieval_eval(xx_path: str, en_path: str, encoder, task: str, batch_size: int = 64,
                   en_vectors: dict[str, np.ndarray] | None = None) -> dict:
    """Top-1 retrieval both ways between two line-aligned files; ``en_vectors`` memoizes the English side by
    path (FLORES: one English file for every language)."""
    xx, en = _aligned(xx_path, en_path)
    return _retrieval_result(encoder, xx, en, xx_path, en_path, task, batch_size, en_vectors)


def _retrieval_result(encoder, xx: list[str], en: list[str], xx_path: str, en_path: str, task: str,
                      batch_size: int = 64, en_vectors: dict[str, np.ndarray] | None = None) -> dict:
    x = embed(encoder, xx, batch_size=batch_size, label=f"encoding {Path(xx_path).name}")
    memo = {} if en_vectors is None else en_vectors
    if str(en_path) not in memo:
        memo[str(en_path)] = embed(encoder, en, batch_size=batch_size, label=f"encoding {Path(en_path).name}")
    y = memo[str(en_path)]
    xx2en, en2xx = retrieval_hits(x, y)
    return {"task": task, "file": str(xx_path), "n": len(xx), "xx2en": float(xx2en.mean()),
            "en2xx": float(en2xx.mean()), "xx2en_ci": interval(bootstrap_means([xx2en])),
            "en2xx_ci": interval(bootstrap_means([en2xx])),
            # per sentence, for paired comparisons and intervals over several sets (benchmarks/compare_students.py)
            "hits": {"xx2en": _bits(xx2en), "en2xx": _bits(en2xx)}}


def _bits(hits: np.ndarray) -> str:
    return "".join("1" if h else "0" for h in hits)


def tatoeba_language(prefix: str | os.PathLike) -> str:
    """The language of a Tatoeba prefix (``.../tatoeba.deu-eng`` → ``deu``)."""
    return Path(str(prefix)).name.split(".")[-1].split("-")[0]


def tatoeba_files(prefix: str | os.PathLike) -> list[str]:
    """The files of a Tatoeba prefix: ``PREFIX.deu`` and ``PREFIX.eng`` for ``.../tatoeba.deu-eng``."""
    return [f"{prefix}.{tatoeba_language(prefix)}", f"{prefix}.eng"]


def tatoeba_eval(prefix: str | os.PathLike, encoder, batch_size: int = 64) -> dict:
    """Tatoeba ``PREFIX`` = ``.../tatoeba.deu-eng``: files ``PREFIX.deu`` and ``PREFIX.eng``."""
    res = retrieval_eval(*tatoeba_files(prefix), encoder, "tatoeba", batch_size)
    res["lang"] = tatoeba_language(prefix)
    return res


def flores_eval(xx_path: str | os.PathLike, en_path: str | os.PathLike, encoder, batch_size: int = 64,
                en_vectors: dict[str, np.ndarray] | None = None) -> dict:
    res = retrieval_eval(str(xx_path), str(en_path), encoder, "flores200", batch_size, en_vectors)
    res["lang"] = flores_language(xx_path)
    return res


def flores_language(xx_path: str | os.PathLike) -> str:
    """The language of a FLORES-200 file (``.../deu_Latn.devtest`` → ``deu_Latn``)."""
    return Path(xx_path).name.split(".")[0]


# ----------------------------------------------------------------------------- cross-lingual STS
def read_sts(path: str | os.PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """``sentence1,sentence2,score`` CSV rows (no header)."""
    s1, s2, scores = [], [], []
    for lineno, row in enumerate(csv.reader(_read_lines(path)), 1):
        if len(row) != 3:
            raise InputError(f"{path}:{lineno}: expected 3 CSV columns (sentence1,sentence2,score), found {len(row)}")
        try:
            score = float(row[2])
        except ValueError:
            raise InputError(f"{path}:{lineno}: score {row[2]!r} is not a number "
                             "(rows are sentence1,sentence2,score, with no header)") from None
        if not 0 <= score <= 5:  # nan and inf too
            raise InputError(f"{path}:{lineno}: score {row[2]!r} is outside STS-b's 0 to 5")
        scores.append(score)
        s1.append(row[0])
        s2.append(row[1])
    if not scores:
        raise InputError(f"{path}: empty input")
    return s1, s2, np.array(scores)


def sts_eval(xx_csv: str | os.PathLike, en_csv: str | os.PathLike, encoder, batch_size: int = 64) -> dict:
    """Cross-lingual STS: sentence1 from the xx file, sentence2 from the (row-aligned) English file."""
    return _sts_result(encoder, *_read_sts_pair(xx_csv, en_csv), xx_csv, batch_size)


def _read_sts_pair(xx_csv: str | os.PathLike, en_csv: str | os.PathLike) -> tuple[list[str], list[str], np.ndarray]:
    a, _, gold = read_sts(xx_csv)
    _, b, gold_en = read_sts(en_csv)
    if len(a) != len(b) or not np.allclose(gold, gold_en):
        raise InputError(f"{xx_csv} and {en_csv} are not row-aligned translations of each other "
                         f"({len(a)} and {len(b)} rows{'' if len(a) != len(b) else ', with different scores'})")
    if len(gold) < 3 or len(set(gold.tolist())) < 2:
        raise InputError(f"{xx_csv}: {len(gold)} rows with {len(set(gold.tolist()))} distinct scores: a Spearman "
                         "correlation needs at least 3 rows and two different scores")
    return a, b, gold


def _sts_result(encoder, a: list[str], b: list[str], gold: np.ndarray, xx_csv: str | os.PathLike,
                batch_size: int = 64) -> dict:
    x = embed(encoder, a, batch_size=batch_size, label="encoding sentence1")
    y = embed(encoder, b, batch_size=batch_size, label="encoding sentence2")
    cos = np.einsum("ij,ij->i", x, y)
    pairs = np.stack([cos, gold], 1)
    return {"task": "sts-xx-en", "file": str(xx_csv), "n": len(a), "spearman": 100 * spearman(cos, gold),
            "spearman_ci": interval(bootstrap_means([pairs], stat=spearman_replicates)),
            "cosine": [round(float(c), 6) for c in cos], "gold": gold.tolist()}


# ----------------------------------------------------------------------------- report
def _ci(bounds, scale: float = 1.0) -> str:
    return f"{scale * bounds[0]:.1f}–{scale * bounds[1]:.1f}"


def format_table(results: list[dict], encoder_name: str = "") -> str:
    """A plain-text table of results, one row per task."""
    rows = [f"{'task':<12} {'set':<26} {'metric':<22} value   ({encoder_name})"]
    for r in results:
        if r["task"] == "bucc-style":
            rows.append(f"{'bucc-style':<12} {r['pair']:<26} {'F1 (2-fold thr.)':<22} {100 * r['f1']:6.2f}"
                        f"   P {100 * r['precision']:.1f} R {100 * r['recall']:.1f}, oracle F1 {100 * r['oracle']['f1']:.2f}")
        elif r["task"] in ("tatoeba", "flores200"):
            rows.append(f"{r['task']:<12} {r['lang']:<26} {'acc xx→en / en→xx':<22} {100 * r['xx2en']:6.2f} / "
                        f"{100 * r['en2xx']:.2f}   95% CI {_ci(r['xx2en_ci'], 100)} / {_ci(r['en2xx_ci'], 100)}")
        elif r["task"] == "sts-xx-en":
            rows.append(f"{'sts-xx-en':<12} {Path(r['file']).name:<26} {'Spearman x100':<22} {r['spearman']:6.2f}"
                        f"   95% CI {_ci(r['spearman_ci'])}")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- the eval command
def flores_english(xx_path: str | os.PathLike) -> Path:
    """FLORES-200's English file beside ``xx_path`` (``.../deu_Latn.devtest`` → ``.../eng_Latn.devtest``)."""
    return Path(xx_path).with_name("eng_Latn.devtest")


#: an STS-b CSV's name: what comes before the language, the language, the rest (``stsb``, ``de``, ``-test.csv``)
_STS_NAME = re.compile(r"^([^-]+)-([^-.]+)(.*)$")


def sts_english(xx_csv: str | os.PathLike) -> Path:
    """STS-b's English file beside ``xx_csv``: its name with ``en`` for the language, the second dash-separated
    part (``.../stsb-de-test.csv`` → ``.../stsb-en-test.csv``); :class:`InputError` for a name without one."""
    m = _STS_NAME.match(Path(xx_csv).name)
    if not m:
        raise InputError(f"{xx_csv}: not named like an STS-b CSV (stsb-XX-test.csv, the language second), "
                         f"so its English file is unknown; {EXPECTS['sts']}")
    return Path(xx_csv).with_name(f"{m[1]}-en{m[3]}")


def _check_file(where: str, path: str | os.PathLike, option: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{where}: {os.path.abspath(p)} is a directory, expected a file; {EXPECTS[option]}")
    if not p.exists():
        raise InputError(f"{where}: no such file {os.path.abspath(p)}; {EXPECTS[option]}")


def check_eval_inputs(bucc=(), tatoeba=(), flores=(), sts=()) -> list[str]:
    """Refuse, before any encoder loads, an input of ``mineshaft eval`` that names no readable files: an empty
    value, a file or directory given as a prefix, a missing file or a directory among the files it reads (the
    English file beside a FLORES or STS file included). Returns every file the inputs read."""
    files: list[str] = []
    for option, values in (("bucc", bucc), ("tatoeba", tatoeba), ("flores", flores), ("sts", sts)):
        for value in values:
            where = f"--{option} {value}"
            if not str(value).strip():
                raise UsageError(f"--{option} was given an empty path; {EXPECTS[option]}")
            if option in ("bucc", "tatoeba"):
                named = bucc_files if option == "bucc" else tatoeba_files
                read = named(value)
                if Path(value).exists() and not all(Path(f).is_file() for f in read):
                    stem = str(value).rsplit(".", 1)[0] if "." in Path(value).name else ""
                    hint = f" (did you mean --{option} {stem}?)" if stem and all(
                        Path(f).is_file() for f in named(stem)) else ""
                    kind = "a directory" if Path(value).is_dir() else "a file"
                    raise InputError(f"{where}: is {kind}, not a prefix{hint}; {EXPECTS[option]}")
            else:
                _check_file(where, value, option)
                try:
                    read = [str(value), str(flores_english(value) if option == "flores" else sts_english(value))]
                except InputError as exc:  # a name that does not say its language
                    raise InputError(f"--{option} {exc}") from None
            for path in read:
                _check_file(where, path, option)
            files += read
    return files


def _with_lang(job: Callable, lang: str) -> Callable:
    return lambda encoder: {**job(encoder), "lang": lang}


def _prepare(bucc=(), tatoeba=(), flores=(), sts=(), k: int = 4, batch_size: int = 64) -> list[Callable]:
    """Check (:func:`check_eval_inputs`) and read every set asked for, so that bad input is refused before an
    encoder loads: one job a set, which gives the set's result when called with the encoder."""
    check_eval_inputs(bucc, tatoeba, flores, sts)
    english: dict[str, np.ndarray] = {}  # FLORES' English file, encoded once for all languages
    jobs: list[Callable] = []
    for prefix in bucc:
        lang = bucc_language(prefix)
        task = read_bucc(prefix, lang)
        for ids, side in ((task.tgt_ids, "en"), (task.src_ids, lang)):  # as mine warns, before anything is encoded
            check_k_fits(k, len(ids), f"sentences of {prefix}'s {side} side")
        jobs.append(functools.partial(_bucc_result, task=task, lang=lang, k=k, batch_size=batch_size))
    for task, paths in (("tatoeba", tatoeba), ("flores200", flores)):
        for path in paths:
            xx_path, en_path = tatoeba_files(path) if task == "tatoeba" else (str(path), str(flores_english(path)))
            xx, en = _aligned(xx_path, en_path)
            job = functools.partial(_retrieval_result, xx=xx, en=en, xx_path=xx_path, en_path=en_path, task=task,
                                    batch_size=batch_size, en_vectors=english if task == "flores200" else None)
            jobs.append(_with_lang(job, tatoeba_language(path) if task == "tatoeba" else flores_language(path)))
    for path in sts:
        a, b, gold = _read_sts_pair(path, sts_english(path))
        jobs.append(functools.partial(_sts_result, a=a, b=b, gold=gold, xx_csv=path, batch_size=batch_size))
    return jobs


def evaluate_sets(encoder, bucc=(), tatoeba=(), flores=(), sts=(), k: int = 4, batch_size: int = 64) -> list[dict]:
    """Results of every set asked for, in this order: BUCC-style prefixes, Tatoeba prefixes, FLORES files
    and STS-b CSVs (each with its English file beside it: :func:`flores_english`, :func:`sts_english`).
    Every input is checked and read before the first is encoded."""
    return [job(encoder) for job in _prepare(bucc, tatoeba, flores, sts, k=k, batch_size=batch_size)]


def _finite(value):
    """``value`` with every float that is not finite (nan, an infinite threshold or score) replaced by None."""
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def run_eval(spec: EncoderSpec, bucc=(), tatoeba=(), flores=(), sts=(), k: int = 4, json_out: str | None = None,
             force: bool = False) -> str:
    """``mineshaft eval``: :func:`evaluate_sets` with ``spec``'s encoder, loaded once every input is checked and
    read; all results also go to ``json_out`` as JSON when given. Returns the table (:func:`format_table`)."""
    import json

    if not (bucc or tatoeba or flores or sts):
        raise UsageError("nothing to evaluate: give at least one of --bucc, --tatoeba, --flores, --sts")
    if json_out is not None:
        if not json_out.strip() or json_out == "-":
            raise UsageError(f"--json {json_out!r}: give a file to write the results to (stdout carries the table)")
        check_output_path(json_out, force, inputs=check_eval_inputs(bucc, tatoeba, flores, sts))
    jobs = _prepare(bucc, tatoeba, flores, sts, k=k, batch_size=spec.batch_size)
    encoder = spec.load()
    results = [job(encoder) for job in jobs]
    if json_out:
        with atomic_output(json_out, force=force) as fh:  # strict JSON: a figure that is not finite is null
            json.dump(_finite({"encoder": spec.name, "results": results}), fh, indent=2, allow_nan=False)
            fh.write("\n")
    return format_table(results, encoder_name=encoder.name)
