"""Learning new pieces for extend-vocab: a SentencePiece Unigram model trained on the words the old tokenizer cannot
represent (:func:`learn_pieces`), or on the words of new languages it cuts into many pieces (:func:`learn_word_pieces`)."""

from __future__ import annotations

import io
from collections.abc import Iterable

import sentencepiece as spm

#: new pieces learned by default (the trainer stops earlier when the text has fewer)
DEFAULT_NEW_PIECES = 16000
#: threads of SentencePiece's Unigram trainer, whatever the machine: another count learns other pieces
#: (measured on the 50 training files: 10,608 pieces with 1 thread, 10,623 with 2)
PIECE_THREADS = 2


def words(tok, text: str) -> list[str]:
    """Normalized, pre-tokenized words (``▁word``) as the tokenizer's model sees them."""
    norm = tok.normalizer.normalize_str(text) if tok.normalizer is not None else text
    return [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(norm)] if tok.pre_tokenizer is not None else [norm]


def _unigram(lines: list[str], vocab_size: int, threads: int | None, split_digits: bool):
    """A SentencePiece Unigram model (``SentencePieceProcessor``) learned from ``lines`` as given (identity
    normalization, every character covered, a soft vocabulary limit)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="unigram", vocab_size=max(vocab_size, 8),
        hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=True, split_digits=split_digits, byte_fallback=False,
        num_threads=max(1, threads or PIECE_THREADS), input_sentence_size=0, max_sentence_length=1 << 14,
        unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def learn_pieces(tok, texts: Iterable[str], known: set[str], vocab_size: int = DEFAULT_NEW_PIECES,
                 threads: int | None = None) -> list[tuple[str, float]]:
    """SentencePiece Unigram pieces (``▁`` form, with scores) learned from the words of ``texts`` that hold a
    character outside ``known``; only pieces holding such a character are returned (best first)."""
    lines, chars = [], set()
    for text in texts:
        new = [w for w in words(tok, text) if not set(w) <= known]
        if new:
            lines.append(" ".join(w.replace("▁", " ").strip() for w in new))
            for w in new:
                chars.update(set(w) - known)
    if not lines:
        return []
    sp = _unigram(lines, vocab_size, threads, split_digits=False)
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())
              if not (sp.is_unknown(i) or sp.is_control(i))]
    out = [(p, s) for p, s in pieces if not set(p) <= known]
    have = {p for p, _ in out}
    floor = min((s for _, s in out), default=-10.0)
    # every new character must be a piece of its own, or it can still end up unknown
    out += [(c, floor - 1.0) for c in sorted(chars) if c not in have]
    out.sort(key=lambda ps: -ps[1])
    return out


def learn_word_pieces(tok, new_texts: Iterable[str], known_texts: Iterable[str], old: set[str], count: int,
                      chars: set[str] | None = None, threads: int | None = None) -> list[tuple[str, float]]:
    """Up to ``count`` pieces (``▁`` form, with scores) for words of the new languages that the old tokenizer
    cuts into many pieces (Greek, Hebrew, Hungarian, Finnish... written in characters it knows): a Unigram
    model learned from ``new_texts``, keeping the pieces of at least two characters that are not in ``old``
    and **occur in no word of** ``known_texts`` (English and the languages the model knows), so that the
    segmentation of that text cannot change (a piece is only used where its string occurs), and, with
    ``chars``, only pieces made of those characters. Best first. Text other than ``known_texts`` keeps its
    segmentation only where none of its words holds a returned piece."""
    lines = [" ".join(w.replace("▁", " ").strip() for w in words(tok, t)) for t in new_texts]
    lines = [line for line in lines if line.strip()]
    if not lines or count <= 0:
        return []
    sp = _unigram(lines, 2 * count, threads, split_digits=True)
    cand = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())
            if not (sp.is_unknown(i) or sp.is_control(i))}
    cand = {p: sc for p, sc in cand.items()
            if p not in old and len(p.lstrip("▁")) >= 2 and (chars is None or set(p) <= chars)}
    longest = max((len(p) for p in cand), default=0)
    seen: set[str] = set()
    for text in known_texts:
        for w in words(tok, text):
            if w in seen:
                continue
            seen.add(w)
            for i in range(len(w)):  # every substring of the word that could be a candidate
                for j in range(i + 2, min(len(w), i + longest) + 1):
                    if w[i:j] in cand:
                        del cand[w[i:j]]
    return sorted(cand.items(), key=lambda ps: -ps[1])[:count]
