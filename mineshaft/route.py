"""Making a routed model (:mod:`mineshaft.encoders.routed`): two encoders of one space, one for some languages."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from .encoders import load_encoder
from .encoders.names import check_name, resolve_default
from .encoders.routed import PARTS, ROUTED_ARCHITECTURE, RoutedEncoder, part_name, read_routing
from .errors import InputError
from .io import LEFTOVERS, atomic_dir, ignoring
from .languages import encoder_languages
from .scripts import normalize_language


def write_routed(out: str | Path, known: str, others: str, languages: Sequence[str] | None = None) -> dict:
    """Write the routed model folder ``out``: ``known`` encodes files in ``languages`` (default: the languages its
    ``languages.json`` records), ``others`` every other file. A part given as a folder is copied in (``known/``,
    ``others/``; its model files, not checkpoints or caches), so the model is self-contained; a short or shipped
    name stays a name. Both parts are loaded once to check that they make vectors of one dimension. Returns
    the routing record."""
    if languages is None:
        record = encoder_languages(known)
        if record is None:
            raise InputError(f"{known} records no languages (no languages.json): give the languages it encodes")
        languages = record["languages"]
    languages = sorted({normalize_language(code) for code in languages if code.strip()})
    if not languages:
        raise InputError("a routed model needs at least one language for its known part")
    config: dict = {"architecture": ROUTED_ARCHITECTURE}
    said: dict[str, str] = {}  # how languages.json names each part: a copied folder by its place in the model
    with atomic_dir(out) as tmp:
        for part, name in zip(PARTS, (known, others)):
            if Path(name).is_dir():
                shutil.copytree(name, tmp / part, ignore=ignoring(LEFTOVERS))
                name, said[part] = part, f"the model in {part}/"
            else:
                name = said[part] = resolve_default(name)
                check_name(name)
            config[part] = {"encoder": name}
        config["known"]["languages"] = languages
        (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        rest = encoder_languages(part_name(tmp, config["others"]["encoder"]))
        union = sorted(set(languages) | set(rest["languages"] if rest else ()))
        (tmp / "languages.json").write_text(json.dumps(
            {"languages": union,
             "source": f"{said['known']} for {', '.join(languages)}; {said['others']} for the others"},
            indent=1) + "\n")
        RoutedEncoder(tmp, lambda part: load_encoder(part, device="cpu"))  # both load, one dimension
    return read_routing(out)


__all__ = ["write_routed"]
