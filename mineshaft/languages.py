"""Which languages an encoder knows, and a warning when an input looks like something else.

An encoder's languages come from ``languages.json`` in its model directory
(``{"languages": ["ar", "de", ...]}``, optionally ``"scripts": ["Latin", ...]`` for scripts beyond
:data:`LANGUAGE_SCRIPTS`), or for the short names from :data:`BUILTIN_LANGUAGES` (``use`` and
``use-numpy``: USE v3's 16 languages; ``minilm``: English). Encoders without such a record (hub
models, other directories) are not checked.

:func:`check_input_languages` looks at a sample of an input (its first :data:`SAMPLE_LINES` non-empty
lines) and warns once on stderr when more than :data:`SCRIPT_SHARE` of its letters are in scripts none
of the encoder's languages uses, or (where the encoder's tokenizer is at hand) more than
:data:`UNKNOWN_RATE` of its tokens are the unknown piece (counted as :func:`unknown_stats`
does: each unknown character is one token). It first names the language it identifies
(:func:`identify_language`: py3langid where it is installed, else a script only one language
uses) in an info line. Where the encoder's recorded figures (:mod:`mineshaft.quality`) say it finds under
:data:`~mineshaft.quality.WEAK_ACCURACY`% of that language's translations, the one warning gives that figure
instead, with the shipped encoder that does at least :data:`~mineshaft.quality.CLEARLY_BETTER` points better
and is not worse on FLORES (or says none does); where they were never measured there, the script or
unknown-piece warning comes first.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from . import progress, quality
from .encoders import names
from .encoders.names import is_use_dir, model_path, resolve_default
from .encoders.routed import describe_route, is_routed_dir, mixed_route
from .encoders.use_tokens import BOS_ID, EOS_ID, UNK_ID, USETokenizer, use_sp_model
from .io import is_blank
from .language_id import LANGUAGE_NAMES, LID_LINES, LID_SHARE, Identified, identify_language, language_name
from .scripts import LANGUAGE_SCRIPTS, char_script, language_scripts, normalize_language, script_counts

LANGUAGES_FILE = "languages.json"
#: non-empty lines of an input that are looked at
SAMPLE_LINES = 2000
#: warn above this share of letters in scripts the encoder's languages do not use
SCRIPT_SHARE = 0.05
#: warn above this share of unknown tokens (USE's own Korean is 1.7% on FLORES, 3.7% on Tatoeba)
UNKNOWN_RATE = 0.05
#: Google's multilingual USE v3 (as its model card lists them)
USE_LANGUAGES = ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh", "zh-tw")
BUILTIN_LANGUAGES: dict[str, tuple[str, ...]] = {"use": USE_LANGUAGES, "use-numpy": USE_LANGUAGES, "minilm": ("en",)}


# --------------------------------------------------------------------------- languages


def count_languages(codes: Iterable[str]) -> str:
    """How many languages ``codes`` name, in words: a regional variant such as ``zh-tw`` (USE's Traditional
    Chinese) is not another language, and English, the other side of every training pair, is named apart:
    ``"English and 50 other languages"``."""
    languages = {normalize_language(c).split("-")[0] for c in codes}
    if "en" in languages and len(languages) > 1:
        return f"English and {len(languages) - 1} other languages"
    return f"{len(languages)} language{'s' if len(languages) != 1 else ''}"


def read_languages(directory: str | os.PathLike) -> dict | None:
    """``{"languages": [...], "scripts": [...]}`` from a model directory's ``languages.json``, or None."""
    path = Path(directory) / LANGUAGES_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        progress.warn(f"{path}: not valid JSON; the encoder's languages are not checked")
        return None
    if isinstance(data, list):
        data = {"languages": data}
    langs = [str(x) for x in data.get("languages", [])] if isinstance(data, dict) else []
    if not langs:
        return None
    return {"languages": langs, "scripts": [str(s).title() for s in data.get("scripts", [])]}


def _record_for_name(name: str) -> tuple[dict | None, Path | None]:
    """(record, model directory) for an encoder name: a short name, shipped student or local directory."""
    try:
        name = resolve_default(name)
    except Exception:
        return None, None
    try:
        directory = model_path(name)
    except Exception:  # minilm's package missing: its built-in record still holds
        directory = None
    if name in BUILTIN_LANGUAGES:
        return {"languages": list(BUILTIN_LANGUAGES[name]), "scripts": []}, directory
    if directory is not None:
        return read_languages(directory), directory
    return None, None  # a hub id not in the local cache: no record


def encoder_languages(encoder_or_name) -> dict | None:
    """The language record of an encoder (loaded :class:`~mineshaft.encoders.Encoder`, an
    :class:`~mineshaft.encoders.EncoderSpec` or a name/directory), None where it has none."""
    return _describe(encoder_or_name)[0]


def _describe(encoder_or_name) -> tuple[dict | None, str, Path | None]:
    """(record, display name, model directory)."""
    if isinstance(encoder_or_name, (str, os.PathLike)):
        record, directory = _record_for_name(str(encoder_or_name))
        return record, Path(str(encoder_or_name)).name or str(encoder_or_name), directory
    if hasattr(encoder_or_name, "dim") and hasattr(encoder_or_name, "encode"):  # a loaded encoder
        name = str(getattr(encoder_or_name, "name", "") or "")
        path = getattr(encoder_or_name, "path", None)
        directory = Path(path) if path and Path(path).is_dir() else None
        if directory is not None:
            record = read_languages(directory)
            if record is not None:
                return record, name or directory.name, directory
        if name in BUILTIN_LANGUAGES:
            return {"languages": list(BUILTIN_LANGUAGES[name]), "scripts": []}, name, None
        return None, name, directory
    name = getattr(encoder_or_name, "name", None)  # an EncoderSpec
    if isinstance(name, str):
        return _describe(name)
    return None, "", None


def pair_file_codes(name: str | os.PathLike, spelled: bool = False) -> tuple[str, ...] | None:
    """The one reading of a pair file's name: its language codes, in the name's order, normalized
    (:func:`normalize_language`). The name is what comes before its first dot, codes joined by ``-`` or ``_``:
    ``en-de.tsv``, ``en_de.tsv``, ``en-de.tsv.gz``, ``eng-deu.txt`` → ``("en", "de")``, ``de-en.tsv`` →
    ``("de", "en")``, ``bn.tsv`` → ``("bn",)``, ``en-zh-tw.tsv`` → ``("en", "zh-tw")``; None when a part is not a
    known language code (``my-pairs.tsv``). ``spelled``: the codes as the name spells them (``deu``, not ``de``)."""
    stem = Path(str(name)).name.split(".")[0]
    raw = [p for p in stem.replace("_", "-").split("-") if p]
    out: list[str] = []
    i = 0
    while i < len(raw):
        pair = f"{raw[i]}-{raw[i + 1]}" if i + 1 < len(raw) else None
        if pair is not None and normalize_language(pair) in LANGUAGE_SCRIPTS:  # zh-tw, zh-cn
            part, i = pair, i + 2
        else:
            part, i = raw[i], i + 1
        if not language_scripts(part):
            return None
        out.append(part if spelled else normalize_language(part))
    return tuple(out) or None


def pair_file_language(name: str | os.PathLike, spelled: bool = False) -> str | None:
    """The language a pair file pairs with English: the one of its codes (:func:`pair_file_codes`) that is not
    English, whichever side it is on (``en-de.tsv``, ``de-en.tsv``, ``en_de.tsv``, ``eng-deu.tsv.gz`` → ``de``;
    ``bn.tsv`` → ``bn``; ``en-en.tsv`` → ``en``). None for a name that is not language codes, or that names
    two languages other than English (``de-fr.tsv``)."""
    codes = pair_file_codes(name, spelled)
    if codes is None:
        return None
    others = [c for c in codes if normalize_language(c) != "en"]
    if not others:
        return codes[0]
    return others[0] if len({normalize_language(c) for c in others}) == 1 else None


def pair_file_languages(names: Iterable[str | os.PathLike]) -> list[str] | None:
    """Every language of the pair files ``names`` (:func:`pair_file_codes`), or None when a name does not parse
    as known language codes (then nothing can be recorded)."""
    found: set[str] = set()
    for name in names:
        codes = pair_file_codes(name)
        if codes is None:
            return None
        found.update(codes)
    return sorted(found)


def write_languages(directory: str | os.PathLike, start: str, added: Iterable[str] | None, source: str) -> dict | None:
    """Record in ``directory`` the languages of a model made from ``start`` (an encoder name or directory):
    the start's languages plus ``added``. Nothing is written (None returned) when the start has no record or
    ``added`` is None (unknown): a partial list would warn on languages the model knows."""
    record = encoder_languages(start)
    if record is None or added is None:
        return None
    langs = sorted(set(record["languages"]) | set(added))
    data = {"languages": langs, "source": source}
    if record.get("scripts"):
        data["scripts"] = record["scripts"]
    (Path(directory) / LANGUAGES_FILE).write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


# --------------------------------------------------------------------------- unknown pieces


def unknown_stats(tok, texts: Sequence[str], unk_id: int) -> dict:
    """``{"unknown": rate, "tokens": per sentence, "sentences": n}``: the one unknown-piece rate (the language
    check reports it, ``extend-vocab`` counts it before and after). Each unknown character counts as one token, as
    USE's model sees it. ``tok``: a ``tokenizers.Tokenizer``, or a :class:`~mineshaft.encoders.use_tokens.USETokenizer`."""
    unknown = tokens = 0
    for width in _token_widths(tok, texts, unk_id):
        tokens += abs(width)
        if width < 0:
            unknown -= width
    return {"unknown": unknown / max(tokens, 1), "tokens": tokens / max(len(texts), 1), "sentences": len(texts)}


def _token_widths(tok, texts: Sequence[str], unk_id: int) -> Iterator[int]:
    """For every token of ``texts`` (special tokens left out): 1, or minus the characters an unknown token covers."""
    if hasattr(tok, "sp") and hasattr(tok, "encode"):  # USETokenizer: bos/eos around, one <unk> per character
        for row in tok.encode(list(texts)):
            body = row[1:-1] if len(row) >= 2 and row[0] == BOS_ID and row[-1] == EOS_ID else row
            yield from (-1 if i == unk_id else 1 for i in body)
        return
    for enc in tok.encode_batch(list(texts), add_special_tokens=False):
        yield from (-max(1, hi - lo) if i == unk_id else 1 for i, (lo, hi) in zip(enc.ids, enc.offsets))


class _Counter:
    """Unknown rate of a tokenizer (``tokenizers.Tokenizer`` or USETokenizer) by :func:`unknown_stats`."""

    def __init__(self, tok, unk_id: int):
        self.tok, self.unk_id = tok, unk_id

    def __call__(self, texts: Sequence[str]) -> float:
        return unknown_stats(self.tok, texts, self.unk_id)["unknown"]


def _counter_of_encoder(encoder):
    tok = getattr(encoder, "tokenizer", None)
    if tok is None:
        if getattr(encoder, "name", None) == "use-numpy":
            return _counter_for_directory(None, use=True)
        return None
    if hasattr(tok, "sp") and hasattr(tok, "encode"):  # USETokenizer
        return _Counter(tok, UNK_ID)
    backend = getattr(tok, "backend_tokenizer", None)
    unk_id = getattr(tok, "unk_token_id", None)
    if backend is not None and unk_id is not None:
        return _Counter(backend, int(unk_id))
    return None


@functools.lru_cache(maxsize=16)
def _counter_for_directory(directory: str | None, use: bool = False):
    """A counter from a model directory's tokenizer files alone (the model is not loaded); None: none cheap."""
    try:
        if use or (directory is not None and is_use_dir(directory)):
            return _Counter(USETokenizer(use_sp_model(None if directory is None else Path(directory))), UNK_ID)
        path = Path(directory) / "tokenizer.json" if directory is not None else None
        if path is None or not path.is_file():
            return None
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        model = json.loads(tok.to_str())["model"]
        unk_id = model.get("unk_id")
        if unk_id is None and model.get("unk_token") is not None:
            unk_id = tok.token_to_id(model["unk_token"])
        return _Counter(tok, int(unk_id)) if unk_id is not None else None
    except Exception:  # a tokenizer we cannot read cheaply: no unknown rate, never an error
        return None


def _counter(encoder_or_name, directory: Path | None):
    if not isinstance(encoder_or_name, (str, os.PathLike)) and hasattr(encoder_or_name, "encode") \
            and hasattr(encoder_or_name, "dim"):
        return _counter_of_encoder(encoder_or_name)
    if directory is not None:
        return _counter_for_directory(str(directory))
    name = str(getattr(encoder_or_name, "name", encoder_or_name))
    if name in ("use", "use-numpy"):
        return _counter_for_directory(None, use=True)
    return None


# --------------------------------------------------------------------------- the check


def sample(texts: Iterable[str], n: int = SAMPLE_LINES) -> list[str]:
    """The first ``n`` non-empty lines of ``texts``."""
    return list(itertools.islice((t for t in texts if not is_blank(t)), n))


def check_input_languages(encoder_or_name, texts_sample: Iterable[str], label: str) -> dict | None:
    """Name the language of ``texts_sample`` (an info line) and warn, once on stderr, where the encoder is
    weak or unmeasured on it or the input looks unknown to the encoder. Returns the measurements
    (``{"language", "identified_by", "figure", "letters", "unknown_scripts": {script: share},
    "script_share", "unknown_rate", "warned"}``), or None when the encoder has no language record (nothing
    is checked). Only the first :data:`SAMPLE_LINES` non-empty lines are read. Never raises on odd input.

    One warning at most: an identified language with a recorded figure under
    :data:`~mineshaft.quality.WEAK_ACCURACY` gives the figure's warning; one the encoder was not measured on
    gives that, unless the script or unknown-piece check below warns (it says more); otherwise more than
    :data:`SCRIPT_SHARE` of the letters in scripts none of the encoder's languages uses, or more than
    :data:`UNKNOWN_RATE` of the tokens unknown, warns."""
    texts = sample(texts_sample)
    if not texts:
        return None
    counts = script_counts(texts)
    found = identify_language(texts, counts)
    record, name, directory = _describe(encoder_or_name)
    if directory is not None and is_routed_dir(directory):  # the part the model picks, by its own rule
        route = describe_route(directory, found if found.method != "short" else
                               identify_language(texts, counts, min_letters=0))
    else:
        route = None
    progress.info(found.describe(label) + (f"; {route}" if route else ""))
    mixed = mixed_route(directory, found) if route else None
    if mixed is not None:
        code, share, part = mixed
        progress.warn(f"{label}: {100 * share:.0f}% of the lines read are {language_name(code)} ({code}), which "
                      f"{Path(directory).resolve().name} encodes with {part}, but an input goes whole to the part of "
                      "its main language; mine each language from its own file for the best pairs")
    if record is None:
        return None
    langs = [normalize_language(x) for x in record["languages"]]
    known = {s for lang in langs for s in language_scripts(lang)} | set(record.get("scripts", []))
    letters = sum(counts.values())
    foreign = {s: n / letters for s, n in counts.most_common() if s not in known} if letters and known else {}
    share = sum(foreign.values())
    counter = _counter(encoder_or_name, directory)
    rate = None
    if counter is not None:
        try:
            rate = float(counter(texts))
        except Exception:
            rate = None
    result = {"language": found.language, "identified_by": found.method, "figure": None, "letters": letters,
              "unknown_scripts": foreign, "script_share": share, "unknown_rate": rate, "warned": False}
    lang = found.language
    figures = quality.retrieval_figures(encoder_or_name) if lang and not (lang == "en" and "en" in langs) else None
    measured_warning = None
    if figures is not None:
        result["figure"] = figures.get(lang)
        measured_warning = quality.language_warning(figures, lang, language_name(lang), label)
        if measured_warning is not None and result["figure"] is not None:  # a weak figure: the one warning
            progress.warn(measured_warning)
            result["warned"] = True
            return result
    knows = " ".join(record["languages"])
    if share > SCRIPT_SHARE:
        top = [s for s, v in foreign.items() if v >= 0.01] or list(foreign)[:1]
        scripts = ", ".join(top[:3])
        progress.warn(f"{label}: {100 * share:.0f}% of its letters are {scripts} script, which {name} was not "
                      f"trained on (it knows: {knows}); mined pairs may be wrong{_hint(name, set(langs), set(top))}")
        result["warned"] = True
    elif rate is not None and rate > UNKNOWN_RATE:
        progress.warn(f"{label}: {100 * rate:.0f}% of its tokens are unknown to {name}'s vocabulary, which suggests "
                      f"a language it was not trained on (it knows: {knows}); mined pairs may be wrong"
                      f"{_hint(name, set(langs), None)}")
        result["warned"] = True
    elif measured_warning is not None:  # a language it was never measured on
        progress.warn(measured_warning)
        result["warned"] = True
    return result


def _hint(name: str, langs: set[str], scripts: set[str] | None) -> str:
    """``"; try -e X (N languages)"`` for the first shipped model that knows more: every script in ``scripts``,
    or (None) a strict superset of ``langs``; ``""`` when none does."""
    try:
        dirs = sorted(d for d in names.models_dir().iterdir() if (d / LANGUAGES_FILE).is_file())
    except OSError:
        return ""
    for d in dirs:
        record = read_languages(d)
        if record is None or d.name == name:
            continue
        theirs = {normalize_language(x) for x in record["languages"]}
        covered = {s for lang in theirs for s in language_scripts(lang)} | set(record.get("scripts", []))
        if (scripts <= covered) if scripts is not None else theirs > langs:
            return f"; try -e {d.name} ({count_languages(theirs)})"
    return ""


def checked(texts: Iterable[str], encoder_or_name, label: str) -> Iterator[str]:
    """``texts`` unchanged, after :func:`check_input_languages` on its first lines (read ahead once, so a
    stream such as stdin is read only once)."""
    it = iter(texts)
    head: list[str] = []
    nonempty = 0
    for text in it:
        head.append(text)
        if not is_blank(text):
            nonempty += 1
            if nonempty >= SAMPLE_LINES:
                break
    check_input_languages(encoder_or_name, head, label)
    return itertools.chain(head, it)


__all__ = ["unknown_stats", "check_input_languages", "checked", "identify_language", "Identified", "language_name",
           "count_languages", "pair_file_codes", "pair_file_language", "pair_file_languages", "write_languages",
           "encoder_languages", "read_languages", "language_scripts", "char_script", "script_counts",
           "normalize_language", "LANGUAGE_SCRIPTS", "LANGUAGE_NAMES", "BUILTIN_LANGUAGES", "USE_LANGUAGES",
           "LANGUAGES_FILE", "SAMPLE_LINES", "SCRIPT_SHARE", "UNKNOWN_RATE", "LID_LINES", "LID_SHARE"]
