"""Making a routed model (:mod:`mineshaft.encoders.routed`): two encoders of one space, one for some languages."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from .encoders.names import SHORT_NAMES, encoder_names, resolve_default, shipped_model
from .encoders.routed import PARTS, ROUTED_ARCHITECTURE, is_routed_dir, part_name, read_routing
from .errors import InputError, UsageError
from .outputs import LEFTOVERS, atomic_dir, ignoring
from .language_id import LANGUAGE_NAMES, identifier_languages
from .languages import encoder_languages
from .scripts import ALIASES, LANGUAGE_SCRIPTS, normalize_language


def check_part(option: str, name: str) -> str:
    """A part's encoder as a routed model names it, checked without loading it or asking the hub: a model folder,
    a shipped model or a short name (a routed model reads nothing else), never a routed model itself. Returns
    ``default`` resolved; a :class:`UsageError` (naming ``option``, ``--known`` or ``--others``) otherwise."""
    if Path(name).is_dir():
        if is_routed_dir(name):
            raise UsageError(f"{option} {name} is a routed model itself: give one of its parts")
        return name
    if Path(name).exists():
        raise UsageError(f"{option} {name} is a file, not a model folder")
    try:
        resolved = resolve_default(name)
    except InputError as exc:
        raise UsageError(f"{option} {name}: {exc}") from None
    found = shipped_model(resolved)
    if resolved not in SHORT_NAMES and found is None:
        choices = [n for n in encoder_names() if n != "default" and not is_routed_dir(shipped_model(n))]
        raise UsageError(f"{option} {name}: no such encoder (a part is a model folder, or one of: "
                         f"{', '.join(choices)})")
    if found is not None and is_routed_dir(found):
        raise UsageError(f"{option} {name} is a routed model itself ({resolved}): give one of its parts")
    return resolved


def known_language(code: str) -> bool:
    """Whether ``code`` (normalized) names a language the routing can identify: one of mineshaft's languages, or one
    py3langid reports."""
    if code in LANGUAGE_SCRIPTS or code in LANGUAGE_NAMES or code in ALIASES.values():
        return True
    return code in identifier_languages()


def check_languages(codes: Sequence[str]) -> list[str]:
    """``--languages`` codes normalized and checked (:func:`known_language`): an unknown code is a :class:`UsageError`."""
    languages = sorted({normalize_language(code) for code in codes if code.strip()})
    if not languages:
        raise UsageError("--languages: a routed model needs at least one language for its known part")
    unknown = [code for code in languages if not known_language(code)]
    if unknown:
        raise UsageError(f"--languages: {', '.join(unknown)} {'is not a language code' if len(unknown) == 1 else 'are not language codes'}"
                         " the routing can identify (ISO 639-1 such as de, or 639-3 such as deu)")
    return languages


def write_routed(out: str | Path, known: str, others: str, languages: Sequence[str] | None = None) -> dict:
    """Write the routed model folder ``out``: ``known`` encodes files in ``languages`` (default: the languages its
    ``languages.json`` records), ``others`` every other file. A part given as a folder is copied in (``known/``,
    ``others/``; its model files, not checkpoints or caches), so the model is self-contained; a short or shipped
    name stays a name. Both parts and the languages are checked before anything is loaded; then both parts are
    loaded once (from where they are) to check that they make vectors of one dimension. Errors name the parts as
    given. Returns the routing record."""
    from .encoders import load_encoder

    names = {part: check_part(f"--{part}", name) for part, name in zip(PARTS, (known, others))}
    if languages is None:
        record = encoder_languages(names["known"])
        if record is None:
            raise InputError(f"{known} records no languages (no languages.json): give the languages it encodes "
                             "with --languages")
        languages = sorted({normalize_language(code) for code in record["languages"] if code.strip()})
    else:
        languages = check_languages(languages)
    if not languages:
        raise InputError("a routed model needs at least one language for its known part")
    dims = {part: load_encoder(name, device="cpu").dim for part, name in names.items()}
    if dims["known"] != dims["others"]:
        raise InputError(f"--known {known} makes vectors of dimension {dims['known']} and --others {others} of "
                         f"{dims['others']}: a routed model's parts share one vector space")
    config: dict = {"architecture": ROUTED_ARCHITECTURE}
    said: dict[str, str] = {}  # how languages.json names each part: a copied folder by its place in the model
    with atomic_dir(out) as tmp:
        for part, name in names.items():
            if Path(name).is_dir():
                shutil.copytree(name, tmp / part, ignore=ignoring(LEFTOVERS))
                name, said[part] = part, f"the model in {part}/"
            else:
                said[part] = name
            config[part] = {"encoder": name}
        config["known"]["languages"] = languages
        (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        rest = encoder_languages(part_name(tmp, config["others"]["encoder"]))
        union = sorted(set(languages) | set(rest["languages"] if rest else ()))
        (tmp / "languages.json").write_text(json.dumps(
            {"languages": union,
             "source": f"{said['known']} for {', '.join(languages)}; {said['others']} for the others"},
            indent=1) + "\n")
        try:
            read_routing(tmp)
        except InputError as exc:  # the folder as written: named by where it goes, not where it is made
            raise InputError(str(exc).replace(str(tmp), str(out))) from None
    return read_routing(out)


__all__ = ["write_routed", "check_part", "check_languages", "known_language"]
