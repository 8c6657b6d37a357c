"""Calibrate a model's ratio-margin mining threshold on DEV data and write it to MODEL/mining.json.

    python benchmarks/calibrate_threshold.py default [--write] [--data ../shared/data] [--cache DIR]

The dev mining task is built from ../shared/data/train (never from eval/): for each of it, pt, nl, pl,
tr, ar (languages USE v3 was trained on, the shipped student was not fine-tuned on), 200 translation
pairs are hidden among 2,500 other sentences of each side taken from other rows of the same file
(~7% gold, like the BUCC-style sets). A row is used at most once and only if neither of its sides
appeared before (Tatoeba repeats sentences), so a distractor has no translation on the other side.
Both sides are mined with the defaults (k=4, ratio margin, max mode); the threshold is the one that
maximizes the mean F1 over the six languages. Also prints --threshold auto's F1 on the same tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import unicodedata
from pathlib import Path

import numpy as np

from mineshaft.encoders import load_encoder, resolve_default
from mineshaft.encoders.digest import model_digest
from mineshaft.evaluate import best_threshold, f1_at
from mineshaft.mining.mine import mine_with_fit, text_clues
from mineshaft.mining.threshold import DIGEST_KEY, MINING_FILE, auto_threshold, calibrated_threshold, model_dir_of

LANGS = ["it", "pt", "nl", "pl", "tr", "ar"]
N_GOLD, N_DISTRACT, SEED = 200, 2500, 0
#: news-like dev tasks (auto threshold only) from the WMT newstest rows of train/: (lang, n_gold, n_distract a side)
NEWS = [("de", 150, 1250), ("ru", 250, 1950)]


def _key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def dev_task(path: Path, seed: int = SEED, n_gold: int = N_GOLD, n_distract: int = N_DISTRACT,
             source: str = "") -> tuple[list[str], list[str], int]:
    """(xx sentences, en sentences, n_gold): rows 0..n_gold-1 of both lists are the translation pairs.

    ``source``: use only rows whose source tag (column 3) starts with it (e.g. ``"wmt:"``)."""
    rows = [line.rstrip("\n").split("\t") for line in path.open(encoding="utf-8")]
    rows = [r for r in rows if len(r) > 2 and r[2].startswith(source)] if source else rows
    random.Random(seed).shuffle(rows)
    seen, picked = set(), []
    for en, xx, *_ in rows:
        ke, kx = "en:" + _key(en), "xx:" + _key(xx)
        if not ke[3:] or not kx[3:] or ke in seen or kx in seen:
            continue
        seen.update((ke, kx))
        picked.append((en, xx))
        if len(picked) == n_gold + 2 * n_distract:
            break
    if len(picked) < n_gold + 2 * n_distract:
        raise SystemExit(f"{path}: only {len(picked)} usable rows for {n_gold} + 2 x {n_distract}")
    gold = picked[:n_gold]
    xx_only = [xx for _, xx in picked[n_gold : n_gold + n_distract]]
    en_only = [en for en, _ in picked[n_gold + n_distract :]]
    return [xx for _, xx in gold] + xx_only, [en for en, _ in gold] + en_only, len(gold)


def news_dev_tasks(root: Path) -> list[tuple[str, list[str], list[str], int]]:
    """``benchmarks/news_dev.py``'s held-out news pairs as tasks: (key, xx sentences, English sentences, n_gold),
    rows 0..n_gold-1 of both lists the translation pairs (the order ``dev_candidates`` expects)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from news_dev import dev_task

    out = []
    for held in sorted((root / "news-dev").glob("en-*.tsv")):
        n = sum(1 for _ in held.open(encoding="utf-8"))
        xs, es, gold = dev_task(held, root / "train" / held.name, min(n, 300), 1500)
        gx, ge = [i for i, _ in gold], [j for _, j in gold]
        rest_x = sorted(set(range(len(xs))) - set(gx))
        rest_e = sorted(set(range(len(es))) - set(ge))
        out.append((f"news-{held.stem.split('-', 1)[1]}", [xs[i] for i in gx + rest_x], [es[j] for j in ge + rest_e],
                    len(gold)))
    return out


def dev_candidates(encoder_name: str, data: Path, cache: Path, news: bool = False, news_dev: Path | None = None):
    """For each dev language: (scores, correct, n_gold) of the default mining run.

    ``news``: the news-like tasks of :data:`NEWS` instead (keys ``news-XX``). Vectors are cached in ``cache`` under
    the model digest of the encoder's files, so other weights under the same name are encoded anew."""
    enc, out = None, {}
    stem = f"{Path(encoder_name).name}-{model_digest(encoder_name)}"
    tasks = ([(f"news-{lang}", lang, dict(n_gold=g, n_distract=d, source="wmt:")) for lang, g, d in NEWS] if news
             else [(lang, lang, {}) for lang in LANGS])
    ready = {key: (xx, en, n) for key, xx, en, n in news_dev_tasks(news_dev)} if news_dev else {}
    if ready:
        tasks = [(key, None, None) for key in ready]
    for key, lang, kw in tasks:
        xx, en, n_gold = ready[key] if ready else dev_task(data / "train" / f"en-{lang}.tsv", **kw)
        vecs = []
        for side, texts in (("xx", xx), ("en", en)):
            f = cache / f"{stem}.dev-{key}.{side}.npy"
            if not f.is_file():
                enc = enc or load_encoder(encoder_name, device="cpu")
                np.save(str(f) + ".tmp.npy", enc.encode(texts, batch_size=64).astype(np.float32))
                os.replace(str(f) + ".tmp.npy", f)
            vecs.append(np.load(f))
        pairs, fit = mine_with_fit(vecs[0], vecs[1], **text_clues(xx, en))
        correct = (pairs.src == pairs.tgt) & (pairs.src < n_gold)
        out[key] = (pairs.score.astype(np.float64), correct, n_gold, auto_threshold(pairs.score, fit))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoder", nargs="?", default="default")
    ap.add_argument("--write", action="store_true", help="write MODEL/mining.json (a model directory)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--cache", default="/tmp/thr/emb")
    ap.add_argument("--news-dev", type=Path, help="calibrate on benchmarks/news_dev.py's held-out news pairs "
                    "(for a model trained on those languages' other pairs: the default tasks would be its training rows)")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    weights = model_digest(a.encoder)  # the calibration describes these weights only (mine checks it)
    runs = dev_candidates(a.encoder, Path(a.data), cache, news_dev=a.news_dev)
    if model_digest(a.encoder) != weights:
        raise SystemExit(f"{a.encoder}: its model files changed during the calibration; run it again")
    grid = np.round(np.arange(1.0, 2.0, 0.005), 3)
    mean_f1 = [np.mean([f1_at(s, c, g, t).f1 for s, c, g, _ in runs.values()]) for t in grid]
    best = float(grid[int(np.argmax(mean_f1))])
    now = calibrated_threshold(model_dir_of(a.encoder), 4, "ratio", "max")  # the model's threshold before this run
    print("| lang | gold | candidates | oracle F1 (thr) | F1 at calibrated | auto F1 (thr) | F1 at the current threshold |")
    print("|---|---|---|---|---|---|---|")
    per_lang = {}
    for lang, (s, c, g, t_auto) in runs.items():
        o, at = best_threshold(s, c, g), f1_at(s, c, g, best)
        au = f1_at(s, c, g, t_auto)
        per_lang[lang] = {"oracle_f1": round(100 * o.f1, 2), "oracle_threshold": round(o.threshold, 4),
                          "f1": round(100 * at.f1, 2), "auto_f1": round(100 * au.f1, 2)}
        current = f"{100 * f1_at(s, c, g, now).f1:.2f} ({now:.3f})" if now is not None else "–"
        print(f"| {lang} | {g} | {len(s)} | {100 * o.f1:.2f} ({o.threshold:.3f}) | {100 * at.f1:.2f} "
              f"| {100 * au.f1:.2f} ({t_auto:.3f}) | {current} |")
    autos = [f1_at(s, c, g, t).f1 for s, c, g, t in runs.values()]
    print(f"calibrated threshold {best} (mean dev F1 {100 * max(mean_f1):.2f}; auto {100 * np.mean(autos):.2f})")
    if a.write:
        model = model_dir_of(a.encoder)
        if model is None:
            raise SystemExit(f"{a.encoder}: not a model directory")
        chosen_on = (f"dev mining tasks built from shared/data/train/en-{{{','.join(LANGS)}}}.tsv (Tatoeba test "
                     f"sets, no eval/ file): {N_GOLD} translation pairs a language hidden among {N_DISTRACT} "
                     f"other sentences per side, seed {SEED}; the threshold (grid step 0.005) maximizing the "
                     "mean F1 over the languages, exact search")
        caveat = ("short everyday Tatoeba sentences, languages the student was not fine-tuned on; "
                  "news-like text may want a slightly different cut (see --threshold auto)")
        if a.news_dev:
            chosen_on = ("dev mining tasks of held-out news pairs of shared/data/train (benchmarks/news_dev.py: WMT "
                         "newstest de/es/fr/ru/zh and JHE ko rows the model was not trained on, no eval/ file), up to "
                         "300 a language among news sentences of the training copy; the threshold (grid step 0.005) "
                         "maximizing the mean F1 over the languages, exact search")
            caveat = "news text in six languages USE knows; other text may want another cut (see --threshold auto)"
        card = {
            "thresholds": [{"k": 4, "margin": "ratio", "mode": "max", "threshold": best}],
            "chosen_on": chosen_on,
            "caveat": caveat,
            "dev_mean_f1": round(100 * max(mean_f1), 2),
            "dev": per_lang,
            "encoder": resolve_default(a.encoder),
            DIGEST_KEY: weights,
            "command": f"python benchmarks/calibrate_threshold.py {a.encoder} --write"
                       + (" --news-dev runs/data" if a.news_dev else ""),
        }
        (model / MINING_FILE).write_text(json.dumps(card, indent=2) + "\n")
        print(f"written to {model / MINING_FILE}")


if __name__ == "__main__":
    main()
