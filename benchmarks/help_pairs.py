"""More training pairs for the small languages: LibreOffice's help pages and Firefox's and Thunderbird's strings.

    python benchmarks/help_pairs.py --out runs/help-pairs [--langs sq sl et hy ...] [--cache runs/debian-debs]

The sources of ``debian_pairs.py`` are gettext catalogues; these three Debian sources are not, and hold more
sentences for the languages the encoder is weakest on (Albanian and Armenian have no LibreOffice help, but Firefox
and Thunderbird are translated into both):

- ``libreoffice-help-XX`` against ``libreoffice-help-en-us``: the same HTML pages, each paragraph and heading with
  the same ``par_id``/``hd_id`` in every language (documentation sentences: "Use the Navigator for rearranging
  and editing the subdocuments in a master document.");
- ``firefox-esr-l10n-XX`` and ``thunderbird-l10n-XX`` (their language packs) against the English strings inside
  ``firefox-esr`` and ``thunderbird`` (``omni.ja``): Fluent (``.ftl``) messages and attributes and ``.properties``
  keys, matched by file (its path after the locale folder) and id.

Each pair goes through ``debian_pairs.py``'s filters (3 to 40 English words, no markup or placeholders, a real
translation, none with a side equal to a sentence under ``--held-out``), one row per distinct pair, at most
``--max-per-language`` (a seeded sample), written as ``OUT/en-XX.tsv`` (``english<TAB>other<TAB>debian:PACKAGE``)
with ``OUT.manifest.tsv`` (package versions and rows). Run ``../shared/tools/check-leakage OUT`` before training.
"""

from __future__ import annotations

import collections
import re
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from debian_pairs import (add_pairs, arguments, clean, fetch, held_out, keep, key, write_manifest,  # noqa: E402
                          write_sample)

#: Debian's locale names where they are not the language code
MOZILLA_LOCALE = {"hy": "hy-am", "nb": "nb-no", "nn": "nn-no"}
#: elements without an end tag
_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
_HELP_ID = re.compile(r"(?:par|hd)_id")
#: Mozilla's numbered placeholders (``#1``) and plural lists (``one;other``), and formulas (``=SUM(A1;B2)``)
_PLACEHOLDER = re.compile(r"#\d|;")
_FTL_MESSAGE = re.compile(r"^(-?[A-Za-z][\w-]*)\s*=\s*(.*)$")
_FTL_ATTRIBUTE = re.compile(r"^\s+\.([\w-]+)\s*=\s*(.*)$")


class _HelpParagraphs(HTMLParser):
    """The text of each element whose id is a help paragraph's or heading's (``par_id…``, ``hd_id…``), with only
    the default case of a switch (the hidden ``MAC``/``WIN``/``UNIX`` variants left out); an id a page repeats
    (sections embedded from other pages, in an order that differs between languages) is dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self.repeated: set[str] = set()
        self._id: str | None = None
        self._depth = 0
        self._hidden_at: int | None = None  # the depth at which a hidden variant opened
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        a = dict(attrs)
        ident = a.get("id") or ""
        if self._id is None:
            if not _HELP_ID.match(ident):
                return
            self._id, self._depth, self._text, self._hidden_at = ident, 0, [], None
        self._depth += 1
        if self._hidden_at is None and "hidden" in a and not ident.startswith("default"):
            self._hidden_at = self._depth

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closing tag (``<img/>``, ``<br/>``) neither opens nor closes an element."""

    def handle_endtag(self, tag: str) -> None:
        if self._id is None or tag in _VOID:
            return
        if self._hidden_at == self._depth:
            self._hidden_at = None
        self._depth -= 1
        if self._depth <= 0:
            text = " ".join("".join(self._text).split())
            if self._id in self.found:
                self.repeated.add(self._id)
            elif text:
                self.found[self._id] = text
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._id is not None and self._hidden_at is None:
            self._text.append(data)


def help_paragraphs(html: str) -> dict[str, str]:
    """Paragraph or heading id -> its text, for one LibreOffice help page."""
    parser = _HelpParagraphs()
    parser.feed(html)
    return {k: v for k, v in parser.found.items() if k not in parser.repeated}


def ftl_messages(text: str) -> dict[str, str]:
    """Message (and ``message.attribute``) id -> its value, continuation lines joined, of a Fluent file."""
    out: dict[str, str] = {}
    current = last = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            current = last = None
            continue
        if m := _FTL_MESSAGE.match(line):
            current = last = m.group(1)
            out[current] = m.group(2).strip()
        elif (m := _FTL_ATTRIBUTE.match(line)) and current:
            last = f"{current}.{m.group(1)}"
            out[last] = m.group(2).strip()
        elif last and line.startswith(" "):
            out[last] = f"{out[last]} {line.strip()}".strip()
    return out


def properties_messages(text: str) -> dict[str, str]:
    """Key -> value of a ``.properties`` file (comments and lines without ``=`` skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "#!" and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def mozilla_strings(archives: list[Path], locale: str) -> dict[tuple[str, str], str]:
    """(file after its locale folder, id) -> string, over the ``.ftl`` and ``.properties`` files of zip archives
    (``omni.ja``, language packs)."""
    out: dict[tuple[str, str], str] = {}
    marker = f"/{locale}/"
    for archive in dict.fromkeys(p.resolve() for p in archives):  # a link to another archive is read once
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if not name.endswith((".ftl", ".properties")) or marker not in f"/{name}":
                    continue
                rel = f"/{name}".rsplit(marker, 1)[1]
                parse = ftl_messages if name.endswith(".ftl") else properties_messages
                for ident, value in parse(z.read(name).decode("utf-8", "replace")).items():
                    if not ident.endswith(".style"):  # CSS of a dialog, not text
                        out.setdefault((rel, ident), value)
    return out


def aligned(english: dict, other: dict) -> list[tuple[str, str]]:
    """(English, translation) for the ids both hold, cleaned and filtered as ``debian_pairs.py`` does; also left
    out: a translation with the English letters and digits (an English copy differing in spacing or quotes), and
    English with a semicolon or a numbered placeholder (Mozilla's plural lists ``one;other`` and ``#1``, formulas)."""
    out = []
    for ident, en in english.items():
        if ident in other:
            en_c, xx_c = clean(en), clean(other[ident])
            if en_c and xx_c and keep(en_c, xx_c) and key(en_c) != key(xx_c) and not _PLACEHOLDER.search(en_c):
                out.append((en_c, xx_c))
    return out


def help_pairs(en_root: Path, xx_root: Path) -> list[tuple[str, str]]:
    """The aligned paragraphs of the help pages both folders hold (the same path under each)."""
    pairs = []
    for page in sorted(en_root.rglob("*.html")):
        other = xx_root / page.relative_to(en_root)
        if other.exists():
            pairs += aligned(*(help_paragraphs(p.read_text(encoding="utf-8", errors="replace"))
                               for p in (page, other)))
    return pairs


def language_pack_locale(packs: list[Path], default: str) -> str:
    """The locale a language pack names itself by (``langpack-hy-AM@firefox-esr.mozilla.org.xpi``: hy-AM)."""
    first = next(iter(packs), None)
    return first.name.split("@")[0].removeprefix("langpack-") if first else default


def main() -> None:
    args = arguments(__doc__.split("\n")[0], 20_000)
    apps = {"firefox-esr": "firefox-esr-l10n", "thunderbird": "thunderbird-l10n"}
    packages = ["libreoffice-help-en-us", *apps]
    for lang in args.langs:
        loc = MOZILLA_LOCALE.get(lang, lang)
        packages += [f"libreoffice-help-{lang}", *(f"{pack}-{loc}" for pack in apps.values())]
    unpacked = fetch(packages, args.cache)
    held = held_out(args.held_out)
    english = {app: mozilla_strings(sorted(unpacked[app].root.rglob("omni.ja")), "en-US")
               for app in apps if app in unpacked}
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = collections.Counter()
    for lang in args.langs:
        rows: dict[tuple[str, str], tuple[str, str, str]] = {}
        sources: list[tuple[str, list[tuple[str, str]]]] = []
        en_help, xx_help = unpacked.get("libreoffice-help-en-us"), unpacked.get(f"libreoffice-help-{lang}")
        if en_help and xx_help:
            base = Path("usr/share/libreoffice/help")
            sources.append((f"libreoffice-help-{lang}",
                            help_pairs(en_help.root / base / "en-US", xx_help.root / base / lang)))
        loc = MOZILLA_LOCALE.get(lang, lang)
        for app, pack in apps.items():
            package = unpacked.get(f"{pack}-{loc}")
            if package and app in english:
                packs = sorted(package.root.rglob("langpack-*.xpi"))
                strings = mozilla_strings(packs, language_pack_locale(packs, loc))
                sources.append((f"{pack}-{loc}", aligned(english[app], strings)))
        for tag, pairs in sources:
            add_pairs(rows, pairs, tag, held)
        chosen = write_sample(args.out / f"en-{lang}.tsv", rows, args.max_per_language, args.seed, manifest)
        print(f"{lang}: {chosen} pairs ({len(rows)} distinct; " + ", ".join(f"{tag} {len(p)}" for tag, p in sources)
              + ")" if chosen else f"{lang}: no pairs", file=sys.stderr)
    write_manifest(args.out, {pkg: package.version for pkg, package in unpacked.items()}, manifest)


if __name__ == "__main__":
    main()
