"""Rule-based filters for mined pairs (in the spirit of bicleaner's hard rules and stopes' filters).

Every filter is a predicate over one pair (source text, target text); they are
applied after mining, in score order, and each one counts what it removed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import UsageError
from ..language_id import identifier_languages
from ..scripts import normalize_language


_DIGITS = re.compile(r"\d+")
_NOT_WORD = re.compile(r"[\W\d_]+", re.UNICODE)


def _norm(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used for identity and near-duplicate checks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", text).strip()


def numbers(text: str) -> Counter:
    """The multiset of digit runs in a text, after NFKC (so full-width digits count too)."""
    return Counter(_DIGITS.findall(unicodedata.normalize("NFKC", text)))


@dataclass
class PairFilter:
    """Options of the rule-based filters; ``None``/False means the rule is off."""

    min_chars: int | None = None
    max_chars: int | None = None
    max_length_ratio: float | None = None
    drop_identical: bool = False
    number_mismatch: bool = False
    near_duplicates: bool = False
    max_score: float | None = None
    src_lang: str | None = None
    tgt_lang: str | None = None
    removed: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.min_chars is not None and self.min_chars < 0:
            raise UsageError(f"--min-chars must be >= 0, got {self.min_chars}")
        if self.max_chars is not None and self.max_chars < 1:
            raise UsageError(f"--max-chars must be >= 1, got {self.max_chars}")
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise UsageError(f"--min-chars ({self.min_chars}) is larger than --max-chars ({self.max_chars})")
        if self.max_length_ratio is not None and not self.max_length_ratio >= 1:
            raise UsageError(f"--max-length-ratio must be at least 1, got {self.max_length_ratio}")
        if self.max_score is not None and not math.isfinite(self.max_score):
            raise UsageError(f"--max-score must be a finite number, got {self.max_score}")
        if self.src_lang is not None:
            self.src_lang = lid_language(self.src_lang, "--src-lang")
        if self.tgt_lang is not None:
            self.tgt_lang = lid_language(self.tgt_lang, "--tgt-lang")
        self._lid = _language_identifier() if (self.src_lang or self.tgt_lang) else None

    @property
    def active(self) -> bool:
        return any([self.min_chars, self.max_chars, self.max_length_ratio, self.drop_identical, self.number_mismatch,
                    self.near_duplicates, self.max_score is not None, self.src_lang, self.tgt_lang])

    def rules(self) -> list[tuple[str, Callable[[str, str, float], bool]]]:
        """(name, keep(src, tgt, score)) for every enabled rule, cheapest first."""
        r: list[tuple[str, Callable[[str, str, float], bool]]] = []
        if self.max_score is not None:
            cap = self.max_score
            r.append(("max-score", lambda s, t, sc: sc <= cap))
        if self.min_chars is not None:
            lo = self.min_chars
            r.append(("min-chars", lambda s, t, sc: len(s.strip()) >= lo and len(t.strip()) >= lo))
        if self.max_chars is not None:
            hi = self.max_chars
            r.append(("max-chars", lambda s, t, sc: len(s) <= hi and len(t) <= hi))
        if self.max_length_ratio is not None:
            ratio = self.max_length_ratio
            r.append(("length-ratio", lambda s, t, sc: max(len(s), len(t)) <= ratio * max(min(len(s), len(t)), 1)))
        if self.drop_identical:
            r.append(("identical", lambda s, t, sc: _norm(s) != _norm(t)))
        if self.number_mismatch:
            r.append(("number-mismatch", lambda s, t, sc: numbers(s) == numbers(t)))
        if self._lid is not None:
            lid, sl, tl = self._lid, self.src_lang, self.tgt_lang
            r.append(("language-id", lambda s, t, sc: (not sl or lid(s) == sl) and (not tl or lid(t) == tl)))
        return r

    def apply(self, rows: Iterable[tuple[str, str, float]]) -> list[bool]:
        """Keep-flags for pairs given best first (near-duplicates keep the first, best one)."""
        rules = self.rules()
        seen: set[tuple[str, str]] = set()
        keep = []
        for s, t, sc in rows:
            ok = True
            for name, rule in rules:
                if not rule(s, t, sc):
                    self.removed[name] += 1
                    ok = False
                    break
            if ok and self.near_duplicates:
                key = (_norm(s), _norm(t))
                if key in seen:
                    self.removed["near-duplicate"] += 1
                    ok = False
                else:
                    seen.add(key)
            keep.append(ok)
        return keep


def _language_identifier() -> Callable[[str], str]:
    try:
        import py3langid
    except ImportError:
        raise UsageError("--src-lang/--tgt-lang need the offline language identifier, py3langid, a dependency of "
                         "mineshaft: pip install py3langid") from None
    return lambda text: py3langid.classify(text)[0]


def lid_language(code: str, flag: str) -> str:
    """``code`` as the identifier writes it (``deu`` → ``de``, ``DE`` → ``de``); refused (:class:`UsageError`)
    when the identifier never gives a text that code, so a filter never drops every pair for a typo."""
    norm = normalize_language(code)
    if not norm:
        raise UsageError(f"{flag} needs a language code, such as de")
    known = identifier_languages()  # empty where unknown: every code passes, as before
    if not known or norm in known:
        return norm
    base = normalize_language(norm.split("-")[0])
    if base in known:
        raise UsageError(f"{flag} {code}: the language identifier (py3langid) names {base} only, not its regional "
                         f"variants; give {flag} {base}")
    raise UsageError(f"{flag} {code}: not a language the identifier (py3langid) can name; its languages: "
                     f"{' '.join(sorted(known))}")
