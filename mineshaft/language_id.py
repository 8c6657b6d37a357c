"""Which language a sample of text is in: py3langid (a dependency; once the ``lid`` extra), else a script that
only one language uses."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .scripts import LANGUAGE_SCRIPTS, normalize_language, script_counts

#: non-empty lines of the sample the language identifier reads (0.25 ms a line)
LID_LINES = 200
#: a language is named when at least this share of those lines is identified as it
LID_SHARE = 0.5
#: letters the identifier needs in all: less text ("hello") is named by its script alone, if only one language uses it
LID_MIN_LETTERS = 40
#: English names of the languages above and of others the identifier may report (messages only)
LANGUAGE_NAMES = dict(pair.replace("_", " ").split(":") for pair in (
    "af:Afrikaans ar:Arabic az:Azerbaijani be:Belarusian bg:Bulgarian bn:Bengali ca:Catalan cs:Czech da:Danish "
    "de:German el:Greek en:English eo:Esperanto es:Spanish et:Estonian eu:Basque fa:Persian fi:Finnish fr:French "
    "gl:Galician he:Hebrew hi:Hindi hr:Croatian hu:Hungarian hy:Armenian id:Indonesian is:Icelandic it:Italian "
    "ja:Japanese ka:Georgian kk:Kazakh ko:Korean ky:Kyrgyz lt:Lithuanian lv:Latvian mk:Macedonian mn:Mongolian "
    "mr:Marathi ms:Malay nb:Norwegian_Bokmål ne:Nepali nl:Dutch nn:Norwegian_Nynorsk no:Norwegian pl:Polish "
    "pt:Portuguese ro:Romanian ru:Russian sk:Slovak sl:Slovenian sq:Albanian sr:Serbian sv:Swedish sw:Swahili "
    "ta:Tamil te:Telugu th:Thai tl:Tagalog tr:Turkish tt:Tatar uk:Ukrainian ur:Urdu uz:Uzbek vi:Vietnamese "
    "zh:Chinese zh-tw:Traditional_Chinese zh-cn:Simplified_Chinese bs:Bosnian cy:Welsh ga:Irish la:Latin "
    "lb:Luxembourgish mt:Maltese ba:Bashkir").split())


def language_name(code: str) -> str:
    """``cs`` → ``Czech`` (the code itself where no name is known)."""
    return LANGUAGE_NAMES.get(normalize_language(code), code)


@dataclass
class Identified:
    """The language of an input sample: its code (None: not identified), the share of the lines read that
    are in it, how it was found (``"py3langid"``, ``"script"``; ``"short"``: too few letters for the identifier;
    ``""``) and the sample's main script."""

    language: str | None
    share: float = 0.0
    lines: int = 0
    method: str = ""
    script: str | None = None
    others: dict[str, float] = field(default_factory=dict)
    letters: int = 0

    def describe(self, label: str) -> str:
        """The info line: ``"cs.txt: Czech (cs), 98% of 200 lines (py3langid)"``."""
        if self.language is not None:
            name = f"{language_name(self.language)} ({self.language})"
            if self.method == "script":
                return f"{label}: {name}, by its script ({self.script})"
            return f"{label}: {name}, {100 * self.share:.0f}% of {self.lines} lines ({self.method})"
        if self.method == "short":
            return f"{label}: too little text to identify its language ({self.letters} letters)"
        if self.method == "py3langid":
            mixed = ", ".join(f"{code} {100 * v:.0f}%" for code, v in list(self.others.items())[:3])
            return f"{label}: no one language ({mixed} of {self.lines} lines; py3langid)"
        if self.script is None:
            return f"{label}: no letters to identify its language by"
        return (f"{label}: {self.script} script; its language is identified with py3langid, which is missing "
                f"(pip install py3langid; the lid extra)")


@functools.lru_cache(maxsize=1)
def _identifier() -> Callable[[str], str] | None:
    """py3langid's classifier (the ``lid`` extra), or None where it is not installed."""
    try:
        import py3langid
    except ImportError:
        return None
    return lambda text: py3langid.classify(text)[0]


@functools.lru_cache(maxsize=1)
def identifier_languages() -> frozenset[str]:
    """The codes (normalized) py3langid can name a text, read from its model's labels (loading it: about a
    second); empty where py3langid is missing or its layout is one this code does not know."""
    if _identifier() is None:
        return frozenset()
    try:
        import py3langid.langid as langid

        identifier = langid._get_identifier() if hasattr(langid, "_get_identifier") else None
        if identifier is None:
            langid.classify("")  # loads its model into IDENTIFIER
            identifier = langid.IDENTIFIER
        return frozenset(normalize_language(code) for code in identifier.nb_classes) - {"zxx"}
    except Exception:
        return frozenset()


@functools.lru_cache(maxsize=1)
def _script_languages() -> dict[str, str]:
    """Scripts only one language of :data:`LANGUAGE_SCRIPTS` uses (Armenian → hy, Greek → el, Hangul → ko)."""
    users: dict[str, set[str]] = {}
    for lang, scripts in LANGUAGE_SCRIPTS.items():
        for script in scripts:
            users.setdefault(script, set()).add(lang.split("-")[0])
    return {script: next(iter(langs)) for script, langs in users.items() if len(langs) == 1}


def identify_language(texts: Sequence[str], counts: Counter | None = None, min_letters: int = LID_MIN_LETTERS
                      ) -> Identified:
    """The language of ``texts`` (non-empty lines): by py3langid on the first :data:`LID_LINES` that hold a
    letter, where it is installed and they hold ``min_letters`` letters in all (named when at least
    :data:`LID_SHARE` of them agree), else by a script only one language uses (Han with kana: Japanese; Han
    alone: Chinese). ``counts``: their :func:`script_counts`, if known. A routed model decides with
    ``min_letters=0``, the rule its digest records."""
    counts = script_counts(texts) if counts is None else counts
    script = counts.most_common(1)[0][0] if counts else None
    lid = _identifier()
    lines = [t for t in texts[:LID_LINES] if any(ch.isalpha() for ch in t)]  # digits alone read as any language
    letters = sum(ch.isalpha() for t in lines for ch in t)
    if lid is not None and lines and letters >= min_letters:
        try:
            found = Counter(normalize_language(lid(t)) for t in lines)
        except Exception:  # text the identifier cannot read (lone surrogates): go by script
            found = None
        if found is not None:
            shares = {code: n / len(lines) for code, n in found.most_common()}
            top, share = next(iter(shares.items()))
            if share >= LID_SHARE and top != "zxx":  # zxx: no linguistic content
                return Identified(top, share, len(lines), "py3langid", script, shares)
            return Identified(None, share, len(lines), "py3langid", script, shares)
    if script is None:
        return Identified(None)
    if script == "Han":
        kana = counts.get("Hiragana", 0) + counts.get("Katakana", 0)
        language = "ja" if kana else "zh"
    else:
        language = _script_languages().get(script)
    if language is None:
        short = lid is not None and 0 < letters < min_letters
        return Identified(None, method="short" if short else "", script=script, letters=letters)
    return Identified(language, counts[script] / sum(counts.values()), len(texts), "script", script)


__all__ = ["identify_language", "Identified", "language_name", "LANGUAGE_NAMES", "LID_LINES", "LID_SHARE"]
