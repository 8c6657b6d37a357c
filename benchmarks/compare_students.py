"""Evaluate encoders side by side on the held-out test sets and print one markdown table.

    python benchmarks/compare_students.py use models/mineshaft-use-soft runs/hard ... [--data ../shared/data]

Tatoeba (7 languages) and FLORES-200 devtest (7) top-1 retrieval xx→en / en→xx, cross-lingual STS-b test
(sentence1 in xx, sentence2 in en; 6 languages) Spearman ×100. Each encoder goes through
`mineshaft eval --json`, so the figures are exactly what the CLI reports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TATOEBA = ["deu", "fra", "spa", "rus", "cmn", "jpn", "kor"]
FLORES = ["deu_Latn", "fra_Latn", "spa_Latn", "rus_Cyrl", "zho_Hans", "jpn_Jpan", "kor_Hang"]
STS = ["de", "fr", "es", "ru", "zh", "ja"]


def evaluate(encoder: str, data: Path, out: Path) -> dict:
    args = [sys.executable, "-m", "mineshaft", "eval", "--encoder", encoder, "--json", str(out), "--force", "-q"]
    args += [a for lang in TATOEBA for a in ("--tatoeba", str(data / "eval/tatoeba" / f"tatoeba.{lang}-eng"))]
    args += [a for lang in FLORES for a in ("--flores", str(data / "eval/flores200" / f"{lang}.devtest"))]
    args += [a for lang in STS for a in ("--sts", str(data / "eval/stsb" / f"stsb-{lang}-test.csv"))]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoders", nargs="+", help="encoder names or model directories (label=path to rename)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--json", help="write all summaries here")
    a = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(a.encoders):
            label, _, enc = spec.rpartition("=") if "=" in spec else (spec, "", spec)
            rows[label] = summarize(evaluate(enc, Path(a.data), Path(tmp) / f"{i}.json")["results"])
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
