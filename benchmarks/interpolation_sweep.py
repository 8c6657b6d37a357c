"""Choose the interpolation weight α of `mineshaft interpolate` on dev data only.

    python benchmarks/interpolation_sweep.py soft-tcm --alphas 0 0.25 0.5 0.75 1 [--data ../shared/data]

For each α it prints two dev figures: mean xx→en top-1 on the trainer's held-out dev pairs (the same
seeded split `mineshaft train` used: --dev-size/--max-pairs/--seed as recorded in the student's
train_config.json) and cross-lingual STS-b *dev* Spearman ×100 (sentence1 in de/fr/es/ru/zh/ja,
sentence2 in en). No test split is read. Then two choices of α: the best mean of the two, and the largest α
within TOLERANCE points of α = 0 (the starting model) on STS-b dev and on the languages the start knew
(give 0 among --alphas for it): the weight for a default that must not regress.

``--news-dev DIR`` (``benchmarks/news_dev.py``'s held-out news pairs, ``DIR/news-dev`` and ``DIR/train``) adds
the dev mining task of the product: each language's held-out news pairs hidden among news sentences of the
training copy, mined with the defaults; the column is the mean oracle F1 over the languages (and the same for
USE v3 itself, ``--news-baseline use``, to see what an α costs the known languages' mining).

``--pooled`` adds a harder dev retrieval for the languages the start did not know (``pooled_dev.py``'s): each of
their dev sentences searches the English of *every* language's dev pairs (about 4,400 distinct sentences with 50
languages and --dev-size 100, against about 100 in its own file; Tatoeba's test searches about 1,000).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from pooled_dev import pooled_hits

from mineshaft.encoders import load_encoder
from mineshaft.evaluate import sts_eval
from mineshaft.languages import encoder_languages, pair_file_language
from mineshaft.training.data import read_pair_files
from mineshaft.training.interpolate import interpolate
from mineshaft.training.trainer import dev_accuracy

STS = ["de", "fr", "es", "ru", "zh", "ja"]
#: points of dev STS-b / dev accuracy on the start's languages an interpolation may lose and still "keep" them
TOLERANCE = 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("student", help="a directory written by mineshaft train")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--init", help="starting model (default: the student's train_config.json)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--news-dev", type=Path, help="benchmarks/news_dev.py --out DIR")
    ap.add_argument("--news-baseline", help="also print the news dev F1 of this encoder (e.g. use)")
    ap.add_argument("--pooled", action="store_true",
                    help="add xx→en top-1 of the start's new languages against every dev English sentence")
    ap.add_argument("--pooled-english", help="--pooled with the English encoded by this encoder (the known part "
                                             "of a routed model, e.g. mineshaft-use-soft)")
    a = ap.parse_args()
    data = Path(a.data)
    cfg = json.loads((Path(a.student) / "train_config.json").read_text())
    pairs = [p if Path(p).is_file() else str(data / "train" / Path(p).name) for p in cfg["pairs"]]
    _, dev = read_pair_files(pairs, cfg["dev_size"], cfg["max_pairs"], cfg["seed"], cfg.get("dev_split", "row"))
    start = a.init or cfg["student"]
    known = set((encoder_languages(start) or {"languages": []})["languages"])
    news = news_tasks(a.news_dev) if a.news_dev else []
    a.pooled = a.pooled or a.pooled_english is not None
    english = load_encoder(a.pooled_english, device="cpu") if a.pooled_english else None
    if a.news_baseline and news:
        f1 = news_f1(load_encoder(a.news_baseline, device="cpu"), news)
        print(f"news dev F1 of {a.news_baseline}: mean {np.mean(list(f1.values())):.2f} "
              + " ".join(f"{k} {v:.1f}" for k, v in f1.items()))
    print("| α | dev xx→en | of it: languages the start knew | the others | STS-b dev xx-en | mean |"
          + (" news dev F1 |" if news else "") + (" pooled xx→en, the others |" if a.pooled else ""))
    print("|---|---|---|---|---|---|" + ("---|" if news else "") + ("---|" if a.pooled else ""))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for alpha in a.alphas:
            out = Path(tmp) / f"a{alpha}"
            interpolate(a.student, out, alpha, init=a.init)
            enc = load_encoder(str(out), device="cpu")
            res = dev_accuracy(enc, dev)
            acc = 100 * res["mean_xx2en"]
            split = {True: [], False: []}
            for name, r in res.items():
                if isinstance(r, dict):
                    split[pair_file_language(name) in known].append(100 * r["xx2en"])
            part = [f"{np.mean(v):.2f}" if v else "—" for v in (split[True], split[False])]
            sts = float(np.mean([sts_eval(data / "eval/stsb" / f"stsb-{lang}-dev.csv",
                                          data / "eval/stsb/stsb-en-dev.csv", enc)["spearman"] for lang in STS]))
            cell = ""
            if news:
                f1 = news_f1(enc, news)
                cell = f" {np.mean(list(f1.values())):.2f} ({' '.join(f'{k} {v:.1f}' for k, v in f1.items())}) |"
            if a.pooled:
                hits = pooled_hits(enc, dev, english)
                cell += f" {100 * np.mean([h.mean() for k, h in hits.items() if pair_file_language(k) not in known]):.2f} |"
            print(f"| {alpha:g} | {acc:.2f} | {part[0]} | {part[1]} | {sts:.2f} | {(acc + sts) / 2:.2f} |{cell}",
                  flush=True)
            print(f"done: α={alpha:g}", file=sys.stderr)
            rows[alpha] = (acc, np.mean(split[True]) if split[True] else np.nan, sts)
    print(f"\nbest mean of dev xx→en and STS-b dev: α = {max(rows, key=lambda x: rows[x][0] + rows[x][2]):g}")
    if 0.0 in rows:  # the largest α that keeps what the start knew (its languages and STS-b dev within TOLERANCE)
        keep = [x for x, (_, kn, sts) in rows.items()
                if sts >= rows[0.0][2] - TOLERANCE and not kn < rows[0.0][1] - TOLERANCE]
        print(f"largest α within {TOLERANCE} of α = 0 on STS-b dev and on the start's languages: α = {max(keep):g}")


def news_tasks(root: Path) -> list[tuple[str, list[str], list[str], list[tuple[int, int]]]]:
    """The news dev mining tasks: (language, xx sentences, English sentences, gold (xx row, en row))."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from news_dev import dev_task

    out = []
    for held in sorted((root / "news-dev").glob("en-*.tsv")):
        lang = held.stem.split("-", 1)[1]
        n = sum(1 for _ in held.open(encoding="utf-8"))
        xs, es, gold = dev_task(held, root / "train" / held.name, min(n, 300), 1500)
        out.append((lang, xs, es, gold))
    return out


def news_f1(encoder, tasks) -> dict[str, float]:
    """Oracle F1 (×100) of each news dev task mined with the defaults (k 4, ratio margin, max mode)."""
    from mineshaft.evaluate import best_threshold
    from mineshaft.mining.mine import mine_with_fit

    res = {}
    for lang, xs, es, gold in tasks:
        pairs, _ = mine_with_fit(encoder.encode(xs), encoder.encode(es))
        g = set(gold)
        correct = np.array([(int(s), int(t)) in g for s, t in zip(pairs.src, pairs.tgt)], bool)
        res[lang] = 100 * best_threshold(pairs.score, correct, len(gold)).f1
    return res


if __name__ == "__main__":
    main()
