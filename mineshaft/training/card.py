"""What a trained model folder says about itself: its model card (README.md, with Hugging Face YAML front matter)
and its language record (languages.json)."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..languages import pair_file_languages, read_languages, write_languages
from ..model_card import CardMetric, CardResult, card_front_matter
from ..progress import info
from .config import TrainConfig, to_args
from .data import PairSet


def record_languages(out: Path, cfg: TrainConfig) -> None:
    """``OUT/languages.json``: the student's languages plus those of the pair files (``en-de.tsv`` ...), so that
    ``encode`` and ``mine`` stop warning on them; nothing when either is unknown (no check, no false warning)."""
    names = [Path(p).name for p in cfg.pairs]
    added = pair_file_languages(names)
    files = ", ".join(names) if len(names) <= 8 else f"{len(names)} files ({names[0]} ... {names[-1]})"
    if write_languages(out, cfg.student, added, f"{cfg.student}'s languages + trained on {files}") is None:
        info(f"{out}: no {'language codes in the pair file names' if added is None else 'language record of the student'}"
             "; languages.json not written (inputs will not be checked)")


def write_model_card(out: Path, cfg: TrainConfig, train_set: PairSet, kept_step: int | None, kept_dev: dict | None,
                     steps: int, run: dict | None = None, final: bool = False) -> None:
    """A README.md next to the weights: recipe, data and dev results (held-out training pairs).

    ``run``: what the run actually used (resolved precision and device), as in ``train_config.json``; ``final``:
    the card of ``OUT/last``, the final step's model that ``--keep-last`` writes beside the kept one.
    """
    loss = cfg.loss + ("+TCM" if cfg.tcm else "")
    run = run or {"precision": cfg.precision, "device": cfg.device}
    lines = [
        f"# {out.parent.name}/{out.name}" if final else f"# {out.name}", "",
        f"Student `{cfg.student}` distilled from teacher `{cfg.teacher}` with mineshaft's `{loss}` loss "
        f"(τ={cfg.temperature}, labels={cfg.labels}, λ={cfg.cross_weight}).", "",
        "## Training recipe", "",
        f"- pairs: {len(train_set)} ({', '.join(train_set.langs)}), files: {', '.join(Path(p).name for p in cfg.pairs)}"
        + (f"; training-only: {', '.join(cfg.extra_pairs)}" if cfg.extra_pairs else ""),
        f"- batch {cfg.batch_size}, {steps} steps, AdamW lr {cfg.lr} (warmup {cfg.warmup}, linear decay), "
        f"weight decay {cfg.weight_decay}, grad clip {cfg.max_grad_norm}, seed {cfg.seed}, max length {cfg.max_length}",
        f"- embeddings frozen: {cfg.freeze_embeddings if cfg.freeze_embeddings is not None else 'auto'}"
        + ("; only the rows added by extend-vocab trained (no weight decay)" if cfg.train_new_rows_only else "")
        + (f", and copies of the {cfg.train_old_rows} old rows the new languages use most" if cfg.train_old_rows else "")
        + ("; the rest of the network frozen" if cfg.freeze_network else "")
        + (f"; token rows at lr {cfg.embedding_lr}" if cfg.embedding_lr else ""),
        f"- dev: {cfg.dev_size} English sentences per file held out by {cfg.dev_split}; language sampling "
        f"T={cfg.sampling_temperature}, {cfg.batch_languages}-language batches"
        + (f" of neighbour groups of {cfg.neighbour_groups}" if cfg.neighbour_groups else "")
        + (f"; {cfg.known_share} of the draws for the languages the student knew" if cfg.known_share is not None else ""),
        *([f"- anchored to `{cfg.anchor}` (weight {cfg.anchor_weight}): its vectors of the English side and of the "
           "other side in its languages"] if cfg.anchor else []),
        *([f"- {cfg.extra_share} of each language's draws from its training-only pairs"]
          if cfg.extra_share is not None else []),
        f"- trained in {run['precision']} on {run['device']}; weights saved as {cfg.save_dtype}; written to {out}",
        f"- model kept: step {kept_step} ("
        + ("the final step, beside the best dev accuracy's in the folder above" if final else
           "best dev accuracy" if cfg.select == "best" else "last step") + ")", "",
        f"## Dev at step {kept_step} (held-out training pairs, top-1 retrieval)", "",
    ]
    if kept_dev:
        lines += ["| pairs | xx→en | en→xx |", "|---|---|---|"]
        lines += [f"| {k} | {100 * v['xx2en']:.1f} | {100 * v['en2xx']:.1f} |" for k, v in kept_dev.items() if isinstance(v, dict)]
    lines += ["", f"Reproduce (or `mineshaft train --config train_config.json --out NEW`): `{recipe_command(cfg)}`", ""]
    card = out / "README.md"
    if not card.exists() or "<!-- generated -->" in card.read_text():
        card.write_text(front_matter(out, cfg, kept_dev) + "<!-- generated -->\n" + "\n".join(lines))


def front_matter(out: Path, cfg: TrainConfig, kept_dev: dict | None) -> str:
    """The card's Hugging Face YAML front matter (:func:`mineshaft.model_card.card_front_matter`): the languages
    of ``OUT/languages.json`` (:func:`record_languages` writes it first; none when it was not written), the
    student it started from, and the kept model's dev accuracy (held-out training pairs) as its ``model-index``."""
    record = read_languages(out)
    results = []
    if kept_dev:
        langs = [(k, v) for k, v in kept_dev.items() if isinstance(v, dict)]
        for key, side in (("xx2en", "xx→en"), ("en2xx", "en→xx")):
            metrics = [CardMetric("accuracy", round(100 * kept_dev[f"mean_{key}"], 1),
                                  f"top-1 accuracy {side}, mean of {len(langs)} languages")]
            metrics += [CardMetric("accuracy", round(100 * v[key], 1), f"top-1 accuracy {k} {side}") for k, v in langs]
            results.append(CardResult("mineshaft-dev", "held-out training pairs", metrics, config=key.replace("2", "-"),
                                      split="dev"))
    return card_front_matter(out.name, record["languages"] if record else [], base_model=cfg.student,
                             tags=("mineshaft", "sentence-embeddings", "bitext-mining", f"loss-{cfg.loss}"),
                             results=results)


def recipe_command(cfg: TrainConfig) -> str:
    """``mineshaft train ...`` that reruns ``cfg``'s recipe (generated from the options, so none is left out)."""
    return "mineshaft train " + " ".join(shlex.quote(a) for a in to_args(cfg)) + f" --out {shlex.quote(Path(cfg.out).name)}"
