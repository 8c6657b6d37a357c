"""Evaluate encoders side by side on the held-out test sets and print markdown tables.

    python benchmarks/compare_students.py use models/mineshaft-use-soft runs/hard ... [--data ../shared/data]
    python benchmarks/compare_students.py --fifty use=use new=runs/fifty [--no-flores] [--per-language]

Default (the 7 original languages): Tatoeba (7) and FLORES-200 devtest (7) top-1 retrieval xx→en / en→xx,
cross-lingual STS-b test (sentence1 in xx, sentence2 in en; 6 languages) Spearman ×100.

``--fifty``: all 50 Tatoeba languages and FLORES devtest, grouped as docs/fifty-languages.md reports them (the 36
languages USE v3 was not trained on, all 50, the original 7, ita tur por nld pol ara tha), each mean with a 95%
bootstrap interval over sentences (resampled within each language, 1,000 replicates), then every encoder
against the first one: the mean difference with its paired 95% interval (the same resampled sentences for
both), "tie" where the interval holds 0. Each encoder goes through `mineshaft eval --json`, so the figures
are exactly what the CLI reports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from mineshaft.metrics import spearman_replicates
from mineshaft.metrics import bootstrap_means, interval

TATOEBA = ["deu", "fra", "spa", "rus", "cmn", "jpn", "kor"]
FLORES = ["deu_Latn", "fra_Latn", "spa_Latn", "rus_Cyrl", "zho_Hans", "jpn_Jpan", "kor_Hang"]
STS = ["de", "fr", "es", "ru", "zh", "ja"]
#: Tatoeba codes of the languages multilingual USE v3 was not trained on (docs/fifty-languages.md)
NEW36 = ("ces ukr hun ell dan fin heb mar swe mkd bul ron nob hin ind pes aze lit isl vie tgl ben bel slv urd lvs cat "
         "hrv tat afr est hye sqi eus glg epo").split()
OTHER7 = "ita tur por nld pol ara tha".split()
ALL50 = TATOEBA + OTHER7 + NEW36
#: FLORES-200 file of a Tatoeba code where the two differ
FLORES_NAME = {"cmn": "zho_Hans", "sqi": "als_Latn", "ara": "arb_Arab", "aze": "azj_Latn"}
GROUPS = {"new 36": NEW36, "all 50": ALL50, "original 7": TATOEBA, "ita…tha 7": OTHER7}


def flores_file(data: Path, lang: str) -> Path:
    if lang in FLORES_NAME:
        return data / "eval/flores200" / f"{FLORES_NAME[lang]}.devtest"
    return next((data / "eval/flores200").glob(f"{lang}_*.devtest"))


def evaluate(encoder: str, data: Path, out: Path, tatoeba: list[str], flores: list[Path]) -> list[dict]:
    args = [sys.executable, "-m", "mineshaft", "eval", "--encoder", encoder, "--json", str(out), "--force", "-q"]
    args += [a for lang in tatoeba for a in ("--tatoeba", str(data / "eval/tatoeba" / f"tatoeba.{lang}-eng"))]
    args += [a for path in flores for a in ("--flores", str(path))]
    args += [a for lang in STS for a in ("--sts", str(data / "eval/stsb" / f"stsb-{lang}-test.csv"))]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["results"]


def parse_spec(spec: str) -> tuple[str, str]:
    """``label=encoder`` (or a bare encoder, its own label) → (label, encoder)."""
    label, _, enc = spec.rpartition("=") if "=" in spec else (spec, "", spec)
    return label, enc


def summarize(results: list[dict]) -> dict:
    tat = [r for r in results if r["task"] == "tatoeba"]
    flo = [r for r in results if r["task"] == "flores200"]
    sts = [r for r in results if r["task"] == "sts-xx-en"]
    mean = lambda xs: 100 * sum(xs) / len(xs)  # noqa: E731
    row = {f"tatoeba {r['lang']}": 100 * r["xx2en"] for r in tat}
    row["tatoeba xx→en"] = mean([r["xx2en"] for r in tat])
    row["tatoeba en→xx"] = mean([r["en2xx"] for r in tat])
    row["flores xx→en"] = mean([r["xx2en"] for r in flo])
    row["flores en→xx"] = mean([r["en2xx"] for r in flo])
    row["sts-b xx-en"] = sum(r["spearman"] for r in sts) / len(sts)
    return row


# ----------------------------------------------------------------------------- --fifty
def hits(results: list[dict], task: str, langs: list[str], direction: str) -> list[np.ndarray] | None:
    """Per-sentence 0/1 of ``direction`` for ``langs`` of ``task`` (None if a language is missing)."""
    by = {}
    for r in results:
        if r["task"] == task:
            code = r["lang"] if task == "tatoeba" else next((t for t in ALL50 if flores_match(t, r["lang"])), None)
            by[code] = np.frombuffer(r["hits"][direction].encode(), np.uint8) - ord("0")
    return [by[x] for x in langs] if all(x in by for x in langs) else None


def flores_match(tatoeba_code: str, flores_lang: str) -> bool:
    name = FLORES_NAME.get(tatoeba_code)
    return flores_lang == name if name else flores_lang.startswith(tatoeba_code + "_")


def sts_pairs(results: list[dict]) -> list[np.ndarray]:
    return [np.stack([r["cosine"], r["gold"]], 1) for r in results if r["task"] == "sts-xx-en"]


def metrics(results: list[dict]) -> dict[str, tuple[list[np.ndarray], object]]:
    """name → (per-language samples, bootstrap statistic or None for a mean of 0/1)."""
    out = {}
    for task, label in (("tatoeba", "Tatoeba"), ("flores200", "FLORES")):
        for group, langs in GROUPS.items():
            for d, arrow in (("xx2en", "xx→en"), ("en2xx", "en→xx")):
                h = hits(results, task, langs, d)
                if h is not None and (task == "tatoeba" or group in ("new 36", "all 50")):
                    out[f"{label} {arrow} {group}"] = (h, None)
    if sts_pairs(results):
        out["STS-b xx-en (6)"] = (sts_pairs(results), spearman_replicates)
    return out


def fifty(a: argparse.Namespace, data: Path) -> None:
    langs = NEW36 if a.new_only else ALL50
    flores = [] if a.no_flores else [flores_file(data, x) for x in langs]
    res: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(a.encoders):
            label, enc = parse_spec(spec)
            cached = Path(a.cache) / f"{label}.json" if a.cache else None
            if cached and cached.is_file():
                res[label] = json.loads(cached.read_text())["results"]
            else:
                res[label] = evaluate(enc, data, Path(tmp) / f"{i}.json", langs, flores)
                if cached:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    cached.write_text(json.dumps({"encoder": enc, "results": res[label]}))
            print(f"done: {label}", file=sys.stderr)
    labels = list(res)
    ms = {label: metrics(r) for label, r in res.items()}
    names = [n for n in ms[labels[0]] if all(n in m for m in ms.values())]
    print("| metric | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    reps = {}
    for n in names:
        cells = []
        for label in labels:
            samples, stat = ms[label][n]
            reps[label, n] = r = bootstrap_means(samples, stat=stat, seed=a.seed)
            scale = 1 if stat else 100
            point = np.mean([s.mean() for s in samples]) if stat is None else np.mean(
                [stat(s, np.arange(len(s))[None])[0] for s in samples])
            lo, hi = interval(r)
            cells.append(f"{scale * point:.1f} ({scale * lo:.1f}–{scale * hi:.1f})")
        print(f"| {n} | " + " | ".join(cells) + " |")
    if len(labels) > 1:
        print(f"\nDifference from `{labels[0]}`, paired 95% bootstrap interval (tie: the interval holds 0):\n")
        print("| metric | " + " | ".join(labels[1:]) + " |")
        print("|---|" + "---|" * (len(labels) - 1))
        for n in names:
            scale = 1 if ms[labels[0]][n][1] else 100
            cells = []
            for label in labels[1:]:
                d = scale * (reps[label, n] - reps[labels[0], n])
                lo, hi = interval(d)
                verdict = "tie" if lo <= 0 <= hi else ("better" if lo > 0 else "worse")
                cells.append(f"{np.mean(d):+.1f} ({lo:+.1f}…{hi:+.1f}) {verdict}")
            print(f"| {n} | " + " | ".join(cells) + " |")
    if a.per_language:
        for label in labels:
            print(f"\nPer language, `{label}` (top-1 %, xx→en / en→xx):\n")
            print("| lang | Tatoeba | FLORES |\n|---|---|---|")
            tat = {r["lang"]: r for r in res[label] if r["task"] == "tatoeba"}
            flo = {t: r for r in res[label] if r["task"] == "flores200" for t in ALL50 if flores_match(t, r["lang"])}
            for x in ALL50:
                t, f = tat.get(x), flo.get(x)
                fmt = lambda r: f"{100 * r['xx2en']:.1f} / {100 * r['en2xx']:.1f}" if r else "—"  # noqa: E731
                print(f"| {x}{' *' if x in NEW36 else ''} | {fmt(t)} | {fmt(f)} |")
    if a.json:
        Path(a.json).write_text(json.dumps({label: {n: [float(v) for v in interval(reps[label, n])] for n in names}
                                            for label in labels}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoders", nargs="+", help="encoder names or model directories (label=path to rename)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--json", help="write all summaries here")
    ap.add_argument("--fifty", action="store_true", help="all 50 languages, grouped, with bootstrap intervals")
    ap.add_argument("--no-flores", action="store_true", help="--fifty without FLORES (Tatoeba and STS-b only)")
    ap.add_argument("--new-only", action="store_true", help="--fifty on the 36 new languages only (faster)")
    ap.add_argument("--per-language", action="store_true", help="--fifty: also a per-language table per encoder")
    ap.add_argument("--cache", help="--fifty: keep each encoder's eval JSON here as LABEL.json and reuse it")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a = ap.parse_args()
    data = Path(a.data)
    if a.fifty:
        return fifty(a, data)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(a.encoders):
            label, enc = parse_spec(spec)
            flores = [data / "eval/flores200" / f"{x}.devtest" for x in FLORES]
            rows[label] = summarize(evaluate(enc, data, Path(tmp) / f"{i}.json", TATOEBA, flores))
            print(f"done: {label}", file=sys.stderr)
    cols = list(next(iter(rows.values())))
    print("| encoder | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, row in rows.items():
        print(f"| {label} | " + " | ".join(f"{row[c]:.1f}" for c in cols) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
