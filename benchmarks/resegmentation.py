"""How much text in the languages a model knew is tokenized differently after `mineshaft extend-vocab`.

    python benchmarks/resegmentation.py [MODEL] [FILE ...] [--pairs DIR [--no-eval]] [--data ../shared/data]

MODEL (default ``mineshaft-use-50``) is a USE-port model made by extend-vocab; its ``vocab_extension.json`` names
the model it extended (the base: ``use``) and which of its ids are new. Every distinct non-empty line of each
FILE (one sentence a line) is tokenized by the base's SentencePiece model and by MODEL's; a line is
*re-segmented* when the ids differ. Lines in which the base finds an unknown character change by design (the
new pieces cover those characters) and are counted apart; the rate reported is over the others, the lines
whose ids extend-vocab promises to keep.

Without FILE: the FLORES-200 devtest files and the BUCC-style files (both sides) of the base's languages and
English under ``DATA/eval`` — a measurement only, nothing is chosen from it. ``--pairs DIR``: also the
training pairs (``en-XX.tsv``): the English column of every file and the other column of the files in the
base's languages, as extend-vocab checked its word pieces against. Prints a Markdown table and the added
pieces found in most re-segmented lines.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from mineshaft.encoders.use_tokens import UNK_ID, USETokenizer
from mineshaft.encoders.use_tokens import use_sp_model
from mineshaft.languages import BUILTIN_LANGUAGES, encoder_languages, normalize_language, pair_file_language
from mineshaft.training.extension import EXTENSION_FILE
from mineshaft.training.vocab import expand_files, read_texts, resolve_model

#: FLORES-200 file names of USE v3's languages (zh-tw has no file of its own)
FLORES = {"ar": "arb_Arab", "de": "deu_Latn", "en": "eng_Latn", "es": "spa_Latn", "fr": "fra_Latn",
          "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang", "nl": "nld_Latn", "pl": "pol_Latn",
          "pt": "por_Latn", "ru": "rus_Cyrl", "th": "tha_Thai", "tr": "tur_Latn", "zh": "zho_Hans"}


def tokenizers(model: str) -> tuple[USETokenizer, USETokenizer, dict]:
    """(base tokenizer, extended tokenizer, the extension record) of a model made by extend-vocab."""
    kind, directory = resolve_model(model)
    if kind != "use" or directory is None or not (directory / EXTENSION_FILE).is_file():
        raise SystemExit(f"{model}: not a USE-port model written by mineshaft extend-vocab")
    record = json.loads((directory / EXTENSION_FILE).read_text())
    base_kind, base_dir = resolve_model(record["model"])
    if base_kind != "use":
        raise SystemExit(f"{model}: extends {record['model']}, not a USE-port model")
    return USETokenizer(use_sp_model(base_dir)), USETokenizer(use_sp_model(directory)), record


def measure(lines: list[str], old: USETokenizer, new: USETokenizer, first_new: int) -> tuple[dict, Counter]:
    """Counts for one set of lines, and the new pieces found in its re-segmented lines (unknown-free ones)."""
    a, b = old.encode(lines), new.encode(lines)
    unk = changed = changed_unk = 0
    culprits: Counter = Counter()
    for ra, rb in zip(a, b):
        has_unk = UNK_ID in ra[1:-1]
        unk += has_unk
        if ra == rb:
            continue
        if has_unk:
            changed_unk += 1
            continue
        changed += 1
        culprits.update({i for i in rb if i >= first_new})
    covered = len(lines) - unk
    return {"lines": len(lines), "with_unk": unk, "changed_with_unk": changed_unk, "covered": covered,
            "resegmented": changed, "rate": changed / max(covered, 1)}, culprits


def default_files(data: Path, langs: set[str]) -> list[Path]:
    flores = [data / "eval" / "flores200" / f"{FLORES[x]}.devtest" for x in sorted(langs) if x in FLORES]
    bucc = sorted(p for p in (data / "eval" / "bucc-style").glob("*-en.*")
                  if p.suffix != ".gold" and normalize_language(p.suffix[1:]) in langs)
    return [p for p in flores + bucc if p.is_file()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default="mineshaft-use-50")
    ap.add_argument("files", nargs="*", help="text files, one sentence a line (default: FLORES and BUCC-style)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--pairs", help="a directory of en-XX.tsv training pairs to measure too")
    ap.add_argument("--no-eval", action="store_true", help="without FILE, measure --pairs only")
    ap.add_argument("--top", type=int, default=12, help="added pieces to list")
    a = ap.parse_args()
    old, new, record = tokenizers(a.model)
    first_new = int(record["first_new_id"])
    # a word piece is made of characters the base's pieces have (the others hold a character new to it)
    known_chars = {ch for i in range(old.vocab_size) for ch in old.sp.id_to_piece(i)}
    is_word = {i: set(new.sp.id_to_piece(i)) <= known_chars for i in range(first_new, new.vocab_size)}
    base = encoder_languages(record["model"]) or {"languages": list(BUILTIN_LANGUAGES["use"])}
    langs = {normalize_language(x) for x in base["languages"]} | {"en"}
    sets: dict[str, list[str]] = {}
    for f in [Path(p) for p in a.files] or ([] if a.no_eval else default_files(Path(a.data), langs)):
        text = f.read_text(encoding="utf-8", errors="replace").splitlines()
        sets[str(f.relative_to(a.data)) if f.is_relative_to(a.data) else str(f)] = list(dict.fromkeys(
            t.split("\t", 1)[1] if "\t" in t else t for t in text if t.strip()))  # BUCC lines: id<TAB>text
    if a.pairs:
        files = expand_files([a.pairs], "*.tsv")
        english = read_texts(files, column=1, per_file=None)
        known = read_texts([f for f in files if pair_file_language(f) in langs], column=2, per_file=None)
        sets["training pairs: English column"] = list(dict.fromkeys(t for v in english.values() for t in v))
        sets["training pairs: known languages' column"] = list(dict.fromkeys(t for v in known.values() for t in v))
    print(f"{a.model} against {record['model']}: ids from {first_new} are new, {sum(is_word.values()):,} of them "
          "word pieces (made of characters the base has)\n")
    print("| text | distinct lines | with an unknown character (USE) | re-segmented, of the others | rate |")
    print("|---|---|---|---|---|")
    total: Counter = Counter()
    culprits: Counter = Counter()
    for name, lines in sets.items():
        r, c = measure(lines, old, new, first_new)
        culprits.update(c)
        total.update({k: r[k] for k in ("lines", "with_unk", "covered", "resegmented")})
        print(f"| {name} | {r['lines']:,} | {r['with_unk']:,} | {r['resegmented']:,} of {r['covered']:,} | "
              f"{100 * r['rate']:.2f}% |")
    print(f"| all | {total['lines']:,} | {total['with_unk']:,} | {total['resegmented']:,} of {total['covered']:,} | "
          f"{100 * total['resegmented'] / max(total['covered'], 1):.2f}% |")
    words = sum(n for i, n in culprits.items() if is_word[i])
    print(f"\nadded pieces in re-segmented lines: {len(culprits)} distinct, "
          f"{sum(1 for i in culprits if is_word[i])} of them word pieces ({words} of {sum(culprits.values())} "
          "occurrences); most frequent:")
    print(", ".join(f"{new.sp.id_to_piece(i)} ({n})" for i, n in culprits.most_common(a.top)))


if __name__ == "__main__":
    main()
