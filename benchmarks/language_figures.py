"""Per-language retrieval accuracy of an encoder, as the ``retrieval`` records of ``quality.json`` hold them.

    python benchmarks/language_figures.py mineshaft-use-soft [--data ../shared/data] [--cache runs/figures]

Runs ``mineshaft eval --json`` on the Tatoeba test sets (``eval/tatoeba``) and FLORES-200 devtest
(``eval/flores200``) of the 50 languages of ``train/`` and prints, as JSON, top-1 accuracy xx→en in percent
(one decimal) per language, keyed by the codes :func:`mineshaft.languages.normalize_language` gives
(``ces`` → ``cs``, ``cmn`` → ``zh``). ``--cache``: keep the eval JSON as ENCODER.json and reuse it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from compare_students import ALL50, flores_file, flores_match

from mineshaft.languages import normalize_language


def run(encoder: str, data: Path, out: Path) -> list[dict]:
    args = [sys.executable, "-m", "mineshaft", "eval", "--encoder", encoder, "--json", str(out), "--force", "-q"]
    args += [a for lang in ALL50 for a in ("--tatoeba", str(data / "eval/tatoeba" / f"tatoeba.{lang}-eng"))]
    args += [a for lang in ALL50 for a in ("--flores", str(flores_file(data, lang)))]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["results"]


def figures(results: list[dict]) -> dict[str, dict[str, float]]:
    """``{"tatoeba": {code: accuracy}, "flores": {...}}``, xx→en, percent, one decimal."""
    out: dict[str, dict[str, float]] = {"tatoeba": {}, "flores": {}}
    for lang in ALL50:
        code = normalize_language(lang)
        for r in results:
            if r["task"] == "tatoeba" and r["lang"] == lang:
                out["tatoeba"][code] = round(100 * r["xx2en"], 1)
            if r["task"] == "flores200" and flores_match(lang, r["lang"]):
                out["flores"][code] = round(100 * r["xx2en"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoder", help="encoder name or model directory")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--cache", help="keep the eval JSON here as ENCODER.json and reuse it")
    a = ap.parse_args()
    cached = Path(a.cache) / f"{Path(a.encoder).name}.json" if a.cache else None
    if cached is not None and cached.is_file():
        results = json.loads(cached.read_text())["results"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(a.encoder, Path(a.data), Path(tmp) / "eval.json")
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps({"encoder": a.encoder, "results": results}))
    print(json.dumps(figures(results), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
