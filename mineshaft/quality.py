"""How well an encoder finds translations in each language, from its recorded measurements.

A shipped model folder records its per-language retrieval accuracy in ``quality.json``; the short names
``use`` and ``minilm`` in ``mineshaft/data/encoders.json`` (key ``"retrieval"``; ``use-numpy`` has ``use``'s,
the same weights). Both hold ``{"retrieval": {"tatoeba": {..., "languages": {code: accuracy}}, "flores": ...}}``:
top-1 accuracy xx→en in percent per language code, null where the language was not measured, with the set,
date, source and command of the figures beside them. :func:`retrieval_figures` is the one reader.

:func:`language_warning` turns a figure into the warning ``mineshaft mine``/``encode`` print for an input in
that language: below :data:`WEAK_ACCURACY` on Tatoeba, or unmeasured, it names the figure and the shipped
encoder that does at least :data:`CLEARLY_BETTER` points better there (or says none does).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .encoders.names import DEFAULT_STUDENT, model_path, models_dir, resolve_default
from .io import read_json_object

QUALITY_FILE = "quality.json"
BUILTIN_FILE = Path(__file__).resolve().parent / "data" / "encoders.json"
#: warn when an encoder's Tatoeba top-1 accuracy xx→en for the input's language is below this (percent)
WEAK_ACCURACY = 80.0
#: name another shipped encoder only when its figure is at least this many points higher
CLEARLY_BETTER = 5.0
#: the figure the warning is about
WARN_SET = "tatoeba"
#: the set of long sentences recorded beside it: an alternative that is clearly better on Tatoeba's short
#: sentences but does worse here is not offered as the better encoder
LONG_SET = "flores"
#: identified codes whose figures are recorded under another code (py3langid's Norwegian is Bokmål's)
FIGURE_CODES = {"no": "nb"}


@dataclass(frozen=True)
class Figures:
    """One encoder's recorded accuracy per language for each evaluation set (None: not measured)."""

    encoder: str
    sets: dict[str, dict[str, float | None]]

    def get(self, language: str, set_name: str = WARN_SET) -> float | None:
        langs = self.sets.get(set_name, {})
        return langs.get(language, langs.get(FIGURE_CODES.get(language, ""), None))



def _sets(retrieval) -> dict[str, dict[str, float | None]]:
    """``{set: {code: accuracy or None}}`` from a ``"retrieval"`` record (odd entries dropped, never raised)."""
    out: dict[str, dict[str, float | None]] = {}
    if not isinstance(retrieval, dict):
        return out
    for set_name, record in retrieval.items():
        langs = record.get("languages") if isinstance(record, dict) else None
        if isinstance(langs, dict):
            out[set_name] = {str(k): (float(v) if isinstance(v, (int, float)) else None) for k, v in langs.items()}
    return out


@functools.lru_cache(maxsize=1)
def _builtin() -> dict[str, dict]:
    return read_json_object(BUILTIN_FILE).get("encoders", {})


@functools.lru_cache(maxsize=32)
def _folder_figures(directory: str) -> dict[str, dict[str, float | None]]:
    return _sets(read_json_object(Path(directory) / QUALITY_FILE).get("retrieval"))


def builtin_figures(name: str) -> Figures | None:
    """The figures of a short name (``use``, ``use-numpy``, ``minilm``) from :data:`BUILTIN_FILE`, or None."""
    facts = _builtin().get(name)
    if not isinstance(facts, dict):
        return None
    source = facts.get("retrieval_of")
    if isinstance(source, str) and source != name:  # the same weights, measured under another name
        other = builtin_figures(source)
        return Figures(name, other.sets) if other is not None else None
    sets = _sets(facts.get("retrieval"))
    return Figures(name, sets) if sets else None


def folder_figures(directory: str | os.PathLike, name: str | None = None) -> Figures | None:
    """The figures in a model folder's ``quality.json``, or None."""
    sets = _folder_figures(str(Path(directory).resolve()))
    return Figures(name or Path(directory).name, sets) if sets else None


def retrieval_figures(encoder_or_name) -> Figures | None:
    """The recorded per-language figures of an encoder: a short name, a shipped student's name, ``default``,
    a model directory, a loaded :class:`~mineshaft.encoders.Encoder` or an
    :class:`~mineshaft.encoders.EncoderSpec`; None where nothing is recorded (hub models, own models)."""

    if not isinstance(encoder_or_name, (str, os.PathLike)):
        if hasattr(encoder_or_name, "dim") and hasattr(encoder_or_name, "encode"):  # a loaded encoder
            name = str(getattr(encoder_or_name, "name", "") or "")
            path = getattr(encoder_or_name, "path", None)
            if path and Path(path).is_dir():
                found = folder_figures(path, name or None)
                if found is not None:
                    return found
            return builtin_figures(name) if name else None
        name = getattr(encoder_or_name, "name", None)  # an EncoderSpec
        return retrieval_figures(name) if isinstance(name, str) else None
    name = str(encoder_or_name)
    try:
        name = resolve_default(name)
    except Exception:
        return None
    found = builtin_figures(name)
    if found is not None:
        return found
    try:
        directory = model_path(name)
    except Exception:
        return None
    return folder_figures(directory) if directory is not None and Path(directory).is_dir() else None


def shipped_figures() -> list[Figures]:
    """The figures of every encoder mineshaft ships: the shipped students (:func:`mineshaft.encoders.models_dir`),
    the default first, then the short names with their own record (not ``use-numpy``, which is ``use``)."""

    try:
        folders = sorted((d for d in models_dir().iterdir() if (d / QUALITY_FILE).is_file()),
                         key=lambda d: (d.name != DEFAULT_STUDENT, d.name))
    except OSError:
        folders = []
    found = [f for d in folders if (f := folder_figures(d)) is not None]
    found += [f for name, facts in _builtin().items()
              if isinstance(facts, dict) and "retrieval_of" not in facts and (f := builtin_figures(name)) is not None]
    return found


def _weights(name: str) -> str:
    """The name whose weights ``name`` runs (``use-numpy`` → ``use``)."""
    facts = _builtin().get(name)
    return str(facts.get("retrieval_of", name)) if isinstance(facts, dict) else name


def best_alternative(language: str, encoder: str, at_least: float | None = None,
                     long_floor: float | None = None) -> tuple[str, float] | None:
    """The shipped encoder other than ``encoder`` with the highest recorded Tatoeba figure for ``language``,
    and that figure; None where no other shipped encoder was measured on it. ``at_least``: only one whose
    figure is at least that; ``long_floor``: only one whose :data:`LONG_SET` figure is not below it (or not
    recorded)."""
    best: tuple[str, float] | None = None
    for figures in shipped_figures():
        if _weights(figures.encoder) == _weights(encoder):
            continue
        value = figures.get(language)
        long = figures.get(language, LONG_SET)
        if value is None or (at_least is not None and value < at_least) or (
                long_floor is not None and long is not None and long < long_floor):
            continue
        if best is None or value > best[1]:
            best = (figures.encoder, value)
    return best


def shipped_figure(encoder: str, language: str, set_name: str = WARN_SET) -> float | None:
    """The recorded figure of the shipped encoder ``encoder`` for ``language`` on ``set_name``, or None."""
    for figures in shipped_figures():
        if figures.encoder == encoder:
            return figures.get(language, set_name)
    return None


def language_warning(figures: Figures, language: str, language_name: str, label: str) -> str | None:
    """The warning for an input in ``language`` encoded by the encoder of ``figures``, or None where its
    Tatoeba figure for that language is at least :data:`WEAK_ACCURACY`. Another shipped encoder is suggested
    where its Tatoeba figure is at least :data:`CLEARLY_BETTER` points higher and its :data:`LONG_SET` figure
    (FLORES' longer sentences) is not lower, where both are recorded.

    ``"cs.txt looks like Czech (cs); mineshaft-use-soft finds 14.5% of Czech sentences' English translations
    on Tatoeba (top-1); mineshaft-use-50 finds 82.6% (-e mineshaft-use-50)"``."""
    value = figures.get(language)
    if value is not None and value >= WEAK_ACCURACY:
        return None
    head = f"{label} looks like {language_name} ({language}); "
    alternative = best_alternative(language, figures.encoder)
    if value is None:
        text = head + f"{figures.encoder} was not measured on {language_name} (no Tatoeba figure recorded)"
        if alternative is None:
            return text + "; no shipped encoder was measured on it"
        name, other = alternative
        if other >= WEAK_ACCURACY:
            return text + (f"; {name} finds {other:.1f}% of {language_name} sentences' English translations on "
                           f"Tatoeba (-e {name})")
        return text + f"; the best shipped encoder measured on it, {name}, finds {other:.1f}% on Tatoeba"
    text = head + (f"{figures.encoder} finds {value:.1f}% of {language_name} sentences' English translations "
                   f"on Tatoeba (top-1)")
    if alternative is not None and alternative[1] >= value + CLEARLY_BETTER:
        offered = best_alternative(language, figures.encoder, at_least=value + CLEARLY_BETTER,
                                   long_floor=figures.get(language, LONG_SET))
        if offered is not None:
            name, other = offered
            return text + f"; {name} finds {other:.1f}% (-e {name})"
        name, other = alternative
        return text + (f"; {name} finds {other:.1f}% there but fewer on FLORES' longer sentences "
                       f"({shipped_figure(name, language, LONG_SET):.1f}% against {figures.encoder}'s "
                       f"{figures.get(language, LONG_SET):.1f}%), so it is not suggested")
    if alternative is not None and alternative[1] > value:
        name, other = alternative
        return text + f"; no shipped encoder does clearly better ({name}: {other:.1f}%)"
    return text + "; no shipped encoder does better"


__all__ = ["Figures", "retrieval_figures", "builtin_figures", "folder_figures", "shipped_figures",
           "best_alternative", "shipped_figure", "language_warning", "QUALITY_FILE", "WEAK_ACCURACY", "CLEARLY_BETTER",
           "WARN_SET", "LONG_SET"]
