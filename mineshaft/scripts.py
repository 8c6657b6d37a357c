"""Writing systems: the scripts each language is written in, a letter's script by its Unicode name, and
language codes normalized (ISO 639-3 and Tatoeba codes to ISO 639-1)."""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from collections.abc import Iterable

_LATIN = ("af az ca cs da de en eo es et eu fi fr gl hr hu id is it lt lv nb no nn nl pl pt ro sk sl sq sv tl "
          "tr vi ms sw")
#: scripts (Unicode name prefixes, title case) each language is written in
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    **{lang: ("Latin",) for lang in _LATIN.split()},
    **{lang: ("Cyrillic",) for lang in "be bg mk ru uk sr kk ky mn".split()},
    "tt": ("Cyrillic", "Latin"), "uz": ("Latin", "Cyrillic"),
    "el": ("Greek",), "ar": ("Arabic",), "fa": ("Arabic",), "ur": ("Arabic",), "he": ("Hebrew",),
    "hi": ("Devanagari",), "mr": ("Devanagari",), "ne": ("Devanagari",), "bn": ("Bengali",), "hy": ("Armenian",),
    "ka": ("Georgian",), "ta": ("Tamil",), "te": ("Telugu",), "th": ("Thai",),
    "ko": ("Hangul", "Han"), "zh": ("Han",), "zh-tw": ("Han",), "zh-cn": ("Han",),
    "ja": ("Han", "Hiragana", "Katakana"),
}
#: ISO 639-3 / Tatoeba codes of the languages above (eng, deu, cmn, ...)
ALIASES = dict(pair.split(":") for pair in (
    "afr:af aze:az azj:az bel:be ben:bn bul:bg cat:ca ces:cs cze:cs dan:da deu:de ger:de ell:el gre:el eng:en "
    "epo:eo est:et ekk:et eus:eu baq:eu fas:fa pes:fa per:fa fin:fi fra:fr fre:fr glg:gl heb:he hin:hi hrv:hr "
    "hun:hu hye:hy arm:hy ind:id isl:is ice:is ita:it jpn:ja kor:ko lit:lt lav:lv lvs:lv mkd:mk mar:mr nob:nb "
    "nor:no nld:nl dut:nl pol:pl por:pt ron:ro rum:ro rus:ru slv:sl sqi:sq alb:sq swe:sv tha:th tgl:tl tur:tr "
    "tat:tt ukr:uk urd:ur vie:vi zho:zh chi:zh cmn:zh ara:ar arb:ar spa:es").split())
# first words of Unicode character names that are not scripts (letter-like symbols)
_NOT_SCRIPTS = {"MODIFIER", "MICRO", "FEMININE", "MASCULINE", "SCRIPT", "BLACK-LETTER", "DOUBLE-STRUCK",
                "MATHEMATICAL", "CIRCLED", "PARENTHESIZED", "SQUARED", "NEGATIVE", "TURNED", "COMBINING", "KELVIN",
                "ANGSTROM", "OHM", "NUMERO", "INFORMATION", "ESTIMATED", "ROMAN", "SMALL", "PLANCK"}
_RENAME = {"CJK": "Han", "IDEOGRAPHIC": "Han", "KATAKANA-HIRAGANA": "Katakana", "OLD": None}


def normalize_language(code: str) -> str:
    """``ZH_TW`` → ``zh-tw``, ``deu`` → ``de`` (unknown codes: lower case)."""
    code = code.strip().lower().replace("_", "-")
    return ALIASES.get(code, code)


def language_scripts(language: str) -> tuple[str, ...]:
    """The scripts ``language`` is written in (``()`` for a language not in :data:`LANGUAGE_SCRIPTS`)."""
    code = normalize_language(language)
    if code in LANGUAGE_SCRIPTS:
        return LANGUAGE_SCRIPTS[code]
    base = ALIASES.get(code.split("-")[0], code.split("-")[0])
    return LANGUAGE_SCRIPTS.get(base, ())


@functools.lru_cache(maxsize=65536)
def char_script(ch: str) -> str | None:
    """The script of a letter by its Unicode name (``"Latin"``, ``"Cyrillic"``, ``"Han"``, ...), None for
    anything else (digits, punctuation, marks, letter-like symbols)."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return None
    words = name.split()
    first = words[0]
    if first in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1:
        first = words[1]
    if first in _NOT_SCRIPTS:
        return None
    if first in _RENAME:
        return _RENAME[first]
    return first.title()


def script_counts(texts: Iterable[str]) -> Counter:
    """Letters per script in ``texts``."""
    counts: Counter = Counter()
    for text in texts:
        for ch, n in Counter(text).items():
            script = char_script(ch)
            if script is not None:
                counts[script] += n
    return counts


__all__ = ["normalize_language", "language_scripts", "char_script", "script_counts", "LANGUAGE_SCRIPTS", "ALIASES"]
