"""A model of two encoders that share one vector space: one for the languages it is best at, one for the rest.

A routed model folder holds a ``config.json`` like::

    {"architecture": "routed",
     "known": {"encoder": "mineshaft-use-soft", "languages": ["de", "en", "fr", ...]},
     "others": {"encoder": "student"}}

``known.encoder`` and ``others.encoder`` are encoder names (a short name, a shipped model) or folders relative to
the routed folder. Each call of :meth:`RoutedEncoder.encode` identifies the language of the texts it is given
(:func:`~mineshaft.language_id.identify_language`, on up to 200 lines: a file's, or a chunk of one) and encodes
them all with the ``known`` encoder when that language is one of ``known.languages``, else with the ``others``
encoder; one call is never split between the two, so one file's vectors come from one model. Texts whose language
is not identified go to ``others``. The ``others`` encoder must have been trained into the ``known`` one's space
(English, encoded by ``known``, is the other side of its pairs).

Pass texts of one language per call: a mixed list is encoded by the encoder of its majority language.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import warn
from .base import Encoder

ROUTED_ARCHITECTURE = "routed"
#: ``config.json`` keys of the two parts
PARTS = ("known", "others")


def is_routed_dir(name: str | Path) -> bool:
    """Whether ``name`` is a folder whose ``config.json`` declares a routed model."""
    cfg = Path(name) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("architecture") == ROUTED_ARCHITECTURE
    except (OSError, ValueError, AttributeError):
        return False


def read_routing(directory: str | Path) -> dict:
    """The routing record of a routed folder, checked: both parts and the known languages."""
    directory = Path(directory)
    try:
        cfg = json.loads((directory / "config.json").read_text())
        known, others = (cfg[p] for p in PARTS)
        languages = [str(code) for code in known["languages"]]
        names = [str(known["encoder"]), str(others["encoder"])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{directory}: not a valid routed model config.json ({type(exc).__name__}: {exc})") from None
    return {"languages": languages, "known": names[0], "others": names[1]}


def part_name(directory: str | Path, name: str) -> str:
    """A part's encoder name as ``load_encoder`` takes it: a folder inside the routed one, else the name itself."""
    inside = Path(directory) / name
    return str(inside) if inside.is_dir() else name


class RoutedEncoder(Encoder):
    """A routed model (see the module doc): each ``encode`` call goes whole to the part its language belongs to."""

    def __init__(self, directory: str | Path, load: Callable[[str], Encoder], name: str | None = None):
        directory = Path(directory)
        record = read_routing(directory)
        self.directory = directory
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
        from ..language_id import _identifier

        if _identifier() is None:
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
        from ..language_id import identify_language
        from ..scripts import normalize_language

        found = identify_language(list(texts))
        return "known" if found.language is not None and normalize_language(found.language) in self.languages \
            else "others"

    def encode(self, texts: Sequence[str], batch_size: int = 64, dtype=np.float32, progress=None) -> np.ndarray:
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=dtype)
        part = self.part_for(texts)
        self.routed[part] += 1
        encoder = self.known if part == "known" else self.others
        return encoder.encode(texts, batch_size=batch_size, dtype=dtype, progress=progress)

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, batch_size=max(len(texts), 1))


def write_routed(out: str | Path, known: str, others: str, languages: Sequence[str] | None = None) -> dict:
    """Write the routed model folder ``out``: ``known`` encodes files in ``languages`` (default: the languages its
    ``languages.json`` records), ``others`` every other file. A part given as a folder is copied in (``known/``,
    ``others/``), so the model is self-contained; a short or shipped name stays a name. Both parts are loaded
    once to check that they make vectors of one dimension. Returns the routing record."""
    import shutil

    from ..io import atomic_dir
    from ..languages import encoder_languages
    from .loading import load_encoder
    from .names import check_name, resolve_default

    if languages is None:
        record = encoder_languages(known)
        if record is None:
            raise InputError(f"{known} records no languages (no languages.json): give the languages it encodes")
        languages = record["languages"]
    languages = sorted({str(code).strip() for code in languages} - {""})
    if not languages:
        raise InputError("a routed model needs at least one language for its known part")
    config: dict = {"architecture": ROUTED_ARCHITECTURE}
    with atomic_dir(out) as tmp:
        for part, name in zip(PARTS, (known, others)):
            if Path(name).is_dir():
                shutil.copytree(name, tmp / part)
                name = part
            else:
                name = resolve_default(name)
                check_name(name)
            config[part] = {"encoder": name}
        config["known"]["languages"] = languages
        (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        parts = [encoder_languages(str(part_name(tmp, config[p]["encoder"]))) for p in PARTS]
        union = sorted(set(languages).union(*(r["languages"] for r in parts if r)))
        (tmp / "languages.json").write_text(json.dumps(
            {"languages": union, "source": f"{known} for {', '.join(languages)}; {others} for the others"},
            indent=1) + "\n")
        RoutedEncoder(tmp, lambda part: load_encoder(part, device="cpu"))  # both load, one dimension
    return read_routing(out)


__all__ = ["RoutedEncoder", "is_routed_dir", "read_routing", "part_name", "write_routed", "ROUTED_ARCHITECTURE"]
