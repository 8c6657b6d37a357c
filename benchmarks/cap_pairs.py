"""Copy pair files, each capped at N lines drawn at random (seeded): how much of a large source enters training.

    python benchmarks/cap_pairs.py SRC_DIR OUT_DIR [--max-lines 5000] [--seed 0]

A file of at most N lines is copied whole; a longer one becomes ``random.Random(seed).sample(lines, N)`` (in
the sample's order). Used for ``../shared/data/extra`` and the Debian pairs of ``debian_pairs.py``
(docs/fifty-languages.md, 2026-12-06).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def capped(lines: list[str], max_lines: int, seed: int) -> list[str]:
    """All of ``lines``, or ``max_lines`` of them drawn without replacement with ``seed``."""
    return lines if len(lines) <= max_lines else random.Random(seed).sample(lines, max_lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-lines", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    files = sorted(a.src.glob("en-*.tsv"))
    if not files:
        raise SystemExit(f"{a.src}: no en-XX.tsv pair files")
    a.out.mkdir(parents=True, exist_ok=True)
    for f in files:
        lines = capped(f.read_text(encoding="utf-8").splitlines(), a.max_lines, a.seed)
        (a.out / f.name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"{f.name}\t{len(lines)}")


if __name__ == "__main__":
    main()
