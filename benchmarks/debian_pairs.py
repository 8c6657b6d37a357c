"""More training pairs for the small languages: the human translations of software messages in Debian packages.

    python benchmarks/debian_pairs.py --out runs/debian-pairs [--langs af az ...] [--cache runs/debian-debs]

Downloads the packages below with ``apt-get download`` (the Debian archive is reachable where PyPI is), reads
every gettext catalogue (``*.mo``) they ship for the asked languages, and writes ``OUT/en-XX.tsv``
(``english<TAB>other<TAB>debian:PACKAGE``), the layout of ``../shared/data/train``. These are software messages
(LibreOffice's dialogs and extended tips, GNOME, Xfce, ...), not everyday sentences: a domain apart from Tatoeba.
Kept: messages of 3 to 40 English words with letters, no format specifiers, markup, paths or line breaks, the
accelerator marks (``_File``, ``~Open``, ``&Save``, ``(_F)``) removed, the translation different from the English;
one row per distinct (English, translation), none with a side equal to a sentence under ``--held-out`` (default
``../shared/data/eval``, compared as check-leakage does), at most ``--max-per-language`` of them (a seeded sample).
``OUT.manifest.tsv`` lists each package's version and rows. Run ``../shared/tools/check-leakage OUT`` before
training on it. Train with ``mineshaft train --pairs ../shared/data/train --extra-pairs OUT``: the extra rows join
the training side of their language and never its dev set.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gettext
import random
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Iterable, NamedTuple

#: the languages of ../shared/data/train with fewer than 2,000 pairs that USE v3 was not trained on
SMALL = "af az be bn ca et eu gl hr hy is lt lv sl sq tl tt ur vi".split()
#: packages with large, many-language catalogues (LibreOffice's per language, the rest hold them all)
COMMON = ("gnome-control-center-data gnome-shell-common evolution-common gimp-data inkscape vlc-l10n libgtk-3-common "
          "libglib2.0-data gnome-terminal-data nautilus-data gedit-common apt dpkg debconf tasksel-data pidgin-data "
          "gnucash-common audacity-data hexchat-common filezilla-common gparted synaptic tuxpaint-data xfce4-panel "
          "thunar-data mate-desktop-common cinnamon-l10n xfce4-settings gnome-software-common gnome-maps totem-common "
          "rhythmbox-data shotwell-common evince-common file-roller transmission-common brasero-common "
          "gnome-disk-utility baobab cheese-common gnome-calendar").split()

_BAD = re.compile(r"[%{}<>\\$|@\n\t]|://|\.\.\.\w|\b\w+\.(?:png|svg|txt|xml|html?)\b")
_ACCEL = [re.compile(r"\s*\(\s*[_&~]?[A-Za-z0-9]\s*\)"),          # "(_F)" after a translated label
          re.compile(r"[_~&](?=\w)")]                            # "_File", "~Open", "&Save"
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d_]+")


def clean(text: str) -> str | None:
    """The message without accelerator marks and extra space, or None when it is not plain text."""
    if _BAD.search(text):
        return None
    for pattern in _ACCEL:
        text = pattern.sub("", text)
    text = _SPACE.sub(" ", text).strip()
    return text or None


def keep(en: str, xx: str) -> bool:
    """A message worth a training pair: 3-40 English words, mostly letters, a real translation of sane length."""
    words = en.split()
    if not 3 <= len(words) <= 40 or not any(c.islower() for c in en):
        return False
    if sum(len(w) for w in _WORD.findall(en)) < 0.6 * len(en.replace(" ", "")):
        return False
    if not _WORD.search(xx) or xx.casefold() == en.casefold():
        return False
    return 0.33 <= len(xx) / len(en) <= 3.0


def catalogue_pairs(mo: Path) -> list[tuple[str, str]]:
    """(English, translation) of one gettext catalogue, singular messages only, context dropped."""
    try:
        with open(mo, "rb") as fh:
            catalogue = gettext.GNUTranslations(fh)._catalog  # noqa: SLF001 (the parsed table gettext keeps)
    except Exception:  # noqa: BLE001 (a catalogue gettext cannot parse, e.g. a broken Plural-Forms header, is skipped)
        return []
    out = []
    for key, value in catalogue.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            continue
        key = key.split("\x04", 1)[-1]
        en, xx = clean(key), clean(value)
        if en and xx and keep(en, xx):
            out.append((en, xx))
    return out


def key(text: str) -> str:
    """A sentence as check-leakage compares it: NFKC, casefolded, letters and digits only."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def held_out_keys(folder: Path) -> set[str]:
    """The keys (8 characters or more) of every sentence in the files under ``folder``: each line, each tab-separated
    field of it, and the first two cells of each CSV row."""
    keys: set[str] = set()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            cells = ([c for row in csv.reader(fh) for c in row[:2]] if path.suffix == ".csv"
                     else [c for line in fh for c in line.rstrip("\n").split("\t")])
        keys.update(k for k in map(key, cells) if len(k) >= 8)
    return keys


def locale_dirs(folders: list[Path], lang: str) -> list[Path]:
    """Those of the LC_MESSAGES ``folders`` that hold ``lang`` or ``lang_XX`` (variants such as ``ca@valencia`` left out)."""
    return [p for p in folders if p.parent.name == lang or re.fullmatch(rf"{lang}_[A-Z]{{2}}", p.parent.name)]


class Package(NamedTuple):
    """A downloaded package: its version and the folder it is unpacked in."""

    version: str
    root: Path


def fetch(packages: list[str], cache: Path) -> dict[str, Package]:
    """Download (once) and unpack each package that exists (``cache/x-NAME``); name -> :class:`Package`."""
    if not (shutil.which("apt-get") and shutil.which("apt-cache") and shutil.which("dpkg-deb")):
        sys.exit("debian_pairs.py needs apt-get, apt-cache and dpkg-deb (a Debian or Ubuntu machine)")
    cache.mkdir(parents=True, exist_ok=True)
    known = [p for p in packages  # a name with no package behind it (virtual, or only referred to) prints nothing
             if subprocess.run(["apt-cache", "show", p], capture_output=True, text=True).stdout.strip()]
    missing = [p for p in known if not list(cache.glob(f"{p}_*.deb"))]
    if missing:
        got = subprocess.run(["apt-get", "download", *missing], cwd=cache, capture_output=True, text=True)
        if got.returncode:
            sys.exit(f"apt-get download failed: {(got.stderr.strip().splitlines() or ['?'])[-1]}")
    out = {}
    for p in known:
        deb = sorted(cache.glob(f"{p}_*.deb"))[-1]
        root = cache / f"x-{p}"
        if not root.exists():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        out[p] = Package(deb.name.split("_")[1], root)
    return out


def held_out(folder: Path) -> set[str]:
    """:func:`held_out_keys` of ``folder``, exiting with a message when it holds none (a wrong ``--held-out``)."""
    held = held_out_keys(folder)
    if not held:
        sys.exit(f"no held-out sentences under {folder}")
    return held


def add_pairs(rows: dict[tuple[str, str], tuple[str, str, str]], pairs: Iterable[tuple[str, str]], tag: str,
              held: set[str]) -> None:
    """Add (English, translation) pairs to ``rows`` as ``debian:TAG`` rows, one per casefolded pair (the first
    source kept), none with a side among the ``held`` keys."""
    for en, xx in pairs:
        if key(en) not in held and key(xx) not in held:
            rows.setdefault((en.casefold(), xx.casefold()), (en, xx, f"debian:{tag}"))


def arguments(description: str, max_per_language: int) -> argparse.Namespace:
    """The options of a script that builds pair files from Debian packages (this one and help_pairs.py)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--langs", nargs="+", default=SMALL)
    ap.add_argument("--cache", type=Path, default=Path("runs/debian-debs"))
    ap.add_argument("--max-per-language", type=int, default=max_per_language)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--held-out", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data/eval")
    return ap.parse_args()


def main() -> None:
    args = arguments(__doc__.split("\n")[0], 10_000)
    packages = COMMON + [f"libreoffice-l10n-{lang}" for lang in args.langs]   # those Debian lacks are skipped
    unpacked = fetch(packages, args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = collections.Counter()
    held = held_out(args.held_out)
    catalogues = {pkg: sorted(package.root.rglob("LC_MESSAGES")) for pkg, package in sorted(unpacked.items())}
    for lang in args.langs:
        rows: dict[tuple[str, str], tuple[str, str, str]] = {}
        for pkg, folders in catalogues.items():
            for folder in locale_dirs(folders, lang):
                for mo in sorted(folder.glob("*.mo")):
                    add_pairs(rows, catalogue_pairs(mo), pkg, held)
        chosen = write_sample(args.out / f"en-{lang}.tsv", rows, args.max_per_language, args.seed, manifest)
        print(f"{lang}: {chosen} pairs ({len(rows)} distinct)" if chosen else f"{lang}: no messages", file=sys.stderr)
    write_manifest(args.out, {pkg: package.version for pkg, package in unpacked.items()}, manifest)


def write_sample(path: Path, rows: dict[tuple[str, str], tuple[str, str, str]], most: int, seed: int,
                 manifest: collections.Counter) -> int:
    """At most ``most`` of the (English, translation, ``debian:PACKAGE``) rows, a seeded sample, written to
    ``path`` (nothing when there are none), each counted for its package in ``manifest``; how many were written."""
    chosen = sorted(rows.values())
    random.Random(seed).shuffle(chosen)
    chosen = chosen[:most]
    if chosen:
        with open(path, "w", encoding="utf-8") as fh:
            for en, xx, tag in chosen:
                fh.write(f"{en}\t{xx}\t{tag}\n")
                manifest[tag.split(":", 1)[1]] += 1
    return len(chosen)


def write_manifest(out: Path, versions: dict[str, str], rows: collections.Counter) -> None:
    """``OUT.manifest.tsv``: each package's version and the rows taken from it."""
    with open(out.with_name(out.name + ".manifest.tsv"), "w", encoding="utf-8") as fh:
        fh.write("package\tversion\trows\n")
        for pkg, version in sorted(versions.items()):
            fh.write(f"{pkg}\t{version}\t{rows[pkg]}\n")


if __name__ == "__main__":
    main()
