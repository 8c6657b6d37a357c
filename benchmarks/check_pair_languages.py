"""Is each training file in the language its name says? A character-trigram check against the Tatoeba test sets.

    python benchmarks/check_pair_languages.py [--data ../shared/data] [--lines 3000]

For every ``train/en-XX.tsv`` the other side's character-trigram profile (lower-cased, the first ``--lines``
lines) is compared (cosine) with that of every ``eval/tatoeba/tatoeba.YYY-eng.YYY``; a file whose own
language is not the nearest is flagged. It reads the test sets' text only to name a language, never to train
or choose anything. It found that ``en-sl.tsv`` (1,172 pairs, "Slovenian") is Slovak: 75% of its lines hold
letters Slovenian does not use (ä ô ľ ĺ ŕ ť ď ý and the acute vowels), 0.2% of Tatoeba's Slovenian lines do,
and its profile is nearer Czech than Slovenian. Exit status 1 when a file is flagged.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

from mineshaft.languages import normalize_language, pair_file_language



def profile(lines: list[str]) -> dict[str, float]:
    """Unit-length character-trigram counts of ``lines`` (lower-cased, padded with a space)."""
    counts: Counter = Counter()
    for line in lines:
        text = f" {line.strip().lower()} "
        counts.update(text[i:i + 3] for i in range(len(text) - 2))
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    return {k: v / norm for k, v in counts.items()}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--lines", type=int, default=3000, help="lines of each file to profile")
    args = ap.parse_args()
    data = Path(args.data)
    tests = {}
    for path in sorted((data / "eval/tatoeba").glob("tatoeba.*-eng.eng")):
        code = path.name.split(".")[1].split("-")[0]  # Tatoeba's code (ces, lvs, cmn, ...)
        text = path.with_suffix(f".{code}").read_text(encoding="utf-8")
        tests[normalize_language(code)] = profile(text.splitlines())
    flagged = 0
    for path in sorted((data / "train").glob("en-*.tsv")):
        lang = pair_file_language(path)
        with path.open(encoding="utf-8") as f:
            lines = [row.split("\t")[1] for _, row in zip(range(args.lines), f)]
        mine = profile(lines)
        ranked = sorted(((cosine(mine, t), code) for code, t in tests.items()), reverse=True)
        nearest = ", ".join(f"{code} {sim:.3f}" for sim, code in ranked[:3])
        bad = lang in tests and ranked[0][1] != lang
        flagged += bad
        print(f"{path.name}\t{nearest}" + ("\tNOT ITS OWN LANGUAGE" if bad else ""))
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
