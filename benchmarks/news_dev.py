"""Hold out news pairs of the training data as dev mining tasks (never eval/).

    python benchmarks/news_dev.py --out runs/data [--data ../shared/data] [--seed 0]

Writes ``OUT/train/en-XX.tsv``: the 50 files of ``DATA/train`` with a seeded share of their news rows removed
(WMT newstest for de fr ru es zh, JHE for ko: source tags ``wmt:``, ``jhe:``, ``kor-news:``), and
``OUT/news-dev/en-XX.tsv``: those held-out pairs, for dev mining tasks that a model trained on ``OUT/train``
never saw (:func:`dev_task`). Rows sharing a sentence with a held-out row (casefolded, either side) leave the
training copy too. The other 44 files are copied unchanged.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

#: language -> held-out news pairs
HOLD = {"de": 700, "ru": 700, "zh": 600, "fr": 250, "es": 250, "ko": 300}
NEWS_TAGS = ("wmt:", "jhe:", "kor-news:")


def split_file(path: Path, n_hold: int, seed: int) -> tuple[list[str], list[str]]:
    """(training lines, held-out news lines) of one pair file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines]
    news = [i for i, r in enumerate(rows) if len(r) > 2 and r[2].startswith(NEWS_TAGS)]
    held = set(random.Random(f"{seed}:{path.name}").sample(news, min(n_hold, len(news))))
    keys = {r[0].casefold() for i, r in enumerate(rows) if i in held} | {rows[i][1].casefold() for i in held}
    train = [line for i, (line, r) in enumerate(zip(lines, rows))
             if i not in held and r[0].casefold() not in keys and r[1].casefold() not in keys]
    return train, [lines[i] for i in sorted(held)]


def dev_task(held: Path, train: Path, n_gold: int, n_distract: int, seed: int = 0
             ) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """A BUCC-like task: ``n_gold`` held-out news pairs hidden among ``n_distract`` sentences a side from other
    news rows of the training copy (xx of some rows, English of others: no distractor has its translation).
    Returns (xx sentences, English sentences, gold (xx row, en row) pairs), both sides shuffled."""
    rng = random.Random(seed)
    gold = [line.split("\t")[:2] for line in held.read_text(encoding="utf-8").splitlines()]
    rng.shuffle(gold)
    gold = gold[:n_gold]
    other = [r.split("\t") for r in train.read_text(encoding="utf-8").splitlines()]
    other = [r for r in other if len(r) > 2 and r[2].startswith(NEWS_TAGS)] or other
    rng.shuffle(other)
    seen = {s.casefold() for en, xx in gold for s in (en, xx)}
    fresh = []
    for en, xx, *_ in other:
        if en.casefold() not in seen and xx.casefold() not in seen:
            seen.update((en.casefold(), xx.casefold()))
            fresh.append((en, xx))
    half = min(n_distract, len(fresh) // 2)
    xx_side = [xx for _, xx in gold] + [xx for _, xx in fresh[:half]]
    en_side = [en for en, _ in gold] + [en for en, _ in fresh[half : 2 * half]]
    px, pe = list(range(len(xx_side))), list(range(len(en_side)))
    rng.shuffle(px)
    rng.shuffle(pe)
    ix, ie = {old: new for new, old in enumerate(px)}, {old: new for new, old in enumerate(pe)}
    return ([xx_side[i] for i in px], [en_side[i] for i in pe], sorted((ix[i], ie[i]) for i in range(len(gold))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    (args.out / "train").mkdir(parents=True, exist_ok=True)
    (args.out / "news-dev").mkdir(parents=True, exist_ok=True)
    for path in sorted((args.data / "train").glob("en-*.tsv")):
        lang = path.stem.split("-", 1)[1]
        train, held = split_file(path, HOLD.get(lang, 0), args.seed)
        (args.out / "train" / path.name).write_text("\n".join(train) + "\n", encoding="utf-8")
        if held:
            (args.out / "news-dev" / path.name).write_text("\n".join(held) + "\n", encoding="utf-8")
            print(f"{lang}: {len(held)} news pairs held out, {len(train)} of "
                  f"{sum(1 for _ in path.open(encoding='utf-8'))} rows left for training")


if __name__ == "__main__":
    main()
