"""A harder dev figure: each held-out pair ranked among the held-out English sentences of *all* files.

    python benchmarks/pooled_dev.py MODEL [MODEL ...] [--data ../shared/data] [--dev-size 100] [--seed 0]
        [--pairs DIR] [--english ENCODER]

The trainer's dev ranks each pair among its own file's ~100 held-out pairs, which is kind to a model (Tatoeba
ranks among ~1,000); pooling the 50 files' held-out English sentences gives ~4,400 candidates. The split is the
trainer's (`mineshaft train --dev-size N --seed S`, held out by sentence), so no test split is read and no
training pair is scored. Prints top-1 xx→en, mean over languages: all, those new to USE v3, the new ones with
fewer than 2,000 training pairs, USE's own; for
each model after the first, its difference from the first with a paired 95% bootstrap interval (pairs
resampled within each language, the same draws for both models).

``--long EXTRA_DIR --trained DIR [DIR ...]`` ranks, instead, the long sentences of EXTRA_DIR (the ``extra/`` rows
tagged ``ud-pud`` or ``xquad-context``: news and Wikipedia sentences, as FLORES has) not seen in their language:
every row whose (casefolded) non-English sentence is in a pair file under the ``--trained`` folders (the run's
training pairs, e.g. the capped sample of ``extra/`` it drew from, and ``train/``) is left out. Not unseen in
every sense: UD PUD is one English text for all its languages, so most English sentences were trained with
another language, and the trained rows of the same documents (other sentences, XQuAD questions) give a run whose
vocabulary was learned from them a head start on their words. The trainer's dev and the default
pooled dev come from ``train/``, mostly short sentences, and cannot see what more short text costs long text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mineshaft.encoders import Encoder, load_encoder
from mineshaft.io import iter_tsv
from mineshaft.languages import encoder_languages, pair_file_language
from mineshaft.metrics import bootstrap_means, interval
from mineshaft.training.data import PairSet, read_pair_files


def pooled_hits(model: str | Encoder, dev: PairSet, english: str | Encoder | None = None) -> dict[str, np.ndarray]:
    """Per file, whether each held-out pair's top-1 xx→en among the distinct held-out English sentences of
    all files (``dev``: the trainer's held-out pairs) is its own English sentence (``model``: a name or an
    encoder; ``english``: another encoder of the same space for the English side, as a routed model pairs them)."""
    pool = sorted(set(dev.a))
    where = {t: i for i, t in enumerate(pool)}
    enc = load_encoder(model, device="cpu") if isinstance(model, str) else model
    eng = enc if english is None else load_encoder(english, device="cpu") if isinstance(english, str) else english
    en, xx = eng.encode(pool, batch_size=256), enc.encode(dev.b, batch_size=256)
    hit = np.argmax(xx @ en.T, axis=1) == np.array([where[t] for t in dev.a])
    return {name: hit[dev.lang == i] for i, name in enumerate(dev.langs)}


LONG_TAGS = ("ud-pud", "xquad-context")


def long_dev(extra: Path, trained: list[Path], tags: tuple[str, ...] = LONG_TAGS) -> PairSet:
    """The rows of ``extra``'s pair files tagged with one of ``tags`` (column 3) whose non-English sentence appears
    in no pair file under ``trained``, one language per file (the files without such rows are left out). The
    English side may have been seen with another language (UD PUD is one English text for all), never with this
    sentence."""
    seen = {r[1].casefold() for d in trained for f in sorted(d.glob("en-*.tsv")) for r in iter_tsv(f, 2)}
    a, b, lang, langs = [], [], [], []
    for f in sorted(extra.glob("en-*.tsv")):
        rows = [r for r in iter_tsv(f, 2) if len(r) > 2 and r[2] in tags and r[1].casefold() not in seen]
        if rows:
            a += [r[0] for r in rows]
            b += [r[1] for r in rows]
            lang += [len(langs)] * len(rows)
            langs.append(f.name)
    return PairSet(a, b, np.array(lang, np.int64), langs)


GROUPS = ("all", "new", "small", "old")


def _groups(hits: dict[str, np.ndarray], known: set[str], small: set[str]) -> dict[str, list[np.ndarray]]:
    new = [h for k, h in hits.items() if pair_file_language(k) not in known]
    few = [h for k, h in hits.items() if pair_file_language(k) not in known and k in small]
    old = [h for k, h in hits.items() if pair_file_language(k) in known]
    return {"all": list(hits.values()), "new": new, "small": few, "old": old}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--dev-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", help="the run's training pair folder (default: DATA/train), so the split is its own")
    ap.add_argument("--english", help="encode the English side with this encoder (a routed model's known part)")
    ap.add_argument("--long", help="rank the unseen long sentences of this extra/ folder instead (see above)")
    ap.add_argument("--trained", nargs="+", default=[], help="with --long: the folders of the run's training pairs")
    args = ap.parse_args()
    files = sorted(str(p) for p in Path(args.pairs or Path(args.data, "train")).glob("en-*.tsv"))
    known = set(encoder_languages("use")["languages"])
    title = "long dev" if args.long else "pooled dev"
    print(f"| model | {title} xx→en all | new to USE | new, < 2,000 training pairs | USE's |\n|---|---|---|---|---|")
    train, dev = read_pair_files(files, args.dev_size, None, args.seed, "sentence")
    small = {name for i, name in enumerate(train.langs) if (train.lang == i).sum() < 2000}
    if args.long:
        if not args.trained:
            ap.error("--long needs --trained: the folders of the pairs the run was trained on")
        dev = long_dev(Path(args.long), [Path(d) for d in args.trained])
        print(f"long dev: {len(dev)} pairs, " + ", ".join(f"{n[3:-4]} {(dev.lang == i).sum()}"
                                                         for i, n in enumerate(dev.langs)), file=sys.stderr)
    first = None
    for model in args.models:
        groups = _groups(pooled_hits(model, dev, args.english), known, small)
        cells = [f"{100 * np.mean([h.mean() for h in groups[g]]):.2f}" if groups[g] else "—" for g in GROUPS]
        if first is None:
            first = groups
        else:  # paired: the same resampled pairs for both models
            for c, g in enumerate(GROUPS):
                if not groups[g]:
                    continue
                diff = [h.astype(float) - f for h, f in zip(groups[g], first[g])]
                lo, hi = interval(bootstrap_means(diff))
                cells[c] += f" ({100 * np.mean([d.mean() for d in diff]):+.2f}, {100 * lo:+.2f}…{100 * hi:+.2f})"
        print(f"| {model} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
