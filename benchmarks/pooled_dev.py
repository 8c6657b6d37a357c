"""A harder dev figure: each held-out pair ranked among the held-out English sentences of *all* files.

    python benchmarks/pooled_dev.py MODEL [MODEL ...] [--data ../shared/data] [--dev-size 100] [--seed 0]

The trainer's dev ranks each pair among its own file's ~100 held-out pairs, which is kind to a model (Tatoeba
ranks among ~1,000); pooling the 50 files' held-out English sentences gives ~4,400 candidates. The split is the
trainer's (`mineshaft train --dev-size N --seed S`, held out by sentence), so no test split is read and no
training pair is scored. Prints top-1 xx→en, mean over languages: all, those new to USE v3, USE's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mineshaft.encoders import load_encoder
from mineshaft.languages import encoder_languages
from mineshaft.train import read_pair_files


def pooled_accuracy(model: str, files: list[str], dev_size: int, seed: int) -> dict[str, float]:
    """Per-file top-1 xx→en among the distinct held-out English sentences of all ``files``."""
    _, dev = read_pair_files(files, dev_size, None, seed, "sentence")
    pool = sorted(set(dev.a))
    where = {t: i for i, t in enumerate(pool)}
    enc = load_encoder(model, device="cpu")
    en, xx = enc.encode(pool, batch_size=256), enc.encode(dev.b, batch_size=256)
    hit = np.argmax(xx @ en.T, axis=1) == np.array([where[t] for t in dev.a])
    return {name: float(hit[dev.lang == i].mean()) for i, name in enumerate(dev.langs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--dev-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    files = sorted(str(p) for p in Path(args.data, "train").glob("en-*.tsv"))
    known = set(encoder_languages("use")["languages"])
    print("| model | pooled dev xx→en all | new to USE | USE's |\n|---|---|---|---|")
    for model in args.models:
        acc = pooled_accuracy(model, files, args.dev_size, args.seed)
        new = [v for k, v in acc.items() if k.split("-", 1)[1] not in known]
        old = [v for k, v in acc.items() if k.split("-", 1)[1] in known]
        print(f"| {model} | {100 * np.mean(list(acc.values())):.2f} | {100 * np.mean(new):.2f} ({len(new)}) "
              f"| {100 * np.mean(old):.2f} ({len(old)}) |", flush=True)


if __name__ == "__main__":
    main()
