"""F1 of `mine`'s thresholds on the BUCC-style test pairs: oracle, --threshold auto, the model's calibrated one.

    python benchmarks/threshold_table.py --encoder use default [--data ../shared/data] [--cache DIR]
        [--no-length-clue] [--no-number-clue]

Each side is encoded once per encoder (cached as .npy under --cache) and mined with the defaults
(k=4, ratio margin, max mode, exact search). Oracle: the threshold tuned on all gold
(evaluate.best_threshold), an upper bound no threshold chosen without gold can beat; it is also optimistic,
since it is tuned and scored on the same gold. Two-fold: the BUCC protocol (`mineshaft eval --bucc`), each half
scored at the threshold tuned on the other half's gold: what a threshold set with gold achieves on pairs it
was not tuned on. This reads test splits: it reports, it must not be used to choose anything.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from mineshaft.encoders import load_encoder
from mineshaft.encoders.digest import model_digest
from mineshaft.evaluate import best_threshold, f1_at, read_bucc, two_fold, two_fold_halves
from mineshaft.mining.mine import mine_with_fit, text_clues
from mineshaft.mining.threshold import auto_threshold, calibrated_threshold, model_dir_of

PAIRS = ["de", "fr", "es", "ru", "zh", "ja", "ko"]


def vectors(enc_name: str, path: Path, texts: list[str], cache: Path, enc_box: dict) -> np.ndarray:
    out = cache / f"{Path(enc_name).name}-{model_digest(enc_name)}.{path.name}.npy"  # other weights, other file
    if out.is_file():
        return np.load(out)
    if "enc" not in enc_box:
        enc_box["enc"] = load_encoder(enc_name, device="cpu")
    x = enc_box["enc"].encode(texts, batch_size=64).astype(np.float32)
    np.save(str(out) + ".tmp.npy", x)
    os.replace(str(out) + ".tmp.npy", out)
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", nargs="+", default=["use", "default"])
    ap.add_argument("--pairs", nargs="+", default=PAIRS)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--cache", default="/tmp/thr/emb")
    ap.add_argument("--no-length-clue", action="store_true", help="auto's null model without the sentences' lengths")
    ap.add_argument("--no-number-clue", action="store_true", help="auto's null model without the sentences' numbers")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print("| encoder | pair | gold | candidates | oracle F1 (thr) | two-fold F1 | auto F1 (thr, kept) "
          "| calibrated F1 (thr, kept) |")
    print("|---|---|---|---|---|---|---|---|")
    for enc_name in a.encoder:
        box: dict = {}
        cal = calibrated_threshold(model_dir_of(enc_name), 4, "ratio", "max")
        for lang in a.pairs:
            prefix = Path(a.data) / "eval" / "bucc-style" / f"{lang}-en"
            task = read_bucc(prefix, lang)
            x = vectors(enc_name, Path(f"{prefix}.{lang}"), task.src_texts, cache, box)
            y = vectors(enc_name, Path(f"{prefix}.en"), task.tgt_texts, cache, box)
            clues = text_clues(task.src_texts, task.tgt_texts, not a.no_length_clue, not a.no_number_clue)
            pairs, fit = mine_with_fit(x, y, **clues)
            correct = task.correct(pairs)
            n_gold = len(task.gold)
            oracle = best_threshold(pairs.score, correct, n_gold)
            t_auto = auto_threshold(pairs.score, fit)
            auto = f1_at(pairs.score, correct, n_gold, t_auto)
            folds = two_fold(pairs.score, correct, *two_fold_halves(task, pairs))
            row = (f"| {enc_name} | {lang}-en | {n_gold} | {len(pairs)} | {100 * oracle.f1:.2f} ({oracle.threshold:.3f}) "
                   f"| {100 * np.mean([f.f1 for f in folds]):.2f} "
                   f"| {100 * auto.f1:.2f} ({t_auto:.3f}, {int((pairs.score >= t_auto).sum())}) ")
            if cal is not None:
                c = f1_at(pairs.score, correct, n_gold, cal)
                row += f"| {100 * c.f1:.2f} ({cal:.3f}, {int((pairs.score >= cal).sum())}) |"
            else:
                row += "| – |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
