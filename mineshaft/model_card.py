"""Model cards in the Hugging Face style: a README.md whose YAML front matter holds the machine-readable facts.

The front matter (between ``---`` lines at the top) carries ``language``, ``license``, ``base_model``,
``datasets``, ``tags`` and the evaluation results as a ``model-index``. :func:`read_card` splits a card into
that metadata and its text; :func:`headline_figures` picks the figures ``mineshaft models`` shows from the
``model-index``; :func:`card_front_matter` renders the block for a card that code writes.

Headline figures, by convention: the *first* metric of the first result whose dataset ``type`` and
``config`` are those of :data:`HEADLINES` (Tatoeba xx→en, FLORES-200 xx→en, the BUCC-style mining task),
so a card lists its summary figure before its per-language ones. A metric name holding ``mean of N``
says over how many languages (or pairs) the figure is a mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

#: (key, dataset type, dataset config, column title) of the figures ``mineshaft models`` shows
HEADLINES = (
    ("tatoeba", "tatoeba", "xx-en", "Tatoeba xx→en"),
    ("flores", "flores200", "xx-en", "FLORES xx→en"),
    ("bucc", "bucc-style", "xx-en", "BUCC-style F1"),
)
#: the keys a shipped card's front matter must have
REQUIRED_KEYS = ("language", "license", "base_model", "datasets", "tags", "model-index")

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_MEAN_OF = re.compile(r"\bmean of (\d+)\b")


class CardError(ValueError):
    """A card's front matter is not valid YAML, or not a mapping."""


@dataclass
class Figure:
    """One headline figure: its value, how many languages (or pairs) it averages (None: unknown), its name."""

    value: float
    of: int | None = None
    name: str = ""

    def format(self) -> str:
        digits = 2 if round(self.value, 1) != self.value else 1
        return f"{self.value:.{digits}f}" + (f" ({self.of})" if self.of else "")


@dataclass
class CardMetric:
    """A metric of a ``model-index`` result: ``type`` (accuracy, f1, spearmanr...), value and a readable name."""

    type: str
    value: float
    name: str


@dataclass
class CardResult:
    """One ``model-index`` result: a task on one dataset (``config`` such as ``xx-en``) and its metrics."""

    dataset_type: str
    dataset_name: str
    metrics: list[CardMetric] = field(default_factory=list)
    config: str | None = None
    split: str | None = "test"
    task_type: str = "bitext-mining"
    task_name: str = "Bitext retrieval"

    def as_dict(self) -> dict:
        dataset = {"type": self.dataset_type, "name": self.dataset_name}
        if self.config:
            dataset["config"] = self.config
        if self.split:
            dataset["split"] = self.split
        return {"task": {"type": self.task_type, "name": self.task_name}, "dataset": dataset,
                "metrics": [{"type": m.type, "value": m.value, "name": m.name} for m in self.metrics]}


def split_front_matter(text: str) -> tuple[dict, str]:
    """``(metadata, body)`` of a card; ``({}, text)`` when it has no front matter. Raises :class:`CardError`
    when the front matter is not a YAML mapping."""
    match = _FRONT.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise CardError(f"front matter is not valid YAML ({' '.join(str(exc).split())})") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CardError("front matter is not a mapping")
    return meta, text[match.end():]


def read_card(path: str | Path) -> tuple[dict, str]:
    """``(metadata, body)`` of the card at ``path`` (see :func:`split_front_matter`)."""
    return split_front_matter(Path(path).read_text(encoding="utf-8"))


def card_languages(meta: dict) -> list[str] | None:
    """The card's ``language`` list (a single code as a one-item list), None where it has none."""
    lang = meta.get("language")
    if isinstance(lang, str):
        return [lang]
    if isinstance(lang, list) and lang:
        return [str(x) for x in lang]
    return None


def headline_figures(meta: dict) -> dict[str, Figure]:
    """``{key: Figure}`` for the :data:`HEADLINES` a card's ``model-index`` records (missing keys: not recorded)."""
    found: dict[str, Figure] = {}
    index = meta.get("model-index")
    if not isinstance(index, list):
        return found
    for model in index:
        for result in (model.get("results") or []) if isinstance(model, dict) else []:
            if not isinstance(result, dict):
                continue
            dataset = result.get("dataset") or {}
            metrics = result.get("metrics") or []
            for key, kind, config, _ in HEADLINES:
                if key in found or not isinstance(dataset, dict) or not metrics:
                    continue
                if dataset.get("type") == kind and str(dataset.get("config", "")) == config:
                    first = metrics[0]
                    try:
                        value = float(first["value"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    name = str(first.get("name", ""))
                    of = _MEAN_OF.search(name)
                    found[key] = Figure(value, int(of.group(1)) if of else None, name)
    return found


def card_front_matter(
    name: str,
    languages: Sequence[str],
    *,
    license: str = "apache-2.0",
    base_model: str | None = None,
    datasets: Iterable[str] = (),
    tags: Iterable[str] = ("mineshaft", "sentence-embeddings", "bitext-mining"),
    results: Iterable[CardResult] = (),
    library_name: str = "mineshaft",
    pipeline_tag: str = "sentence-similarity",
) -> str:
    """The YAML front matter of a model card, ``---`` lines included (put it first in README.md).

    ``results`` become the ``model-index``: list each dataset's summary metric (``"... mean of N languages"``)
    before its per-language ones, so :func:`headline_figures` picks it.
    """
    meta: dict = {"language": list(languages), "license": license, "library_name": library_name,
                  "pipeline_tag": pipeline_tag}
    if base_model:
        meta["base_model"] = base_model
    meta["datasets"] = list(datasets)
    meta["tags"] = list(tags)
    results = [r.as_dict() for r in results]
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
    body = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
    return f"---\n{body}---\n"


__all__ = ["CardError", "CardMetric", "CardResult", "Figure", "HEADLINES", "REQUIRED_KEYS", "card_front_matter",
           "card_languages", "headline_figures", "read_card", "split_front_matter"]
