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
    with pytest.raises(InputError, match="cannot load model"):
        load_encoder(str(tmp_path / "junk"))
