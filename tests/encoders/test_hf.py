"""The Hugging Face encoder core against sentence-transformers on the offline all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest

from mineshaft.encoders import load_encoder, minilm_path
from mineshaft.encoders.hf import read_pooling
from mineshaft.errors import InputError

TEXTS = [
    "The cat sits on the mat.",
    "A man is playing a guitar on stage while the audience claps along.",
    "",
    "Das ist ein deutscher Satz.",
    "word " * 400,  # longer than the model's 256-token limit
]


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm", device="cpu", precision="fp32")


def test_pooling_read_from_sentence_transformers_files():
    mode, max_len = read_pooling(minilm_path())
    assert mode == "mean" and max_len == 256


def test_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(minilm_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    got = minilm.encode(TEXTS, batch_size=2)
    cos = np.einsum("ij,ij->i", got, ref)
    assert cos.min() > 0.9999, cos


def test_order_and_batching_do_not_change_outputs(minilm):
    a = minilm.encode(TEXTS, batch_size=1)
    b = minilm.encode(TEXTS[::-1], batch_size=5)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert minilm.encode([], batch_size=4).shape == (0, 384)


def test_bf16_inference_agrees_with_fp32(minilm):
    fast = load_encoder("minilm", device="cpu", precision="bf16")
    cos = np.einsum("ij,ij->i", fast.encode(TEXTS), minilm.encode(TEXTS))
    assert cos.min() > 0.999, cos


def test_fp16_output(minilm):
    x = minilm.encode(TEXTS[:2], dtype=np.float16)
    assert x.dtype == np.float16 and x.shape == (2, 384)


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        load_encoder(str(tmp_path / "nope") + "/")
    (tmp_path / "junk").mkdir()
    with pytest.raises(InputError, match="holds no model"):  # said before transformers is asked
        load_encoder(str(tmp_path / "junk"))
    (tmp_path / "junk" / "config.json").write_text("{}")
    with pytest.raises(InputError, match="cannot load model"):  # transformers' own first line
        load_encoder(str(tmp_path / "junk"))


def test_unknown_name_fails_at_once_in_one_line(tmp_path):
    """Not shipped, not a directory, not in the hub cache, and no hub that knows it: one line, no retries."""
    import time

    from conftest import run_cli

    (tmp_path / "a.txt").write_text("hello\n")
    t0 = time.time()
    res = run_cli("encode", str(tmp_path / "a.txt"), "-e", "mineshaft-tests/no-such-model", "-o", str(tmp_path / "a.npy"),
                  env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    err = res.stderr.decode()
    assert res.returncode == 2 and err.count("\n") == 1 and "Retry" not in err, err
    assert "not a shipped name, a local directory, or a reachable hub id" in err
    assert time.time() - t0 < 30  # was about 54 s of retries offline


@pytest.mark.slow
def test_hub_id_is_read_from_the_local_cache_first(tmp_path):
    """A hub id already in the cache loads offline, with its sentence-transformers files."""
    import json
    import shutil

    from transformers import BertConfig, BertModel, BertTokenizerFast

    from conftest import run_cli

    snap = tmp_path / "hub" / "models--someone--tiny" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    BertTokenizerFast(vocab_file=str(snap / "vocab.txt")).save_pretrained(snap)
    BertModel(BertConfig(vocab_size=7, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16)).save_pretrained(snap)
    (snap / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (snap / "1_Pooling").mkdir()
    (snap / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True,
                                                                "pooling_mode_mean_tokens": False}))
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("a" * 40)
    (tmp_path / "a.txt").write_text("hello world\n")
    res = run_cli("encode", str(tmp_path / "a.txt"), "-e", "someone/tiny", "-o", str(tmp_path / "a.npy"),
                  env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert res.returncode == 0, res.stderr.decode()
    assert np.load(tmp_path / "a.npy").shape == (1, 8)
    shutil.rmtree(tmp_path / "hub")


def test_a_gpu_index_the_machine_lacks_is_a_clear_error(monkeypatch):
    import torch

    from mineshaft.encoders.precision import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(InputError, match="cuda:0 to cuda:1"):
        pick_device("cuda:2")


def test_tokenizing_ahead_in_a_thread_gives_the_same_vectors(minilm, monkeypatch):
    texts = [f"Sentence number {i} " * (1 + i % 5) for i in range(20)]
    plain = minilm.encode(texts, batch_size=4)
    monkeypatch.setattr(type(minilm), "tokenize_ahead", property(lambda self: True))
    monkeypatch.setattr(type(minilm), "_prepare", lambda self, t: dict(self._tokenize(t)))  # no pinning on CPU
    np.testing.assert_array_equal(minilm.encode(texts, batch_size=4), plain)
