"""A model of two encoders that share one vector space: one for the languages it is best at, one for the rest.

A routed model folder holds a ``config.json`` like::

    {"architecture": "routed",
     "known": {"encoder": "mineshaft-use-soft", "languages": ["de", "en", "fr", ...]},
     "others": {"encoder": "others"}}

A part's ``encoder`` is a folder inside the routed one, or else an encoder name (a short name such as ``use``, a
shipped model, an absolute path). Each call of :meth:`RoutedEncoder.encode` identifies the language of the
texts it is given (:func:`~mineshaft.language_id.identify_language` on up to 200 lines) and encodes them all
with the ``known`` part when that language is one of ``known.languages`` and at least :data:`MIN_LINES` of
the lines read hold letters, else with the ``others`` part; one call is never split between the two. Few lines
or an unidentified language go to ``others``, which must cover every language (it is trained into the ``known``
part's space, English encoded there).

Pass texts of one language per call: a mixed list is encoded by the encoder of its majority language.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ..errors import InputError
from .. import language_id
from ..progress import warn
from ..scripts import normalize_language
from .base import Encoder
from .names import SHORT_NAMES, architecture, shipped_model

ROUTED_ARCHITECTURE = "routed"
#: ``config.json`` keys of the two parts
PARTS = ("known", "others")
#: the fewest lines with letters that send a call to the ``known`` part (a short tail chunk of a long file, a
#: handful of sentences: too few to trust the identification, so they go to ``others``, which knows every language)
MIN_LINES = 20


def is_routed_dir(name: str | Path | None) -> bool:
    """Whether ``name`` is a folder whose ``config.json`` declares a routed model."""
    return architecture(name) == ROUTED_ARCHITECTURE


def refuse_routed(model: str | Path | Encoder | None, name: str, hint: str,
                  error: type[Exception] = InputError) -> None:
    """Raise ``error`` when ``model`` (a folder or a loaded encoder) is a routed model: training, a teacher,
    interpolation and vocabulary extension take one encoder, and a routed model is two. ``hint`` says what to do."""
    if isinstance(model, RoutedEncoder) or (not isinstance(model, Encoder) and is_routed_dir(model)):
        raise error(f"{name} is a routed model (two encoders, one for some languages, one for the others): {hint}")


def read_routing(directory: str | Path) -> dict:
    """The routing record of a routed folder, checked: both parts (each found, neither routed itself) and the
    known part's languages (a list of codes, normalized)."""
    directory = Path(directory)
    try:
        cfg = json.loads((directory / "config.json").read_text())
        known, others = (cfg[p] for p in PARTS)
        languages, names = known["languages"], [known["encoder"], others["encoder"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{directory}: not a valid routed model config.json ({type(exc).__name__}: {exc})") from None
    if not isinstance(languages, list) or not languages or not all(isinstance(c, str) and c.strip()
                                                                   for c in languages):
        raise InputError(f"{directory}: config.json's known.languages must be a list of language codes")
    for part, name in zip(PARTS, names):
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{directory}: config.json's {part}.encoder must be an encoder name or a folder")
        found = part_name(directory, name)
        if not (found in SHORT_NAMES or shipped_model(found) is not None or Path(found).is_dir()):
            raise InputError(f"{directory}: its {part} part {name!r} is neither a folder in it nor an encoder name")
        if is_routed_dir(shipped_model(found) or found):
            raise InputError(f"{directory}: its {part} part {name!r} is a routed model itself")
    return {"languages": sorted({normalize_language(c) for c in languages}), "known": names[0], "others": names[1]}


def part_name(directory: str | Path, name: str) -> str:
    """A part's encoder name as ``load_encoder`` takes it: a folder inside the routed one, else the name itself."""
    inside = Path(directory) / name
    return str(inside) if inside.is_dir() else name


def routed_part(found: language_id.Identified, languages: frozenset[str] | set[str]) -> str:
    """``"known"`` or ``"others"``: the part that encodes texts identified as ``found``, ``languages`` being the
    known part's (normalized codes)."""
    if found.language is None or found.lines < MIN_LINES:
        return "others"
    return "known" if normalize_language(found.language) in languages else "others"


def describe_route(directory: str | Path, found: language_id.Identified) -> str | None:
    """Which part of the routed model in ``directory`` encodes texts identified as ``found``, for the info line
    (``"mineshaft-50 encodes it with mineshaft-use-soft"``); None when ``directory`` is not a valid routed model."""
    try:
        record = read_routing(directory)
    except InputError:
        return None
    part = routed_part(found, frozenset(record["languages"]))
    return f"{Path(directory).resolve().name} encodes it with {part_label(directory, record[part])}"


def part_label(directory: str | Path, name: str) -> str:
    """How messages name a part: ``"its model in others/"`` for a folder inside the routed one, else its name."""
    inside = not Path(name).is_absolute() and (Path(directory) / name).is_dir()
    return f"its model in {name}/" if inside else name


#: a second language on this share of an input's identified lines, routed to the other part, is warned about
MIXED_SHARE = 0.2


def mixed_route(directory: str | Path, found: language_id.Identified) -> tuple[str, float, str] | None:
    """``(language, share, part name)`` of the largest other language of an input (``found.others``, at least
    :data:`MIXED_SHARE` of its lines) that the routed model in ``directory`` would give to the other part than the
    input's main language: a file goes whole to one part, so those lines are encoded by the part that does not
    know them. None when there is none (or ``directory`` is no valid routed model)."""
    try:
        record = read_routing(directory)
    except InputError:
        return None
    languages = frozenset(record["languages"])
    main = routed_part(found, languages)
    for code, share in found.others.items():
        if code == found.language or code == "zxx" or share < MIXED_SHARE:
            continue
        part = routed_part(language_id.Identified(code, share, found.lines, found.method), languages)
        if part != main:
            return code, share, part_label(directory, record[part])
    return None


def routing_rule() -> str:
    """What decides the part, for the digest: the identifier (py3langid's version, or absent) and its settings."""
    try:
        lid = f"py3langid {version('py3langid')}" if language_id._identifier() is not None else "script only"
    except PackageNotFoundError:
        lid = "py3langid ?"
    return f"{lid}; {language_id.LID_LINES} lines, share {language_id.LID_SHARE}, at least {MIN_LINES} for known"


class RoutedEncoder(Encoder):
    """A routed model (see the module doc): each ``encode`` call goes whole to the part its language belongs to."""

    def __init__(self, directory: str | Path, load: Callable[[str], Encoder], name: str | None = None):
        directory = Path(directory)
        record = read_routing(directory)
        self.path = directory
        self.name = name or directory.name
        self.languages = frozenset(record["languages"])
        self.known = load(part_name(directory, record["known"]))
        self.others = load(part_name(directory, record["others"]))
        if self.known.dim != self.others.dim:
            raise InputError(f"{directory}: its parts' vectors differ in dimension ({self.known.dim} and "
                             f"{self.others.dim})")
        self.dim = self.known.dim
        self.max_length = min(self.known.max_length, self.others.max_length)
        #: calls routed to each part so far (``{"known": n, "others": m}``)
        self.routed: Counter = Counter()
        if language_id._identifier() is None:
            warn(f"{self.name}: py3langid is missing (pip install py3langid), so only a script one language uses "
                 f"identifies a file's language; Latin, Cyrillic or Arabic text goes to {record['others']}")

    @property
    def truncated(self) -> int:  # the parts count their own truncated inputs
        return self.known.truncated + self.others.truncated

    @truncated.setter
    def truncated(self, value: int) -> None:
        pass

    def part_for(self, texts: Sequence[str]) -> str:
        """``"known"`` or ``"others"``: the part that encodes ``texts``, by their identified language."""
        return routed_part(language_id.identify_language(list(texts), min_letters=0), self.languages)

    def encode(self, texts: Sequence[str], batch_size: int = 64, dtype=np.float32, progress=None) -> np.ndarray:
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=dtype)
        part = self.part_for(texts)
        self.routed[part] += 1
        encoder = self.known if part == "known" else self.others
        return encoder.encode(texts, batch_size=batch_size, dtype=dtype, progress=progress)

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("a routed model encodes whole calls (encode), never a batch on its own")


__all__ = ["RoutedEncoder", "is_routed_dir", "refuse_routed", "read_routing", "part_name", "routing_rule",
           "routed_part", "describe_route",
           "ROUTED_ARCHITECTURE", "MIN_LINES", "PARTS"]
